/**
 * Rule 7, agent mode: a standby left without replication gets re-pointed once that is safe.
 *
 * A demotion waits `mysql.repoint_wait` for the peer to become writable and then gives up
 * re-pointing; it still counts as applied, so no later transition would act. The agent looks at
 * the standby on ticks that apply nothing (observe()'s standby facts) and, when the local database
 * is read-only and not replicating from the peer, the peer is writable, and nothing says this node
 * holds transactions the peer lacks (its lineage record, and the live GTID comparison), it runs the
 * applied state's mysql.demote step again: that step re-points (and re-checks divergence itself).
 * A diverged node is reported, never re-pointed. Under strict semi-sync a diverged node that no
 * demotion recorded as such gets its mysql.demote again, which finds the divergence and records
 * it (the lineage); the agent then judges a rejoin by rebuild (src/cluster/rejoin-rule.ts), whose
 * proof needs that record. Pure: the same observation gives the same answer.
 */
import { TRANSIENT_IO_ERRNOS } from '../mysql/replica-status.js';
import type { ActionSpec } from '../spec/actions-schema.js';
import type { Spec } from '../spec/schema.js';
import type { Observation, StandbyFacts, VrrpState } from './observation.js';

export interface RepointGuard {
  rule: 'repoint';
  allow: boolean;
  reason: string;
  /**
   * The standby holds transactions the peer lacks: under strict semi-sync the agent then judges a
   * rejoin by rebuild off its loop (src/cluster/rejoin-rule.ts), never in this pure rule.
   */
  diverged?: true;
}

export interface RepointStep {
  target: VrrpState;
  actions: ActionSpec[];
  reason: string;
  guard: RepointGuard;
}

/**
 * IO errors that only say the source was gone (connect failures, lost connections): a replica that
 * stopped on them is not broken, re-pointing it is safe. Anything else (1236: the source lacks
 * what this server asks for) needs a human.
 */
const SOURCE_GONE_ERRNOS = new Set([0, 2002, 2003, 2005, 2006, 2013, 1158, 1159, 1160, 1161]);

const demotes = (action: ActionSpec) => action.type === 'mysql.demote';

/**
 * The applied demotion this rule may complete, before any database is read: agent mode, a
 * two-node pair with a replication account, a demotion (BACKUP or FAULT) applied successfully
 * whose actions include mysql.demote, and no VIP on this node. undefined: the rule does not apply.
 */
export function repointCandidate(observation: Observation, spec: Spec): VrrpState | undefined {
  const last = observation.lastApplied;
  if (!spec.agent.enabled || !spec.mysql?.replication_credentials_file || spec.nodes.length !== 2) return;
  if (!last?.ok || (last.state !== 'BACKUP' && last.state !== 'FAULT')) return;
  if (observation.vips.held.length > 0) return;
  const actions = spec.actions[last.state === 'BACKUP' ? 'backup' : 'fault'];
  return actions.some(demotes) ? last.state : undefined;
}

type Standby = Extract<StandbyFacts, { kind: 'ok' }>;

/** Why this standby is not replicating from its peer, or undefined when it is (or is broken: `broken`). */
function notReplicating(standby: Standby): { why: string } | { broken: string } | undefined {
  const { replica, peer } = standby;
  if (replica === null) return { why: 'it replicates from nobody' };
  if (replica.source !== peer.address)
    return { why: `it replicates from ${replica.source}, not from ${peer.node} (${peer.address})` };
  if (replica.lastSqlErrno !== 0)
    return {
      broken: `its SQL thread stopped with error ${replica.lastSqlErrno}: ${replica.lastSqlError}`,
    };
  // The demotion run again re-points and starts the IO thread again (src/mysql/demote.ts).
  if (replica.io === 'no' && TRANSIENT_IO_ERRNOS.has(replica.lastIoErrno))
    return {
      why: `its IO thread stopped on error ${replica.lastIoErrno} in transit (${replica.lastIoError})`,
    };
  if (!SOURCE_GONE_ERRNOS.has(replica.lastIoErrno))
    return { broken: `its IO thread reports error ${replica.lastIoErrno}: ${replica.lastIoError}` };
  // Running, or 'connecting' (the server retries by itself while the peer restarts), or one thread
  // held on purpose (STOP SLAVE SQL_THREAD for a backup or a lag test): not this rule's business;
  // hactl status reports a stopped thread. Both stopped without an error is a server that was
  // never restarted as a replica (skip-slave-start, a demotion that gave up, STOP SLAVE).
  if (replica.io !== 'no' || replica.sqlRunning) return undefined;
  return {
    why: `its replication from ${peer.address} is stopped (both threads, no replication error)`,
  };
}

