/**
 * `hactl status` = observe + decide, never act. The local node is observed through the decision
 * core (src/cluster/: the same observe() and decide() notify runs, with no intent and nothing
 * applied); the peer, without an agent, through direct bounded probes of its MySQL. Every part runs
 * in parallel under one deadline, and whatever has not answered by then is reported as unknown.
 * collectLocalStatus() is what the agent will serve for its own node: plain data, no CLI.
 */
import { actionLabel } from '../actions/index.js';
import { dbAddress } from '../actions/addresses.js';
import { raceDeadline } from '../bounded/deadline.js';
import { decide, promotionOf, type Plan } from '../cluster/decide.js';
import type { Observation } from '../cluster/observation.js';
import {
  localSources,
  newTransitionId,
  observe,
  type ObservationSources,
  type ObserveBudgets,
} from '../cluster/observe.js';
import { vipHolding } from '../cluster/vips.js';
import type { Credentials } from '../mysql/connection.js';
import { vipAddress, type NodeSpec, type Spec } from '../spec/schema.js';
import { readTokenFile } from '../agent/api/token.js';
import { askAgent, type AgentAnswer } from './agent-client.js';
import { probeDatabase, probeServerId, readCredentials, type Where } from './probe.js';
import { readAgentView } from './agent-view.js';
import type {
  AgentStatus,
  DatabaseStatus,
  NodeStatus,
  PairStatus,
  PromotionStatus,
  VipStatus,
} from './types.js';
import { judgePair } from './verdict.js';

/** Where each node's replicas reach its database (a node without that network is left out). */
function replicationAddresses(spec: Spec): Record<string, string> {
  if (!spec.mysql) return {};
  return Object.fromEntries(
    spec.nodes.flatMap((node) => {
      try {
        const { host, port } = dbAddress(spec, node);
        return [[node.name, `${host}:${port}`]];
      } catch {
        return [];
      }
    }),
  );
}

/** The lag a standby may have and still count as healthy when no replication check sets max_lag. */
export const DEFAULT_MAX_LAG_SECONDS = 30;

/** The smallest max_lag of the spec's replication checks: the pair's own idea of "caught up enough". */
export function maxLagOf(spec: Spec): number {
  const bounds = spec.checks.flatMap((check) =>
    check.kind === 'replication' && typeof check.params?.max_lag === 'number' ? [check.params.max_lag] : [],
  );
  return bounds.length > 0 ? Math.min(...bounds) : DEFAULT_MAX_LAG_SECONDS;
}

