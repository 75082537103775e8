/**
 * The agent's HTTP API (agent.api): GET /v1/node for holders of the shared token, on this node's
 * address on agent.api.network and on 127.0.0.1; and GET /metrics without a token on
 * agent.api.metrics_listen (loopback by default); GET and POST /v1/switchover for a planned
 * switchover (its only request body, size-capped). Small on purpose:
 * tight header/request timeouts, a few requests at a time; a request without the right token gets
 * a bare 401 and nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeStatus } from '../../status/types.js';
import { bearerMatches } from './token.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AgentApiLog {
  info(fields: Record<string, unknown>, message?: string): void;
  warn(fields: Record<string, unknown>, message?: string): void;
}

export interface AgentApiOptions {
  /** Where GET /v1/node is served (token required). */
  api: ListenAddress[];
  /** Where GET /metrics is served (no token); undefined: nowhere. */
  metrics: ListenAddress | undefined;
  token: string;
  /** This node's facts within `budgetMs`. */
  node(budgetMs: number): Promise<NodeStatus>;
  /** The Prometheus text of this node. */
  metricsText(): Promise<string>;
  log: AgentApiLog;
  /** GET and POST /v1/switchover (src/switchover/driver.ts); absent: 404. */
  switchover?: {
    status(): { status: number; body: unknown };
    request(body: unknown): Promise<{ status: number; body: unknown }>;
  };
}

export interface AgentApi {
  /** host:port of every listener, API first (the real ports when 0 was asked for). */
  addresses(): { api: string[]; metrics: string | undefined };
  setToken(token: string): void;
  stop(): Promise<void>;
}

/** Bounds of one request: headers and the whole request within 2 s, a few at a time. */
export const REQUEST_TIMEOUT_MS = 2_000;
const MAX_IN_FLIGHT = 4;
/** Default and bounds of the collection budget a caller may ask for (?budget_ms=). */
const DEFAULT_BUDGET_MS = 2_000;
const MIN_BUDGET_MS = 100;
const MAX_BUDGET_MS = 10_000;
/** A switchover request is a handful of fields. */
const MAX_BODY_BYTES = 4096;

/** The JSON body of a POST, size-capped; undefined when it is not JSON or too large. */
function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
  });
  res.end(body);
}

function budgetOf(url: URL): number {
  const asked = Number(url.searchParams.get('budget_ms') ?? DEFAULT_BUDGET_MS);
  if (!Number.isFinite(asked)) return DEFAULT_BUDGET_MS;
  return Math.min(MAX_BUDGET_MS, Math.max(MIN_BUDGET_MS, Math.round(asked)));
}

function bounded(server: Server): Server {
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 1_000;
  server.maxHeadersCount = 32;
  server.maxRequestsPerSocket = 8;
  return server;
}

function listen(server: Server, at: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({ host: at.host, port: at.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function where(server: Server): string {
  const address = server.address() as AddressInfo | null;
  return address ? `${address.address}:${address.port}` : 'closed';
}

export async function startAgentApi(options: AgentApiOptions): Promise<AgentApi> {
  let token = options.token;
  let inFlight = 0;
  const { log } = options;

  const limited = async (res: ServerResponse, work: () => Promise<void>): Promise<void> => {
    if (inFlight >= MAX_IN_FLIGHT) {
      send(res, 503, 'busy\n');
      return;
    }
    inFlight++;
    try {
      await work();
    } catch (error) {
      log.warn({ event: 'agent.api_error', reason: error instanceof Error ? error.message : String(error) });
      if (!res.headersSent) send(res, 500, 'internal error\n');
    } finally {
      inFlight--;
    }
  };

  const apiHandler = (req: IncomingMessage, res: ServerResponse) => {
    // The token first: whoever lacks it learns nothing, not even which paths or methods exist.
    if (!bearerMatches(req.headers.authorization, token)) {
      send(res, 401, '');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://agent');
    const switchover = options.switchover;
    if (url.pathname === '/v1/switchover' && switchover) {
      if (req.method !== 'GET' && req.method !== 'POST') {
        res.setHeader('allow', 'GET, POST');
        send(res, 405, 'GET or POST\n');
        return;
      }
      void limited(res, async () => {
        const answer =
          req.method === 'POST' ? await switchover.request(await readJsonBody(req)) : switchover.status();
        send(res, answer.status, JSON.stringify(answer.body) + '\n', 'application/json');
      });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      send(res, 405, 'GET only\n');
      return;
    }
    if (url.pathname !== '/v1/node') {
      send(res, 404, 'GET /v1/node\n');
      return;
    }
    void limited(res, async () => {
      const status = await options.node(budgetOf(url));
      send(res, 200, JSON.stringify(status) + '\n', 'application/json');
    });
  };

  const metricsHandler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      send(res, 405, 'GET only\n');
      return;
    }
    if (new URL(req.url ?? '/', 'http://agent').pathname !== '/metrics') {
      send(res, 404, 'GET /metrics\n');
      return;
    }
    void limited(res, async () => {
      send(res, 200, await options.metricsText(), 'text/plain; version=0.0.4; charset=utf-8');
    });
  };

  const apiServers: Server[] = [];
  let metricsServer: Server | undefined;
  try {
    for (const at of options.api) {
      const server = bounded(createServer({ maxHeaderSize: 8192 }, apiHandler));
      await listen(server, at);
      apiServers.push(server);
    }
    if (options.metrics) {
      metricsServer = bounded(createServer({ maxHeaderSize: 8192 }, metricsHandler));
      await listen(metricsServer, options.metrics);
    }
  } catch (error) {
    await Promise.all([...apiServers, ...(metricsServer ? [metricsServer] : [])].map(close));
    throw error;
  }
  const addresses = () => ({
    api: apiServers.map(where),
    metrics: metricsServer ? where(metricsServer) : undefined,
  });
  log.info({ event: 'agent.api_listening', ...addresses() });
  return {
    addresses,
    setToken(next: string) {
      token = next;
    },
    async stop() {
      await Promise.all([...apiServers, ...(metricsServer ? [metricsServer] : [])].map(close));
    },
  };
}
