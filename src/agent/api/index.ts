/**
 * Wires the agent API (server.ts) to the running agent: where it listens (this node's address on
 * agent.api.network and 127.0.0.1, metrics on agent.api.metrics_listen), the token from
 * agent.api.token_file, and what it serves (node-view.ts). A start that cannot listen or read a
 * usable token refuses the agent's start with a ConfigError naming the field; a reload (SIGHUP)
 * re-reads the token and moves the listeners when the section changed, keeping the last good
 * token when the file went bad.
 */
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AgentApiSpec, NodeSpec, Spec } from '../../spec/schema.js';
import { formatNodePrometheus } from '../../status/format.js';
import type { AgentFacts } from './facts.js';
import { agentNodeStatus } from './node-view.js';
import { startAgentApi, type AgentApi, type AgentApiOptions, type ListenAddress } from './server.js';
import { readTokenFile, TokenFileProblem } from './token.js';

export interface ApiContext {
  current(): { spec: Spec; node: NodeSpec };
  facts: AgentFacts;
  log: Logger;
  switchover?: AgentApiOptions['switchover'];
}

export interface RunningApi {
  /** Re-reads the token; restarts the listeners when agent.api changed; undefined once it is gone. */
  reload(): Promise<RunningApi | undefined>;
  stop(): Promise<void>;
  addresses: AgentApi['addresses'];
}

/** The budget of a scrape of GET /metrics. */
const METRICS_BUDGET_MS = 2_000;

export function apiListeners(api: AgentApiSpec, node: NodeSpec): ListenAddress[] {
  const address = node.networks[api.network]?.address;
  const hosts = [...new Set([address, '127.0.0.1'].filter((h): h is string => h !== undefined))];
  return hosts.map((host) => ({ host, port: api.port }));
}

export function metricsListener(api: AgentApiSpec): ListenAddress {
  const at = api.metrics_listen.lastIndexOf(':');
  return { host: api.metrics_listen.slice(0, at), port: Number(api.metrics_listen.slice(at + 1)) };
}

async function token(api: AgentApiSpec): Promise<string> {
  try {
    return await readTokenFile(api.token_file, AbortSignal.timeout(2_000));
  } catch (error) {
    if (error instanceof TokenFileProblem) throw new ConfigError(`${error.message}; the agent API needs it`);
    throw error;
  }
}

export async function startAgentApiFor(context: ApiContext): Promise<RunningApi | undefined> {
  const { spec, node } = context.current();
  const api = spec.agent.api;
  if (!api) return undefined;
  const listeners = apiListeners(api, node);
  const metrics = metricsListener(api);
  let server: AgentApi;
  try {
    server = await startAgentApi({
      api: listeners,
      metrics,
      token: await token(api),
      node: (budgetMs) => {
        const { spec: s, node: n } = context.current();
        return agentNodeStatus(s, n, context.facts, budgetMs);
      },
      metricsText: async () => {
        const { spec: s, node: n } = context.current();
        return formatNodePrometheus(s.cluster, await agentNodeStatus(s, n, context.facts, METRICS_BUDGET_MS));
      },
      log: context.log,
      ...(context.switchover ? { switchover: context.switchover } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const at = [...listeners, metrics].map((l) => `${l.host}:${l.port}`).join(', ');
    throw new ConfigError(
      `agent.api: cannot listen on ${at} (${code}); ${code === 'EADDRINUSE' ? 'another process holds the port: pick another agent.api.port or agent.api.metrics_listen' : code === 'EADDRNOTAVAIL' ? `this node has no such address: check nodes[].networks.${api.network}.address` : 'check agent.api.port and agent.api.metrics_listen'}`,
    );
  }
  const shape = JSON.stringify(api);
  const running: RunningApi = {
    addresses: () => server.addresses(),
    stop: () => server.stop(),
    async reload() {
      const next = context.current().spec.agent.api;
      if (!next || JSON.stringify(next) !== shape) {
        await server.stop();
        return startAgentApiFor(context);
      }
      try {
        server.setToken(await token(next));
        context.log.info({ event: 'agent.api_token', file: next.token_file, result: 'reloaded' });
      } catch (error) {
        context.log.error({
          event: 'agent.api_token',
          file: next.token_file,
          result: 'kept the previous token',
          reason: error instanceof Error ? error.message : String(error),
        });
      }
      return running;
    },
  };
  return running;
}