/** Where each fact comes from; tests substitute their own (no network, no files). */
export interface StatusSources {
  observation: ObservationSources;
  accounts(spec: Spec, signal: AbortSignal): Promise<{ accounts: Credentials[]; problem?: string }>;
  database(
    accounts: readonly Credentials[],
    where: Where,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<DatabaseStatus>;
  serverId(
    accounts: readonly Credentials[],
    where: Where,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<{ ok: true; serverId: number } | { ok: false; problem: string }>;
}

/** The admin account first; the replication account where the admin one is not let in (a peer). */
async function specAccounts(
  spec: Spec,
  signal: AbortSignal,
): Promise<{ accounts: Credentials[]; problem?: string }> {
  const mysql = spec.mysql;
  if (!mysql) return { accounts: [], problem: 'the spec has no mysql section' };
  const files: [string, string][] = [[mysql.credentials_file, 'mysql.credentials_file']];
  if (mysql.replication_credentials_file)
    files.push([mysql.replication_credentials_file, 'mysql.replication_credentials_file']);
  const read = await Promise.all(files.map(([file, field]) => readCredentials(file, field, signal)));
  const accounts = read.flatMap((r) => (r.ok ? [r.credentials] : []));
  const problems = read.flatMap((r) => (r.ok ? [] : [r.problem]));
  return problems.length > 0 ? { accounts, problem: problems.join('; ') } : { accounts };
}

export const probeSources: StatusSources = {
  observation: localSources,
  accounts: specAccounts,
  database: probeDatabase,
  serverId: probeServerId,
};

export interface CollectOptions {
  /** The whole collection's budget; every probe is bounded inside it. */
  timeoutMs: number;
  sources?: StatusSources;
}

function observeBudgets(timeoutMs: number): ObserveBudgets {
  const share = (f: number) => Math.max(100, Math.floor(timeoutMs * f));
  return { appliedStateMs: share(0.4), lineageMs: share(0.5), databaseMs: share(0.85), leaseMs: share(0.4) };
}

function localWhere(spec: Spec): Where | undefined {
  const mysql = spec.mysql;
  if (!mysql) return undefined;
  return mysql.socket ? { socket: mysql.socket } : { host: mysql.host, port: mysql.port };
}

function promotionStatus(plan: Plan, hypothetical: boolean): PromotionStatus | null {
  const guard = promotionOf(plan);
  if (!guard) return null;
  const v = guard.verdict;
  return v.allow
    ? { allowed: true, reason: v.reason, problems: [], way_out: null, hypothetical }
    : { allowed: false, reason: v.reason, problems: v.problems, way_out: v.wayOut, hypothetical };
}

/**
 * The promotion guard's verdict for this node: for the decision it would take now when it holds
 * every VIP (forced, so "already applied" does not hide it), else for "if it took them now".
 */
function promotionFor(observation: Observation, spec: Spec): PromotionStatus | null {
  const { held, missing } = observation.vips;
  if (held.length > 0 && missing.length === 0)
    return promotionStatus(decide(observation, spec, { force: true }), false);
  const whatIf: Observation = {
    ...observation,
    vips: { held: [...held, ...missing], missing: [] },
    keepalived: undefined,
    lastApplied: undefined,
  };
  return promotionStatus(decide(whatIf, spec, {}), true);
}

function lineageOf(observation: Observation): NodeStatus['lineage'] {
  const read = observation.lineage;
  if (read === undefined) return null;
  if (read.kind === 'none') return { none: true };
  if (read.kind === 'unreadable') return { unreadable: read.problem };
  const l = read.lineage;
  return {
    primary: l.primary,
    primary_position: l.primaryPosition,
    following: l.following,
    diverged: l.diverged,
    at: l.at,
  };
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs `work` until `deadlineMs` (performance.now() clock); then the fallback, the work abandoned. */
function until<T>(
  deadlineMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  fallback: (why: string) => T,
): Promise<T> {
  return raceDeadline((signal) => work(signal).catch((error: unknown) => fallback(messageOf(error))), {
    deadlineMs,
    graceMs: 50,
    reason: () => new Error('no answer within the status budget'),
    onTimeout: (why) => fallback(messageOf(why)),
  });
}

/**
 * This node as the decision core sees it, plus its database as a probe reads it. The object the
 * agent will serve for its own node.
 */
export async function collectLocalStatus(
  spec: Spec,
  node: NodeSpec,
  options: CollectOptions,
): Promise<NodeStatus> {
  const sources = options.sources ?? probeSources;
  const deadline = performance.now() + options.timeoutMs;
  const where = localWhere(spec);
  const [observation, database, agent] = await Promise.all([
    until<Observation | string>(
      deadline,
      () =>
        observe(
          spec,
          node,
          {
            transitionId: newTransitionId(node.name),
            intent: {},
            promotionFacts: spec.mysql ? 'always' : 'when-needed',
          },
          sources.observation,
          observeBudgets(options.timeoutMs),
        ),
      (why) => `this node could not be observed: ${why}`,
    ),
    where
      ? until<DatabaseStatus>(
          deadline,
          async (signal) => {
            const { accounts, problem } = await sources.accounts(spec, signal);
            if (accounts.length === 0)
              return { reachable: false, address: describe(where), problem: problem ?? 'no account' };
            return sources.database(
              accounts,
              where,
              Math.max(100, deadline - performance.now() - 100),
              signal,
            );
          },
          (why) => ({ reachable: false, address: describe(where), problem: why }),
        )
      : Promise.resolve(null),
    until<AgentStatus | null>(
      deadline,
      (signal) => readAgentView(spec, node, signal),
      (why) => (spec.agent.enabled ? { alive: null, detail: why, checks: [], failback_gate: null } : null),
    ),
  ]);
  if (typeof observation === 'string') {
    return {
      name: node.name,
      self: true,
      source: 'local',
      vips_held: null,
      database,
      decision: { state: null, reason: observation, actions: [] },
      promotion: null,
      last_applied: null,
      lineage: null,
      agent,
    };
  }
  const plan = decide(observation, spec, {});
  const last = observation.lastApplied;
  return {
    name: node.name,
    self: true,
    source: 'local',
    vips_held: [...observation.vips.held],
    database,
    decision: { state: plan.target ?? null, reason: plan.reason, actions: plan.actions.map(actionLabel) },
    promotion: promotionFor(observation, spec),
    last_applied: last
      ? {
          state: last.state,
          ok: last.ok,
          at: last.at,
          event: last.event,
          transition_id: last.transitionId ?? null,
        }
      : null,
    lineage: lineageOf(observation),
    agent,
  };
}

function describe(where: Where): string {
  return 'socket' in where ? where.socket : `${where.host}:${where.port}`;
}

/** A peer without an agent: its database, probed directly; its VIPs cannot be seen. */
async function collectPeerStatus(
  spec: Spec,
  peer: NodeSpec,
  accounts: Promise<{ accounts: Credentials[]; problem?: string }>,
  sources: StatusSources,
  deadline: number,
): Promise<NodeStatus> {
  let database: DatabaseStatus | null = null;
  if (spec.mysql) {
    const { host, port } = dbAddress(spec, peer);
    database = await until<DatabaseStatus>(
      deadline,
      async (signal) => {
        const found = await accounts;
        if (found.accounts.length === 0)
          return { reachable: false, address: `${host}:${port}`, problem: found.problem ?? 'no account' };
        return sources.database(
          found.accounts,
          { host, port },
          Math.max(100, deadline - performance.now() - 100),
          signal,
        );
      },
      (why) => ({ reachable: false, address: `${host}:${port}`, problem: why }),
    );
  }
  return {
    name: peer.name,
    self: false,
    source: 'probe',
    vips_held: null,
    database,
    decision: null,
    promotion: null,
    last_applied: null,
    lineage: null,
    agent: null,
  };
}

/** Who holds each VIP: this node's interfaces for its own, else which server answers MySQL there. */
async function collectVips(
  spec: Spec,
  self: NodeSpec,
  nodes: Promise<NodeStatus[]>,
  accounts: Promise<{ accounts: Credentials[]; problem?: string }>,
  sources: StatusSources,
  deadline: number,
): Promise<VipStatus[]> {
  const held = new Set(vipHolding(spec, sources.observation.addresses()).held);
  return Promise.all(
    spec.vips.map(async (vip): Promise<VipStatus> => {
      const address = vipAddress(vip);
      const base = { name: vip.name, address };
      if (held.has(address))
        return { ...base, held_by: [self.name], source: 'local', detail: `on ${self.name}'s interfaces` };
      if (!spec.mysql)
        return {
          ...base,
          held_by: [],
          source: 'unknown',
          detail: "not on this node; the peer's VIPs are unknown (no agent)",
        };
      const port = spec.mysql.port;
      const answer = await until(
        deadline,
        async (signal) => {
          const found = await accounts;
          return sources.serverId(
            found.accounts,
            { host: address, port },
            Math.max(100, deadline - performance.now() - 100),
            signal,
          );
        },
        (why) => ({ ok: false as const, problem: why }),
      );
      if (!answer.ok)
        return {
          ...base,
          held_by: [],
          source: 'probe',
          detail: `no MySQL answers at ${address}:${port}: ${answer.problem}`,
        };
      const owner = (await nodes).find(
        (n) => n.database?.reachable && n.database.server_id === answer.serverId,
      );
      return owner
        ? {
            ...base,
            held_by: [owner.name],
            source: 'probe',
            detail: `MySQL at ${address}:${port} is ${owner.name}'s (server_id ${answer.serverId})`,
          }
        : {
            ...base,
            held_by: [],
            source: 'unknown',
            detail: `MySQL at ${address}:${port} answers with server_id ${answer.serverId}, which no node of the spec has`,
          };
    }),
  );
}

/** The share of the budget an agent gets to answer; the rest is left for probing in its stead. */
const AGENT_SHARE = 0.5;

/**
 * With agent.api: asks `target`'s agent (this node's on 127.0.0.1) and uses its answer as the
 * node's facts; if it cannot be asked, falls back to `probe` and says why on the node.
 */
async function viaAgent(
  spec: Spec,
  target: NodeSpec,
  self: boolean,
  token: Promise<{ token: string } | { problem: string }>,
  started: number,
  timeoutMs: number,
  probe: () => Promise<NodeStatus>,
): Promise<NodeStatus> {
  const api = spec.agent.api!;
  const host = self ? '127.0.0.1' : target.networks[api.network]!.address;
  const address = `${host}:${api.port}`;
  const bound = Math.max(100, Math.floor(timeoutMs * AGENT_SHARE));
  const read = await token;
  const left = Math.max(50, Math.round(started + bound - performance.now()));
  const answer: AgentAnswer =
    'problem' in read
      ? { ok: false, problem: read.problem }
      : await askAgent(host, api.port, read.token, target.name, left);
  if (answer.ok) {
    return { ...answer.node, self, source: 'agent', agent_api: { address, answered: true, problem: null } };
  }
  const probed = await probe();
  return { ...probed, agent_api: { address, answered: false, problem: answer.problem } };
}

/** Who holds each VIP when every node's VIPs are known (agents, and this node's own interfaces). */
function vipsFromNodes(spec: Spec, nodes: readonly NodeStatus[]): VipStatus[] {
  return spec.vips.map((vip) => {
    const address = vipAddress(vip);
    const held_by = nodes.filter((n) => n.vips_held?.includes(address)).map((n) => n.name);
    return {
      name: vip.name,
      address,
      held_by,
      source: 'agent',
      detail: held_by.length
        ? `on ${held_by.join(' and ')}'s interfaces (as the agents report)`
        : 'on no node, as every agent reports',
    };
  });
}

/** Both nodes side by side, and the pair's verdict, as seen from `node`. */
export async function collectPairStatus(
  spec: Spec,
  node: NodeSpec,
  options: CollectOptions,
): Promise<PairStatus> {
  const started = performance.now();
  const sources = options.sources ?? probeSources;
  const deadline = started + options.timeoutMs;
  const accounts = spec.mysql
    ? until(
        deadline,
        (signal) => sources.accounts(spec, signal),
        (why) => ({ accounts: [], problem: why }),
      )
    : Promise.resolve({ accounts: [] as Credentials[], problem: 'the spec has no mysql section' });
  const api = spec.agent.api;
  // The token is read once, with the same rules as the agent's; its problem names the file, never the token.
  const token = api
    ? until<{ token: string } | { problem: string }>(
        deadline,
        async (signal) => ({ token: await readTokenFile(api.token_file, signal) }),
        (why) => ({ problem: `the token could not be read: ${why}` }),
      )
    : undefined;
  const local = () =>
    collectLocalStatus(spec, node, {
      ...options,
      timeoutMs: Math.max(100, deadline - performance.now()),
      sources,
    });
  const selfPromise = token ? viaAgent(spec, node, true, token, started, options.timeoutMs, local) : local();
  const peersPromise = Promise.all(
    spec.nodes
      .filter((n) => n.name !== node.name)
      .map((peer) => {
        const probe = () => collectPeerStatus(spec, peer, accounts, sources, deadline);
        return token ? viaAgent(spec, peer, false, token, started, options.timeoutMs, probe) : probe();
      }),
  );
  const nodesPromise = Promise.all([selfPromise, peersPromise]).then(([self, peers]) => [self, ...peers]);
  let nodes: NodeStatus[];
  let vips: VipStatus[];
  if (token) {
    // The agents say which VIPs their node holds; only where one could not be asked is the MySQL behind a VIP probed.
    nodes = await nodesPromise;
    vips = nodes.every((n) => n.vips_held !== null)
      ? vipsFromNodes(spec, nodes)
      : await collectVips(spec, node, Promise.resolve(nodes), accounts, sources, deadline);
  } else {
    [nodes, vips] = await Promise.all([
      nodesPromise,
      collectVips(spec, node, nodesPromise, accounts, sources, deadline),
    ]);
  }
  const maxLag = maxLagOf(spec);
  const verdict = judgePair(nodes, vips, maxLag, spec.mysql?.semi_sync, replicationAddresses(spec));
  return {
    format: 1,
    cluster: spec.cluster,
    observed_from: node.name,
    at: new Date().toISOString(),
    verdict: verdict.verdict,
    problems: verdict.problems,
    notes: verdict.notes,
    max_lag_seconds: maxLag,
    duration_ms: Math.round(performance.now() - started),
    vips,
    nodes,
  };
}
