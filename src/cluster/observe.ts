/**
 * Gathers one Observation. Every source has its own time budget and an AbortSignal; a source that
 * does not answer in time yields "unknown, because …", never a hang, and no source uses a
 * synchronous filesystem call on a path from the spec. The facts that cost a round trip (the local
 * database and the lineage) are gathered only when the pure rules say a promotion is in view.
 */
import { readFile } from 'node:fs/promises';
import { localTarget } from '../actions/mysql-common.js';
import { AGENT_ALIVE, agentTrackFile } from '../agent/contract.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { markerPresent } from '../mysql/rebuild-marker.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { appliedStatePath, readAppliedState } from './applied-state.js';
import { needsPromotionFacts, needsProxyFacts, needsStandbyFacts, type Intent } from './decide.js';
import { readLineage, type LineageRead } from './lineage.js';
import {
  freezeObservation,
  type AppliedState,
  type DatabaseFacts,
  type KeepalivedFact,
  type LeaseFact,
  type Observation,
  type PeerSilence,
  type ProxyFacts,
  type StandbyFacts,
} from './observation.js';
import { replicaFactsOf } from './promotion-guard.js';
import { localAddresses, vipHolding } from './vips.js';

/** Where each fact comes from; tests and, later, the agent substitute their own. */
export interface ObservationSources {
  addresses(): ReadonlySet<string>;
  appliedState(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<AppliedState | undefined>;
  lineage(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<LineageRead>;
  database(spec: Spec, node: NodeSpec, lineage: LineageRead, signal: AbortSignal): Promise<DatabaseFacts>;
  /** Absent until a lease store exists (etcd, for 3+ nodes or a witness). */
  lease?(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<LeaseFact>;
  /** Agent mode: whether the node's agent says it is alive (read for notify hooks only). */
  agentAlive?(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<boolean | undefined>;
  /** Spec `proxy:`: the standby's catch-up and each proxy's backends (src/proxy/observe.ts). */
  proxies?(
    spec: Spec,
    node: NodeSpec,
    holds: 'all' | 'none' | 'some',
    signal: AbortSignal,
  ): Promise<ProxyFacts>;
  /** Agent mode: the standby's replication and the peer's writability (decide's rule 7). */
  standby?(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<StandbyFacts>;
  /** Agent mode with a witness: what the witness monitor has heard from the peer (in memory). */
  peerSilence?(): PeerSilence | undefined;
}

export interface ObserveRequest {
  transitionId: string;
  keepalived?: KeepalivedFact | undefined;
  intent: Intent;
  /** 'always' also when no promotion is in view (a status report wants the database anyway). */
  promotionFacts?: 'when-needed' | 'always';
  /** Read the proxies (the agent's ticks) when decide's rule 6 wants them (needsProxyFacts). */
  proxies?: boolean;
  /** Read the standby facts (the agent, every few seconds) when decide's rule 7 wants them (needsStandbyFacts). */
  standby?: boolean;
}

export interface ObserveBudgets {
  appliedStateMs: number;
  lineageMs: number;
  databaseMs: number;
  leaseMs: number;
  /** Default 4 s: the standby's replication probe (2 s) and every proxy's read (3 s), all at once. */
  proxiesMs?: number;
  /** Default 5 s: the local replica status over the kept connection, and one connect (2 s) to the peer. */
  standbyMs?: number;
}

export const DEFAULT_BUDGETS: ObserveBudgets = {
  appliedStateMs: 2_000,
  // problemWithUserPath and the read each have 2 s of their own.
  lineageMs: 5_000,
  // Connect (3 s) plus a handful of small queries on a loaded machine.
  databaseMs: 8_000,
  leaseMs: 2_000,
  proxiesMs: 4_000,
  standbyMs: 5_000,
};

/**
 * A short, sortable, greppable id: node, UTC time to the second, 4 random hex digits (a label for
 * log lines, not a secret: Math.random, so that notify never loads node:crypto for it).
 */
export function newTransitionId(node: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const random = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${node}-${stamp}-${random}`;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Milliseconds each source took, for a debug line (where does a slow transition spend its time?). */
export type SourceTimings = Partial<
  Record<'applied_state' | 'lease' | 'lineage' | 'database' | 'proxies' | 'standby', number>
>;

/** Runs one source under its own deadline; a timeout or an error becomes the source's "unknown". */
async function bounded<T>(
  budgetMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  unknown: (why: string) => T,
  timed?: (ms: number) => void,
): Promise<T> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`no answer within ${budgetMs} ms`));
      resolve(unknown(`no answer within ${budgetMs} ms`));
    }, budgetMs);
  });
  try {
    return await Promise.race([
      work(controller.signal).catch((error: unknown) => unknown(messageOf(error))),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
    timed?.(Math.round(performance.now() - started));
  }
}

async function readLocalDatabase(
  spec: Spec,
  node: NodeSpec,
  lineage: LineageRead,
  signal: AbortSignal,
): Promise<DatabaseFacts> {
  const mysql = spec.mysql;
  if (!mysql) return { kind: 'unreachable', problem: 'the spec has no mysql section' };
  // Loaded only here: a transition that promotes nothing never parses the driver.
  const [{ connect }, { detectFlavour }, { readReplicaStatus }, { readReadOnly }, { coverageOf }] =
    await Promise.all([
      import('../mysql/connection.js'),
      import('../mysql/flavour.js'),
      import('../mysql/replica-status.js'),
      import('../mysql/server-state.js'),
      import('../mysql/coverage.js'),
    ]);
  // Beside the round trips, not after them: one access(2), bounded.
  const unfinished = markerPresent(spec.paths.state_dir, node.name, 1_000);
  const session = await connect(localTarget(mysql), { timeoutMs: 3000, signal });
  try {
    const flavour = await detectFlavour(session);
    const status = await readReplicaStatus(session, flavour);
    const readOnly = await readReadOnly(session, flavour);
    const record = lineage.kind === 'ok' ? lineage.lineage : undefined;
    const coverage =
      record && record.primary !== node.name
        ? await coverageOf(session, flavour, status, record.primaryPosition)
        : undefined;
    const replica = replicaFactsOf(status);
    const facts = {
      kind: 'ok' as const,
      readOnly: readOnly.readOnly || readOnly.superReadOnly,
      replica,
      coverage,
      ...((await unfinished) ? { rebuildUnfinished: true as const } : {}),
    };
    // Only a strict pair whose lineage says this node diverged pays the round trip to the peer.
    if (
      mysql.semi_sync !== 'strict' ||
      !record ||
      record.primary === node.name ||
      record.diverged.length === 0
    )
      return facts;
    const { readDivergenceFacts } = await import('./divergence-facts.js');
    return { ...facts, divergence: await readDivergenceFacts(spec, node, session, flavour, status, signal) };
  } finally {
    await session.close();
  }
}

export const localSources: ObservationSources = {
  addresses: localAddresses,
  async appliedState(spec, node, signal) {
    const problem = await problemWithUserPath(spec.paths.runtime_dir, 'paths.runtime_dir');
    if (problem) return undefined;
    return readAppliedState(appliedStatePath(spec.paths.runtime_dir, node.name), signal);
  },
  lineage: (spec, node) => readLineage(spec.paths.state_dir, node.name),
  database: readLocalDatabase,
  async standby(spec, node, signal) {
    // Loaded only here: notify and promotions never parse it.
    const { readStandbyFacts } = await import('./standby-facts.js');
    return readStandbyFacts(spec, node, signal);
  },
  async proxies(spec, node, holds, signal) {
    const { readProxyFacts } = await import('../proxy/observe.js');
    return readProxyFacts(spec, node, holds, signal);
  },
  async agentAlive(spec, node, signal) {
    const problem = await problemWithUserPath(spec.paths.runtime_dir, 'paths.runtime_dir');
    if (problem) return undefined;
    const text = await readFile(agentTrackFile(spec.paths.runtime_dir, node.name), {
      encoding: 'utf8',
      signal,
    }).catch(() => undefined);
    return text === undefined ? undefined : text.trim() === String(AGENT_ALIVE);
  },
};

export async function observe(
  spec: Spec,
  node: NodeSpec,
  request: ObserveRequest,
  sources: ObservationSources = localSources,
  budgets: ObserveBudgets = DEFAULT_BUDGETS,
  timings: SourceTimings = {},
): Promise<Observation> {
  const askAgent = spec.agent.enabled && request.keepalived?.source === 'event' && sources.agentAlive;
  const [lastApplied, lease, agentAlive] = await Promise.all([
    bounded(
      budgets.appliedStateMs,
      (signal) => sources.appliedState(spec, node, signal),
      () => undefined,
      (ms) => (timings.applied_state = ms),
    ),
    sources.lease
      ? bounded<LeaseFact | undefined>(
          budgets.leaseMs,
          (signal) => sources.lease!(spec, node, signal),
          // An unanswered lease store is a lease nobody can show they hold.
          (why) => ({ holder: null, validForMs: 0, store: `the lease store (unknown: ${why})` }),
          (ms) => (timings.lease = ms),
        )
      : undefined,
    askAgent
      ? bounded<boolean | undefined>(
          budgets.appliedStateMs,
          (signal) => sources.agentAlive!(spec, node, signal),
          () => undefined,
          () => undefined,
        )
      : undefined,
  ]);
  const peerSilence = sources.peerSilence?.();
  const first: Observation = {
    transitionId: request.transitionId,
    node: node.name,
    at: new Date().toISOString(),
    vips: vipHolding(spec, sources.addresses()),
    keepalived: request.keepalived,
    lastApplied,
    lineage: undefined,
    database: undefined,
    checks: undefined,
    lease,
    agentAlive,
    ...(peerSilence ? { peerSilence } : {}),
  };
  const { held, missing } = first.vips;
  const holds = missing.length === 0 ? 'all' : held.length === 0 ? 'none' : 'some';
  const seen: Observation =
    request.proxies && sources.proxies && needsProxyFacts(first, spec, request.intent)
      ? {
          ...first,
          proxy: await bounded<ProxyFacts | undefined>(
            budgets.proxiesMs ?? 4_000,
            (signal) => sources.proxies!(spec, node, holds, signal),
            () => undefined,
            (ms) => (timings.proxies = ms),
          ),
        }
      : first;
  const wanted = request.promotionFacts === 'always' || needsPromotionFacts(seen, spec, request.intent);
  if (!wanted) {
    if (!(request.standby && sources.standby && needsStandbyFacts(seen, spec, request.intent)))
      return freezeObservation(seen);
    // Rule 7: the lineage says whether this node diverged; the standby facts whether it replicates.
    const [lineage, standby] = await Promise.all([
      bounded<LineageRead>(
        budgets.lineageMs,
        (signal) => sources.lineage(spec, node, signal),
        (why) => ({ kind: 'unreadable', problem: `the lineage record was not read: ${why}` }),
        (ms) => (timings.lineage = ms),
      ),
      bounded<StandbyFacts>(
        budgets.standbyMs ?? 5_000,
        (signal) => sources.standby!(spec, node, signal),
        (why) => ({ kind: 'unreachable', problem: why }),
        (ms) => (timings.standby = ms),
      ),
    ]);
    return freezeObservation({ ...seen, lineage, standby });
  }
  const lineage = await bounded<LineageRead>(
    budgets.lineageMs,
    (signal) => sources.lineage(spec, node, signal),
    (why) => ({ kind: 'unreadable', problem: `the lineage record was not read: ${why}` }),
    (ms) => (timings.lineage = ms),
  );
  const database = await bounded<DatabaseFacts>(
    budgets.databaseMs,
    (signal) => sources.database(spec, node, lineage, signal),
    (why) => ({ kind: 'unreachable', problem: why }),
    (ms) => (timings.database = ms),
  );
  return freezeObservation({ ...seen, lineage, database });
}
