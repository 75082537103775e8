/**
 * HTTP(S) check on node:net / node:tls only: undici's first request costs 100–180 ms per process
 * (DESIGN.md), too much for a check keepalived spawns every second. TLS is loaded only for https
 * URLs. Redirects are never followed; the body is read only when --expect-body asks for it, and
 * then at most MAX_BODY_BYTES.
 */
import type { Socket } from 'node:net';
import { UsageError } from '../errors.js';
import {
  abortReason,
  bodyMatches,
  booleanFlag,
  describePattern,
  describeStatuses,
  elapsedSince,
  parseBodyPattern,
  parseStatusList,
  requiredString,
  statusAccepted,
  stringFlag,
  type BodyPattern,
  type StatusSet,
} from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpOptions {
  url: URL;
  expectStatus: StatusSet;
  expectBody: BodyPattern | undefined;
  hostHeader: string | undefined;
  method: 'GET' | 'HEAD';
  insecure: boolean;
}

const USAGE = `hactl check http --url URL [options]

Sends one request and is healthy when the status is expected and (optionally) the body matches.
Redirects are not followed: a 3xx is unhealthy unless --expect-status lists it. Without
--expect-body the body is never read; with it, at most the first ${MAX_BODY_BYTES / 1024} KiB are searched.

Options:
  --url URL              http:// or https:// URL to request (required)
  --expect-status LIST   accepted statuses: codes and ranges, e.g. 200,204 or 200-299,301-302
                         (default 200)
  --expect-body TEXT     the body must contain TEXT; /regex/flags for a regular expression
  --host-header NAME     Host header (and TLS server name) to send, e.g. for a name-based vhost
  --method GET|HEAD      request method (default GET; HEAD cannot use --expect-body)
  --insecure             accept self-signed or otherwise unverifiable TLS certificates
  --timeout SECONDS      total budget, decimal (default 0.8); keep it below vrrp_script timeout
  --quiet                print nothing when healthy
  --log-file PATH        also append one JSON line per run to PATH

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage error.

Example keepalived.conf block:
  vrrp_script chk_nginx {
      script "/usr/local/bin/hactl check http --url http://127.0.0.1/health --expect-body ok --timeout 1.7 --quiet"
      interval 2
      timeout 2
      fall 2
      rise 2
      weight 0
  }`;

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(text)} is not a URL`, 'e.g. --url http://127.0.0.1/health');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url ${JSON.stringify(text)}: only http:// and https:// are supported`);
  }
  return url;
}

function fromFlags(values: FlagValues): HttpOptions {
  const method = (stringFlag(values, 'method', 'http') ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    throw new UsageError(`--method ${JSON.stringify(method)}: only GET and HEAD are supported`);
  }
  const expectBodyText = stringFlag(values, 'expect-body', 'http');
  if (expectBodyText !== undefined && method === 'HEAD') {
    throw new UsageError('--expect-body needs a body: use --method GET (the default)');
  }
  return {
    url: parseUrl(requiredString(values, 'url', 'http')),
    expectStatus: parseStatusList(stringFlag(values, 'expect-status', 'http') ?? '200'),
    expectBody: expectBodyText === undefined ? undefined : parseBodyPattern(expectBodyText),
    hostHeader: stringFlag(values, 'host-header', 'http'),
    method,
    insecure: booleanFlag(values, 'insecure'),
  };
}

const IP_LITERAL = /^(\d+\.){3}\d+$|:/;
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * One HTTP/1.0 request over node:net (node:tls for https). HTTP/1.0 means no chunked encoding and
 * the server closes the connection, so status, headers and body are read straight off the socket;
 * HAProxy's httpchk does the same. node:http costs ~3.5 ms more per spawned process (bench/checks.mjs).
 */
async function connect(options: HttpOptions): Promise<Socket> {
  const { url } = options;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'https:') {
    const tls = await import('node:tls');
    const servername = (options.hostHeader ?? url.hostname).replace(/:\d+$/, '');
    return tls.connect({
      host,
      port: Number(url.port) || 443,
      rejectUnauthorized: !options.insecure,
      ...(IP_LITERAL.test(servername) ? {} : { servername }),
    });
  }
  const net = await import('node:net');
  return net.connect({ host, port: Number(url.port) || 80 });
}

