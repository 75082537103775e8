/**
 * Strict semi-sync: the source waits AFTER_SYNC for the standby's acknowledgement and never falls
 * back to asynchronous replication, so every write a client saw acknowledged is in the standby's
 * relay log. The price is stated plainly: while no standby acknowledges, the primary's commits wait.
 */
import type { SemiSyncState } from './server-state.js';

/** rpl_semi_sync_master_timeout's largest value on every MariaDB we support (ms, ~49.7 days). */
export const STRICT_TIMEOUT_MS = 4_294_967_295;
/** Anything shorter is an async fallback waiting to happen (orchestrator's threshold is 1000 s). */
export const STRICT_MIN_TIMEOUT_MS = 86_400_000;

/**
 * What every node's option file carries under strict semi-sync. Each server starts in the replica
 * role: a crashed primary then truncates the binlog tail its standby never acknowledged
 * (MDEV-21117) instead of committing it, so it can rejoin without an errant transaction. Measured on
 * MariaDB 10.11: `init_rpl_role=SLAVE` is what triggers the truncation (rpl_semi_sync_slave_enabled
 * alone does not), and the server shows no variable for it, so only the option file can say so.
 */
export const STRICT_SEMI_SYNC_SERVER_OPTIONS: Readonly<Record<string, string | number>> = {
  rpl_semi_sync_slave_enabled: 'ON',
  rpl_semi_sync_master_wait_point: 'AFTER_SYNC',
  rpl_semi_sync_master_timeout: STRICT_TIMEOUT_MS,
  rpl_semi_sync_master_wait_no_slave: 'ON',
  init_rpl_role: 'SLAVE',
  rpl_semi_sync_slave_kill_conn_timeout: 1,
};

/**
 * STOP SLAVE IO_THREAD on a semi-sync replica first connects to its source to KILL the dump thread
 * (MariaDB's semisync_slave.cc kill_connection), bounded by this many seconds. When the source is
 * gone that wait is part of every promotion: measured on 10.11 with the source frozen, 2.0 s at the
 * default of 5 and 1.0 s at 1 (0 would mean no bound). If the KILL cannot be sent the replica just
 * closes its side, which the source's dump thread notices on its next write.
 */
export const SEMI_SYNC_KILL_CONN_TIMEOUT_SQL = 'SET GLOBAL rpl_semi_sync_slave_kill_conn_timeout = 1';

/** Statements that make a server a strict semi-sync source; run before it becomes writable. */
export function semiSyncSourceSettings(): string[] {
  return [
    "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
    `SET GLOBAL rpl_semi_sync_master_timeout = ${STRICT_TIMEOUT_MS}`,
    'SET GLOBAL rpl_semi_sync_master_wait_no_slave = ON',
    'SET GLOBAL rpl_semi_sync_master_enabled = ON',
  ];
}

/** Statement that ends a server's source role: run on a standby, whose own commits must wait for nobody. */
export const SEMI_SYNC_SOURCE_OFF = 'SET GLOBAL rpl_semi_sync_master_enabled = OFF';

/** Statement that makes a server acknowledge as a replica; takes effect when its IO thread starts. */
export const SEMI_SYNC_REPLICA_SETTING = 'SET GLOBAL rpl_semi_sync_slave_enabled = ON';

export type SemiSyncRole = 'primary' | 'replica';

/**
 * The strict-settings problems of a server judged as the primary it was before its demotion: the
 * demotion switched its source side off on purpose, everything else must still be strict.
 */
export function formerPrimaryStrictProblems(state: SemiSyncState): string[] {
  return strictSemiSyncProblems({ ...state, sourceEnabled: true, sourceActive: true }, 'primary');
}

/** What keeps `state` from being strict semi-sync in `role`, one plain sentence each; empty when strict. */
export function strictSemiSyncProblems(state: SemiSyncState, role: SemiSyncRole): string[] {
  const problems: string[] = [];
  if (role === 'primary') {
    if (!state.sourceEnabled)
      problems.push('rpl_semi_sync_master_enabled is OFF: writes are acknowledged without the standby');
    if (state.waitPoint !== 'AFTER_SYNC')
      problems.push(
        `rpl_semi_sync_master_wait_point is ${state.waitPoint ?? 'unknown'}: other sessions can read a commit the standby lacks (want AFTER_SYNC)`,
      );
    if (state.timeoutMs === null || state.timeoutMs < STRICT_MIN_TIMEOUT_MS)
      problems.push(
        `rpl_semi_sync_master_timeout is ${state.timeoutMs ?? 'unknown'} ms: after it the primary falls back to async (want ≥ ${STRICT_MIN_TIMEOUT_MS})`,
      );
    if (!state.waitNoReplica)
      problems.push(
        'rpl_semi_sync_master_wait_no_slave is OFF: with no standby connected writes go async at once',
      );
    if (state.sourceEnabled && !state.sourceActive)
      problems.push('Rpl_semi_sync_master_status is OFF: the primary has fallen back to async');
  }
  // A primary also needs it: after a crash it must restart as a replica to drop what was never acknowledged.
  if (!state.replicaEnabled)
    problems.push(
      'rpl_semi_sync_slave_enabled is OFF: set it and init_rpl_role=SLAVE in the option file of every node',
    );
  // Issue 12: with the source side on, each transaction the SQL thread applies waits for an ACK
  // from a replica of this standby's own, which it never has; replication stalls without an error.
  if (role === 'replica' && state.sourceEnabled)
    problems.push(
      'rpl_semi_sync_master_enabled is ON on a standby: its SQL thread waits for an ACK of every transaction it applies and stalls; SET GLOBAL rpl_semi_sync_master_enabled = OFF (hactl demotion does)',
    );
  if (role === 'replica' && state.replicaEnabled && !state.replicaActive)
    problems.push(
      'Rpl_semi_sync_slave_status is OFF: the IO thread does not acknowledge (restart it after enabling)',
    );
  return problems;
}
