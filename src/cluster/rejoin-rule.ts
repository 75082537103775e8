/**
 * Rule 7's strict rejoin (issue 12 item 6): a demoted old primary that holds transactions its new
 * primary lacks is rebuilt from it by the agent, discarding exactly those, only when they provably
 * were never acknowledged to any client. Under strict semi-sync (AFTER_SYNC, no async fallback) a
 * client's OK needs the standby's ACK, the ACK means the transaction reached the standby's relay
 * log, and hactl's promotion drains the relay log before the standby becomes writable: so a
 * transaction that originated on this server and that the new primary lacks got no OK.
 *
 * The proof rests on facts this rule checks, each refusal naming the one that failed:
 * the spec says strict; this server, judged as the primary it was, has strict settings (wait
 * point, timeout, wait_no_slave, restart as a replica); the new primary is strict too; every extra
 * GTID carries this server's server_id (a write made anywhere else is never discarded by itself,
 * also not when an interrupted rebuild is resumed); the demotion that found this node diverged recorded them (a later write, by
 * an account that bypasses read_only, would show as a GTID beyond that record); and no replica
 * other than the peer is registered here (any semi-sync replica's ACK releases a commit). What it
 * cannot check is stated in the README (strict semi-sync: what the agent rejoins by itself) — above
 * all that the settings were strict all along: MariaDB 10.11 shows no counter that separates an
 * async fallback from hactl's own switch-off (Rpl_semi_sync_master_wait_timeouts is not exported,
 * Rpl_semi_sync_master_no_times also counts the demotion's SET GLOBAL rpl_semi_sync_master_enabled
 * = OFF, Rpl_semi_sync_master_no_tx also counts the killed ACK waits), so it is logged, not judged.
 * Pure: the same facts give the same verdict.
 */
import { formerPrimaryStrictProblems, strictSemiSyncProblems } from '../mysql/semi-sync.js';
import type { SemiSyncState } from '../mysql/server-state.js';
import type { Spec } from '../spec/schema.js';

/** What the strict rejoin is judged by; read off the loop (src/cluster/rejoin-facts.ts). */
export interface RejoinFacts {
  /** The spec's VIP addresses this node holds now. */
  vipsHeld: readonly string[];
  localReadOnly: boolean;
  localServerId: number;
  /** The peer's database, read with the admin account. */
  peer: { node: string; address: string; writable: boolean; serverId: number };
  /** This server's semi-sync settings and status now (its source side is off since the demotion). */
  local: SemiSyncState;
  peerSemiSync: SemiSyncState;
  /** Every GTID this server logged that the peer lacks, exact (from the binlog), sorted. */
  extraGtids: readonly string[];
  /** What the lineage record says diverged (written by the demotion that found it); null: no such record. */
  recordedDiverged: readonly string[] | null;
  /** server_id of every replica registered on this server (SHOW SLAVE HOSTS). */
  replicaServerIds: readonly number[];
  /** An interrupted rebuild's marker (paths.state_dir): what it was discarding. */
  marker: { discarded: readonly string[]; savedBinlogDir: string; at: string } | null;
}

export type RejoinVerdict =
  { allow: true; discard: string[]; resume: boolean; reason: string } | { allow: false; reason: string };

const serverOf = (gtid: string) => Number(gtid.split('-')[1]);
const leadingGtid = (text: string) => /^\s*(\d+-\d+-\d+)/.exec(text)?.[1] ?? text;

/**
 * The verdict; `undefined` when there is nothing to rejoin (no extra GTID, no marker). A refusal's
 * reason starts with "not rebuilt by itself:" and names the failed condition.
 */
export function rejoinVerdict(facts: RejoinFacts, spec: Spec): RejoinVerdict | undefined {
  const { extraGtids, marker } = facts;
  if (extraGtids.length === 0 && marker === null) return undefined;
  const refuse = (why: string): RejoinVerdict => ({ allow: false, reason: `not rebuilt by itself: ${why}` });
  const mode = spec.mysql?.semi_sync ?? 'off';
  if (mode !== 'strict')
    return refuse(
      `mysql.semi_sync is ${mode}, not strict: a client may have been told these transactions committed`,
    );
  if (!spec.agent.enabled) return refuse('no agent (agent.enabled is false): a human runs hactl rebuild');
  if (facts.vipsHeld.length > 0)
    return refuse(
      `this node holds the VIP(s) ${facts.vipsHeld.join(', ')}: it may be serving as the primary`,
    );
  if (!facts.localReadOnly) return refuse('the local database is writable');
  if (!facts.peer.writable)
    return refuse(
      `${facts.peer.node} (${facts.peer.address}) is read-only: there is no primary to rebuild from`,
    );
  if (facts.peer.serverId === facts.localServerId)
    return refuse(`${facts.peer.address} answers with this server's own server_id ${facts.localServerId}`);
  const local = formerPrimaryStrictProblems(facts.local);
  if (local.length > 0)
    return refuse(`this server's semi-sync settings were not strict: ${local.join('; ')}`);
  const peer = strictSemiSyncProblems(facts.peerSemiSync, 'primary');
  if (peer.length > 0)
    return refuse(`${facts.peer.node}'s semi-sync settings are not strict: ${peer.join('; ')}`);
  const foreign = extraGtids.filter((g) => serverOf(g) !== facts.localServerId);
  if (foreign.length > 0)
    return refuse(
      `${foreign.join(', ')} ${foreign.length === 1 ? 'was' : 'were'} written by another server than this one (server_id ${facts.localServerId}): only this server's own unacknowledged commits are discarded by the agent`,
    );
  if (marker !== null) {
    // After RESET MASTER the binlog no longer shows them: the marker is the only record left.
    const foreignInMarker = marker.discarded.filter((g) => serverOf(g) !== facts.localServerId);
    if (foreignInMarker.length > 0)
      return refuse(
        `the interrupted rebuild's marker discards ${foreignInMarker.join(', ')}, written by another server (not server_id ${facts.localServerId}); finish it with hactl rebuild`,
      );
    const discard = extraGtids.length > 0 ? [...extraGtids] : [...marker.discarded];
    return {
      allow: true,
      discard,
      resume: true,
      reason: `resuming the rebuild interrupted at ${marker.at} (binlogs saved in ${marker.savedBinlogDir}), discarding ${discard.join(',')}`,
    };
  }
  if (facts.recordedDiverged === null)
    return refuse(
      'no demotion recorded these transactions as diverged (the lineage record): the agent cannot tell they were committed before this node stopped being the primary',
    );
  // A demotion may record a divergence described ("0-1-7 (peer has 0-1-6)"): its GTID is the first word.
  const recorded = new Set(facts.recordedDiverged.map(leadingGtid));
  const later = extraGtids.filter((g) => !recorded.has(g));
  if (later.length > 0)
    return refuse(
      `${later.join(', ')} ${later.length === 1 ? 'is' : 'are'} not among the transactions the demotion recorded (${facts.recordedDiverged.join(', ') || 'none'}): written after it, by an account that bypasses read_only`,
    );
  const others = facts.replicaServerIds.filter((id) => id !== facts.peer.serverId);
  if (others.length > 0)
    return refuse(
      `replicas other than ${facts.peer.node} are registered on this server (server_id ${others.join(', ')}): a semi-sync ACK from any of them releases a commit`,
    );
  return {
    allow: true,
    discard: [...extraGtids],
    resume: false,
    reason: `strict semi-sync: ${extraGtids.join(',')} originated here and ${facts.peer.node} never acknowledged them, so no client was told they committed: rebuilding from ${facts.peer.node}, discarding exactly them`,
  };
}