/**
 * Decides for a tick whose rules 1–3 left nothing to apply. undefined: the rule has nothing to
 * say (not a candidate, or not observed). Otherwise a re-point (allow) or the reason it may not.
 */
export function repointRule(
  observation: Observation,
  spec: Spec,
): RepointStep | { refused: RepointGuard } | undefined {
  const state = repointCandidate(observation, spec);
  const standby = observation.standby;
  if (state === undefined || standby === undefined) return undefined;
  const refuse = (reason: string) => ({ refused: { rule: 'repoint' as const, allow: false, reason } });
  if (standby.kind === 'unreachable')
    return refuse(`the standby's database could not be observed (${standby.problem})`);
  if (!standby.readOnly) return refuse('the local database is writable although this node is a standby');
  const gap = notReplicating(standby);
  if (gap === undefined) return undefined;
  if ('broken' in gap)
    return refuse(
      `standby not replicating: ${gap.broken}; not re-pointed (a human must look: hactl status, the replica's error log)`,
    );
  const head = `standby not replicating: ${gap.why}`;
  const peerState = standby.peerState;
  if (peerState.kind === 'not-read') return undefined;
  if (peerState.kind === 'unreachable')
    return refuse(`${head}; ${standby.peer.node} cannot be read (${peerState.problem}): waiting`);
  if (!peerState.writable)
    return refuse(`${head}; ${standby.peer.node} is read-only, not a primary yet: waiting`);
  const lineage = observation.lineage;
  if (lineage?.kind === 'unreadable')
    return refuse(`${head}; its lineage record cannot be read (${lineage.problem}): not re-pointed`);
  const record = lineage?.kind === 'ok' ? lineage.lineage : undefined;
  const strict = spec.mysql?.semi_sync === 'strict';
  const rejoin = strict
    ? '; strict semi-sync: the agent judges a rejoin by rebuild (agent.rejoin)'
    : ', a human must reconcile (hactl rebuild)';
  const divergedRefusal = (reason: string) => ({
    refused: { rule: 'repoint' as const, allow: false, reason, diverged: true as const },
  });
  if (record && record.diverged.length > 0)
    return divergedRefusal(
      `${head}; it diverged from ${record.primary} (recorded ${record.at}: it holds ${record.diverged.join(', ')}): not re-pointed${rejoin}`,
    );
  const step = (reason: string): RepointStep => ({
    target: state,
    actions: spec.actions[state === 'BACKUP' ? 'backup' : 'fault'].filter(demotes),
    reason,
    guard: { rule: 'repoint', allow: true, reason },
  });
  if (peerState.extraHere.length > 0 && strict)
    return step(
      `${head}; it holds ${peerState.extraHere.join(', ')}, which ${standby.peer.node} lacks, and no demotion recorded that: ${state}'s mysql.demote again, which records the divergence (strict semi-sync: the agent then judges a rejoin by rebuild)`,
    );
  if (peerState.extraHere.length > 0)
    return divergedRefusal(
      `${head}; it holds ${peerState.extraHere.join(', ')}, which ${standby.peer.node} lacks: diverged, not re-pointed${rejoin}`,
    );
  return step(
    `${head}; ${standby.peer.node} is writable and holds everything this node logged: re-pointing (${state}'s mysql.demote again)`,
  );
}