function requestText(options: HttpOptions): string {
  const { url } = options;
  return (
    `${options.method} ${url.pathname}${url.search} HTTP/1.0\r\n` +
    `Host: ${options.hostHeader ?? url.host}\r\n` +
    'User-Agent: hactl-check\r\nAccept: */*\r\nConnection: close\r\n\r\n'
  );
}

function describeError(error: NodeJS.ErrnoException, options: HttpOptions): string {
  const target = options.url.host;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${target}`;
    case 'ECONNRESET':
      return `connection reset by ${target}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${options.url.hostname}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${target} is unreachable`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate of ${target} not accepted (${error.code}: ${error.message}); --insecure accepts it`;
    default:
      return `request to ${options.url.href} failed: ${error.code ?? ''} ${error.message}`.replace(
        /\s+/g,
        ' ',
      );
  }
}

interface Head {
  status: number;
  location: string | undefined;
}

function parseHead(text: string): Head | undefined {
  const match = /^HTTP\/\d\.\d (\d{3})/.exec(text);
  if (!match) return undefined;
  const location = /\r\nlocation:[ \t]*([^\r\n]*)/i.exec(text)?.[1];
  return { status: Number(match[1]), location };
}

async function run(options: HttpOptions, signal: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  const socket = await connect(options);
  const target = options.url.href;
  return new Promise<CheckResult>((resolve) => {
    let head: Head | undefined;
    let received: Buffer = Buffer.alloc(0);
    let bodyStart = 0;
    let settled = false;
    const settle = (healthy: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ healthy, detail });
    };
    const onAbort = () => settle(false, `no complete answer from ${target}: ${abortReason(signal)}`);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const body = () => received.subarray(bodyStart, bodyStart + MAX_BODY_BYTES).toString('utf8');
    const judgeBody = (complete: boolean) => {
      const pattern = options.expectBody!;
      const size = received.length - bodyStart;
      const capped = size >= MAX_BODY_BYTES;
      if (!complete && !capped) {
        if (pattern.kind === 'substring' && body().includes(pattern.text)) {
          settle(true, `HTTP ${head!.status}, body contains ${describePattern(pattern)}`);
        }
        return;
      }
      const found = bodyMatches(body(), pattern);
      settle(
        found,
        capped
          ? `HTTP ${head!.status}, ${describePattern(pattern)} ${found ? 'found' : 'not found'} in the first ${MAX_BODY_BYTES} bytes of the body`
          : `HTTP ${head!.status}, body (${size} bytes) ${found ? 'matches' : 'does not match'} ${describePattern(pattern)}`,
      );
    };
    const judgeHead = (text: string) => {
      head = parseHead(text);
      if (!head) return settle(false, `${target} did not answer with HTTP`);
      if (!statusAccepted(head.status, options.expectStatus)) {
        const location = head.location ? ` (redirect to ${head.location}, not followed)` : '';
        return settle(
          false,
          `HTTP ${head.status} from ${target}${location}; expected ${describeStatuses(options.expectStatus)}`,
        );
      }
      if (!options.expectBody)
        return settle(true, `HTTP ${head.status} from ${target} in ${elapsedSince(start)}`);
      judgeBody(false);
    };

    // Queued until the connection (and TLS handshake) is up.
    socket.write(requestText(options));
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (head) return judgeBody(false);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_HEADER_BYTES)
          settle(false, `${target} sent more than ${MAX_HEADER_BYTES} bytes of headers`);
        return;
      }
      bodyStart = end + 4;
      judgeHead(received.subarray(0, end).toString('latin1'));
    });
    socket.on('end', () => {
      if (head && options.expectBody) judgeBody(true);
      else settle(false, `${target} closed the connection without a complete answer`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(false, describeError(error, options)));
  });
}

export const httpCheck: CheckKind<HttpOptions> = {
  kind: 'http',
  summary: 'HTTP(S) request: expected status (and body), redirects not followed',
  usage: USAGE,
  flags: {
    url: { type: 'string' },
    'expect-status': { type: 'string' },
    'expect-body': { type: 'string' },
    'host-header': { type: 'string' },
    method: { type: 'string' },
    insecure: { type: 'boolean' },
  },
  fromFlags,
  run,
};
