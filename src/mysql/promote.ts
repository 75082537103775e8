/**
 * Promotion that drains first. On MariaDB, stopping both replica threads and touching replication
 * again purges the relay log, so events received but not applied would vanish: we keep (or start)
 * the SQL thread, wait until everything received is applied, and only then stop replication and
 * become writable. Every step reports what it saw and decided through `log`.
 */
import type { MysqlSession } from './connection.js';
import { DatabaseError } from './errors.js';
import { describeFlavour, detectFlavour, type Flavour } from './flavour.js';
import {
  describeExtra,
  extraTransactions,
  formatGtid,
  formatGtidList,
  lastPerDomain,
  parseGtidList,
  positionGaps,
  positionReached,
} from './gtid.js';
import { catchUpFromOldPrimary, type CatchUpSource } from './old-primary-catch-up.js';
import { readReplicaStatus, type ReplicaStatus } from './replica-status.js';
import {
  isOn,
  readGtidState,
  readReadOnly,
  readSemiSync,
  replicationSql,
  semiSyncVerdict,
  setReadOnly,
  type SemiSyncState,
  type StepLogger,
} from './server-state.js';
import { stopSemiSyncSource } from './demote.js';
import { SEMI_SYNC_KILL_CONN_TIMEOUT_SQL, semiSyncSourceSettings } from './semi-sync.js';

export type Topology = 'one-way' | 'dual-master';

export interface PromoteOptions {
  /**
   * A reason not to promote any more (the caller's premise is gone, e.g. this node no longer holds
   * the VIPs), or undefined. Asked after the drain, before anything is recorded or removed (then
   * the server is left the replica it was), and again right before read_only=OFF. Either way the
   * promotion stops read-only and the next transition decides again.
   */
  stillWanted?: () => string | undefined;
  topology: Topology;
  catchUpTimeoutSec: number;
  onCatchUpTimeout: 'stay-read-only' | 'promote-anyway';
  semiSync: 'off' | 'expected' | 'strict';
  log: StepLogger;
  /**
   * Called once the relay log is drained (or draining was abandoned by policy), before replication
   * is stopped: from here on this server takes over, so a retry after a failure in the steps that
   * follow must not read the replication it stopped itself as "stopped by hand".
   */
  takingOver?: (appliedPosition: string) => Promise<void>;
  /**
   * The fenced old primary's final GTID state (src/fence/fence.ts): this server must hold all of it
   * once drained, or becoming writable would discard what the old primary acknowledged.
   */
  oldPrimary?: { node: string; state: string };
  /**
   * Where to catch up from when the old primary logged more than this server holds (its address
   * as this server reaches it, and the replication account): without it the promotion is refused.
   */
  catchUpFrom?: CatchUpSource;
}

export type CatchUpResult = 'not-needed' | 'caught-up' | 'timeout' | 'stranded' | 'sql-error';

export interface PromoteReport {
  server: string;
  flavour: string;
  topology: Topology;
  outcome: 'promoted' | 'already-primary' | 'promoted-without-catch-up';
  wasReadOnly: boolean;
  wasReplica: boolean;
  catchUp: {
    result: CatchUpResult;
    /** What we waited for: MariaDB Gtid_IO_Pos, MySQL Retrieved_Gtid_Set. */
    target: string | null;
    /** Applied position when the wait began (MariaDB gtid_slave_pos, MySQL gtid_executed). */
    appliedBefore: string | null;
    waitedMs: number;
  };
  /** gtid_binlog_pos (MariaDB) / gtid_executed (MySQL) once writable. */
  gtidPosition: string;
  semiSync: SemiSyncState & { expected: boolean; verdict: string };
  actions: string[];
  durationMs: number;
}

/** The caller's premise went away before the server became writable: it stays read-only. */
export class PromotionAbandoned extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromotionAbandoned';
  }
}

/** The server could not apply everything it had received in time; it stays read-only. */
export class CatchUpTimeout extends DatabaseError {
  readonly reason: Exclude<CatchUpResult, 'not-needed' | 'caught-up'>;
  readonly target: string | null;
  readonly applied: string | null;
  constructor(
    message: string,
    details: { reason: CatchUpTimeout['reason']; target: string | null; applied: string | null },
  ) {
    super(message, 'CatchUpTimeout');
    this.reason = details.reason;
    this.target = details.target;
    this.applied = details.applied;
  }
}

/** The fenced old primary logged transactions this server does not hold: promoting would discard them. */
export class OldPrimaryAhead extends DatabaseError {
  constructor(
    message: string,
    readonly missing: string[],
  ) {
    super(message, 'OldPrimaryAhead');
  }
}

interface Drain {
  result: CatchUpResult;
  target: string | null;
  appliedBefore: string | null;
  waitedMs: number;
  detail: string;
}

async function appliedPosition(session: MysqlSession, flavour: Flavour): Promise<string> {
  const state = await readGtidState(session, flavour);
  return flavour.kind === 'mariadb' ? (state.slavePos ?? '') : state.position;
}

async function targetReached(
  session: MysqlSession,
  flavour: Flavour,
  target: string,
  applied: string,
): Promise<boolean> {
  if (flavour.kind === 'mariadb') return positionReached(parseGtidList(applied), parseGtidList(target));
  const row = (await session.query('SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed) AS ok', [target]))[0] ?? {};
  return Number(row.ok) === 1;
}

/** Waits in slices of ≤1 s so a SQL thread that stops with an error ends the wait early. */
async function waitApplied(
  session: MysqlSession,
  flavour: Flavour,
  target: string,
  deadline: number,
): Promise<{ reached: boolean; sqlError?: ReplicaStatus }> {
  const maxSlices = Math.ceil(Math.max(0, deadline - Date.now()) / 1000) + 2;
  for (let slice = 0; slice < maxSlices; slice++) {
    const remaining = deadline - Date.now();
    const seconds = Math.max(0, Math.min(1, remaining / 1000));
    const sql =
      flavour.kind === 'mariadb'
        ? 'SELECT MASTER_GTID_WAIT(?, ?) AS r'
        : 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r';
    const row =
      (await session.query(sql, [target, seconds], { timeoutMs: seconds * 1000 + 10_000 }))[0] ?? {};
    if (Number(row.r) === 0) return { reached: true };
    if (remaining <= 0) return { reached: false };
    const status = await readReplicaStatus(session, flavour);
    if (status && !status.sqlRunning && status.lastSqlErrno !== 0)
      return { reached: false, sqlError: status };
  }
  return { reached: false };
}

async function drain(
  session: MysqlSession,
  flavour: Flavour,
  status: ReplicaStatus,
  options: PromoteOptions,
  actions: string[],
): Promise<Drain> {
  const { log } = options;
  const started = Date.now();
  const deadline = started + options.catchUpTimeoutSec * 1000;
  const targetOf = (s: ReplicaStatus | null) =>
    (flavour.kind === 'mariadb' ? s?.gtidIoPos : s?.retrievedGtidSet) ?? '';

  if (!status.sqlRunning) {
    if (status.ioRunning === 'no' && flavour.kind === 'mariadb') {
      // Both threads stopped: any START now purges the relay log. Report what is stranded there.
      // (Read here only: on the usual path the applied position is read once the IO thread is
      // stopped, below, and a round trip more before read_only=0 is a round trip of downtime.)
      const applied0 = await appliedPosition(session, flavour);
      const target = targetOf(status);
      const gaps = positionGaps(parseGtidList(applied0), parseGtidList(target));
      const result: CatchUpResult = gaps.length === 0 ? 'not-needed' : 'stranded';
      log('promote.catch_up', {
        decision: result === 'stranded' ? 'cannot drain' : 'nothing to drain',
        reason: 'both replica threads are stopped; starting either would purge the relay log (MariaDB)',
        received: target,
        applied: applied0,
        unapplied: formatGtidList(gaps),
      });
      return {
        result,
        target,
        appliedBefore: applied0,
        waitedMs: 0,
        detail: `received ${target} but applied only ${applied0}; both replica threads were already stopped, so the relay log cannot be applied (starting a thread would purge it)`,
      };
    }
    log('promote.start_sql_thread', {
      reason: 'the SQL thread must run to apply what the relay log holds',
      io: status.ioRunning,
      lastSqlErrno: status.lastSqlErrno,
    });
    await session.query(replicationSql(flavour, 'START', 'SQL_THREAD'));
    actions.push('start-sql-thread');
  }
  if (options.topology === 'one-way' && status.ioRunning !== 'no') {
    // Freezes the target; the SQL thread keeps applying what is already in the relay log.
    log('promote.stop_io_thread', {
      reason: 'one-way: nothing more may arrive from the old primary once we decide to promote',
      io: status.ioRunning,
      source: `${status.sourceHost}:${status.sourcePort}`,
    });
    if (flavour.kind === 'mariadb' && options.semiSync !== 'off') {
      // Settable at any time: the IO thread reads it when it stops.
      await session.query(SEMI_SYNC_KILL_CONN_TIMEOUT_SQL);
      log('promote.semi_sync_kill_conn_timeout', {
        seconds: 1,
        reason:
          "stopping a semi-sync replica's IO thread first connects to the old primary to end its dump thread; when it is gone that connect waits ~2 s at MariaDB's default",
      });
    }
    await session.query(replicationSql(flavour, 'STOP', 'IO_THREAD'));
    actions.push('stop-io-thread');
  }

  const fresh = await readReplicaStatus(session, flavour);
  const target = targetOf(fresh ?? status);
  const applied = await appliedPosition(session, flavour);
  if (target === '' || (await targetReached(session, flavour, target, applied))) {
    log('promote.catch_up', { decision: 'nothing to wait for', received: target, applied });
    return {
      result: 'not-needed',
      target,
      appliedBefore: applied,
      waitedMs: Date.now() - started,
      detail: '',
    };
  }
  log('promote.catch_up', {
    decision: 'wait for the SQL thread',
    received: target,
    applied,
    timeoutSec: options.catchUpTimeoutSec,
  });
  const waitStart = Date.now();
  const outcome = await waitApplied(session, flavour, target, deadline);
  const waitedMs = Date.now() - waitStart;
  const appliedAfter = await appliedPosition(session, flavour);
  if (outcome.reached) {
    log('promote.caught_up', { received: target, applied: appliedAfter, waitedMs });
    return { result: 'caught-up', target, appliedBefore: applied, waitedMs, detail: '' };
  }
  if (outcome.sqlError) {
    const e = outcome.sqlError;
    return {
      result: 'sql-error',
      target,
      appliedBefore: applied,
      waitedMs,
      detail: `the SQL thread stopped with error ${e.lastSqlErrno}: ${e.lastSqlError}`,
    };
  }
  return {
    result: 'timeout',
    target,
    appliedBefore: applied,
    waitedMs,
    detail: `applied ${appliedAfter} of ${target} within ${options.catchUpTimeoutSec} s`,
  };
}

/**
 * After a refused promotion, give back the IO thread we stopped so the replica keeps following a
 * primary that may come back — but only while the SQL thread runs: starting a thread when both are
 * stopped would purge the relay log on MariaDB.
 */
async function resumeIoThread(
  session: MysqlSession,
  flavour: Flavour,
  actions: string[],
  log: StepLogger,
): Promise<void> {
  if (!actions.includes('stop-io-thread')) return;
  const status = await readReplicaStatus(session, flavour);
  if (status?.sqlRunning) {
    await session.query(replicationSql(flavour, 'START', 'IO_THREAD'));
    actions.push('start-io-thread');
    log('promote.resume_io_thread', {
      reason: 'promotion refused: keep following the old primary if it returns',
    });
  } else {
    log('promote.io_thread_left_stopped', {
      level: 'warn',
      reason: 'the SQL thread is stopped; starting the IO thread now would purge the relay log',
    });
  }
}

/** Before the first write: a writable server that acknowledges without its standby is what strict forbids. */
async function becomeStrictSemiSyncSource(session: MysqlSession, flavour: Flavour): Promise<void> {
  if (flavour.kind !== 'mariadb')
    throw new DatabaseError(
      `promotion of ${session.address}: mysql.semi_sync strict is implemented for MariaDB only (this is ${flavour.versionString}); use expected`,
    );
  for (const statement of semiSyncSourceSettings()) await session.query(statement);
}

/**
 * What the fenced old primary logged that this server does not hold, described. Per domain first:
 * has this server applied as far as the old primary logged (gtid_current_pos, whatever
 * log_slave_updates is)? When it logs what it replicates, also per server id, which catches
 * 0-1-7 against 0-2-7; without it its binlog state lacks the replicated transactions. Pure.
 */
export function missingFromOldPrimary(facts: {
  oldState: string;
  hereState: string;
  herePosition: string;
  logsReplicated: boolean;
}): string[] {
  const oldState = parseGtidList(facts.oldState);
  const behind = positionGaps(parseGtidList(facts.herePosition), lastPerDomain(oldState)).map(
    (g) => `${formatGtid(g)} (applied here: not that far)`,
  );
  if (behind.length > 0 || !facts.logsReplicated) return behind;
  return extraTransactions(oldState, parseGtidList(facts.hereState)).map(describeExtra);
}

async function missingHere(
  session: MysqlSession,
  oldState: string,
): Promise<{ missing: string[]; here: string }> {
  const row =
    (
      await session.query(
        'SELECT @@GLOBAL.gtid_binlog_state AS state, @@GLOBAL.gtid_current_pos AS cur, @@GLOBAL.log_slave_updates AS lsu',
      )
    )[0] ?? {};
  const here = String(row.state ?? '');
  const missing = missingFromOldPrimary({
    oldState,
    hereState: here,
    herePosition: String(row.cur ?? ''),
    logsReplicated: isOn(row.lsu),
  });
  return { missing, here };
}

/**
 * After the drain, before anything is stopped or made writable: every transaction the fenced old
 * primary logged must be here. A node whose lineage still named itself the primary (its own
 * demotion failed) skips the drain and would otherwise discard what the peer acknowledged since
 * (chaos, async notify-burst: 12 writes). Missing some, it catches up from the fenced old primary
 * when it may (catchUpFrom), within catch_up_timeout; failing that it is refused: the server stays
 * read-only and keeps (or gets back) its replication. Under strict semi-sync what this server
 * lacks was never acknowledged (an OK needs its ACK), so it is only logged.
 *
 * Returns true when this server now replicates from the old primary (it caught up from it).
 */
async function holdEverythingTheOldPrimaryLogged(
  session: MysqlSession,
  flavour: Flavour,
  options: PromoteOptions,
  actions: string[],
  /** When the promotion began: the drain and this catch-up share one catch_up_timeout. */
  startedAt: number,
  undo: () => Promise<void>,
): Promise<boolean> {
  const old = options.oldPrimary;
  if (!old || flavour.kind !== 'mariadb') return false;
  const { missing, here } = await missingHere(session, old.state);
  if (missing.length === 0) {
    options.log('promote.holds_old_primary', { oldPrimary: old.node, oldPrimaryState: old.state, here });
    return false;
  }
  if (options.semiSync === 'strict') {
    options.log('promote.old_primary_unacknowledged', {
      level: 'warn',
      oldPrimary: old.node,
      missing,
      reason:
        'strict semi-sync: the old primary logged them without this server acknowledging them, so no client was told they committed; it comes back diverged and is rebuilt',
    });
    return false;
  }
  let why = 'no replication account or address to catch up from (mysql.replication_credentials_file)';
  if (options.catchUpFrom) {
    const caught = await catchUpFromOldPrimary(session, flavour, {
      oldPrimary: old.node,
      source: options.catchUpFrom,
      // What the drain left of catch_up_timeout (at least a second to notice an IO error): the
      // step's own timeout is catch_up_timeout + 15 s, and a second full wait would outlive it.
      timeoutMs: Math.max(1_000, options.catchUpTimeoutSec * 1000 - (Date.now() - startedAt)),
      missingNow: async () => (await missingHere(session, old.state)).missing,
      log: options.log,
      actions,
    });
    if (caught.caughtUp) {
      options.log('promote.caught_up_from_old_primary', {
        level: 'warn',
        oldPrimary: old.node,
        was_missing: missing,
        waited_ms: caught.waitedMs,
        reason: `${caught.detail}: nothing it acknowledged is discarded`,
      });
      return true;
    }
    why = caught.detail;
  }
  await undo();
  options.log('promote.refused', {
    level: 'error',
    oldPrimary: old.node,
    oldPrimaryState: old.state,
    here,
    missing,
    catch_up: why,
    decision: 'stay read-only',
    reason: `the fenced old primary ${old.node} logged transactions this server does not hold: promoting would discard them`,
  });
  throw new OldPrimaryAhead(
    `promotion of ${session.address} refused: the fenced old primary ${old.node} holds ${missing.join(', ')}, which this server lacks (not received before the fence), and catching up from it failed (${why}); it stays read-only. ` +
      `Let this server replicate from ${old.node} until it holds them and promote again, or promote ${old.node} instead`,
    missing,
  );
}

/** Stops the promotion, read-only, when the caller no longer wants it (options.stillWanted). */
async function abandonIfUnwanted(
  session: MysqlSession,
  options: PromoteOptions,
  actions: string[],
  where: string,
  undo: () => Promise<void>,
): Promise<void> {
  const gone = options.stillWanted?.();
  if (gone === undefined) return;
  await undo();
  options.log('promote.abandoned', {
    level: 'warn',
    where,
    reason: gone,
    decision: 'stay read-only',
    actions,
  });
  throw new PromotionAbandoned(`promotion of ${session.address} abandoned ${where}: ${gone}`);
}

/** One-way: the new primary replicates from nobody. */
async function removeReplication(session: MysqlSession, flavour: Flavour, actions: string[]): Promise<void> {
  // STOP waits for the SQL thread to finish its current transaction: give it time.
  await session.query(replicationSql(flavour, 'STOP'), [], { timeoutMs: 60_000 });
  await session.query(replicationSql(flavour, 'RESET ALL'));
  actions.push('stop-replication', 'reset-replication-all');
}

export async function promote(session: MysqlSession, options: PromoteOptions): Promise<PromoteReport> {
  const started = Date.now();
  const { log } = options;
  const actions: string[] = [];
  const flavour = await detectFlavour(session);
  const before = await readReadOnly(session, flavour);
  const status = await readReplicaStatus(session, flavour);
  const semi = await readSemiSync(session);
  // Semi-sync only speaks about an old primary's writes; a server that replicated from nobody had none.
  const verdict = status
    ? semiSyncVerdict(semi)
    : 'not a replica before this promotion: no old primary, so no writes of one to account for';
  const semiSync = { ...semi, expected: options.semiSync !== 'off', verdict };
  log('promote.seen', {
    server: session.address,
    flavour: describeFlavour(flavour),
    topology: options.topology,
    readOnly: before.readOnly,
    superReadOnly: before.superReadOnly,
    replica: status
      ? {
          io: status.ioRunning,
          sql: status.sqlRunning,
          lag: status.lagSeconds,
          source: `${status.sourceHost}:${status.sourcePort}`,
          lastIoErrno: status.lastIoErrno,
          lastSqlErrno: status.lastSqlErrno,
        }
      : null,
  });
  log('promote.semi_sync', {
    ...semi,
    expected: options.semiSync,
    verdict: semiSync.verdict,
    level: options.semiSync !== 'off' && !semi.replicaActive ? 'warn' : 'info',
  });

  let drained: Drain = { result: 'not-needed', target: null, appliedBefore: null, waitedMs: 0, detail: '' };
  let outcome: PromoteReport['outcome'] = 'promoted';
  if (status) {
    if (status.ioRunning === 'yes') {
      log('promote.source_alive', {
        level: 'warn',
        source: `${status.sourceHost}:${status.sourcePort}`,
        reason:
          'the IO thread is still connected: if that server is writable, two writable databases exist until it is demoted',
      });
    }
    // A standby left a semi-sync source (demoted by an older hactl, or by hand) has a SQL thread
    // waiting for an ACK nobody sends: release it, or the drain below cannot finish (issue 12).
    if (options.semiSync === 'strict' && flavour.kind === 'mariadb' && semi.sourceEnabled)
      await stopSemiSyncSource(session, log, actions, 'promote.semi_sync_source_off');
    drained = await drain(session, flavour, status, options, actions);
    const failed = drained.result !== 'not-needed' && drained.result !== 'caught-up';
    if (failed) {
      if (options.onCatchUpTimeout === 'stay-read-only') {
        await resumeIoThread(session, flavour, actions, log);
        log('promote.refused', {
          level: 'error',
          result: drained.result,
          detail: drained.detail,
          decision: 'stay read-only',
          reason: 'policy stay-read-only: promoting now would discard received writes',
        });
        throw new CatchUpTimeout(
          `promotion of ${session.address} refused: ${drained.detail}; the server stays read-only (policy stay-read-only). ` +
            'Let replication finish (check `hactl check replication --caught-up`) and promote again, or set on_catch_up_timeout: promote-anyway to accept losing them',
          {
            reason: drained.result as CatchUpTimeout['reason'],
            target: drained.target,
            applied: drained.appliedBefore,
          },
        );
      }
      log('promote.catch_up_abandoned', {
        level: 'error',
        result: drained.result,
        detail: drained.detail,
        decision: 'promote anyway',
        reason: 'policy promote-anyway: received but unapplied transactions will be LOST',
      });
      outcome = 'promoted-without-catch-up';
    }
    await holdEverythingTheOldPrimaryLogged(session, flavour, options, actions, started, async () => {
      await resumeIoThread(session, flavour, actions, log);
    });
    // Before anything is recorded or removed: abandoned here, the server is the replica it was.
    await abandonIfUnwanted(session, options, actions, 'before it changed anything', async () => {
      await resumeIoThread(session, flavour, actions, log);
    });
    await options.takingOver?.(await appliedPosition(session, flavour));
    if (options.topology === 'one-way') {
      await removeReplication(session, flavour, actions);
      log('promote.replication_removed', {
        reason: 'one-way topology: the new primary replicates from nobody',
      });
    } else {
      log('promote.replication_kept', {
        reason: 'dual-master topology: the link to the peer stays; only read_only flips',
      });
    }
  }

  if (
    !status &&
    (await holdEverythingTheOldPrimaryLogged(
      session,
      flavour,
      options,
      actions,
      started,
      async () => undefined,
    ))
  ) {
    // Not a replica before: it replicated only to catch up, and keeps that link only where the
    // topology has one.
    if (options.topology === 'one-way') await removeReplication(session, flavour, actions);
  }

  if (options.semiSync === 'strict') {
    await becomeStrictSemiSyncSource(session, flavour);
    actions.push('semi-sync-strict-source');
    log('promote.semi_sync_strict', {
      reason: 'strict semi-sync: from now on a commit is acknowledged only once the standby has it',
    });
  }
  if (before.readOnly || before.superReadOnly) {
    // A promotion takes hundreds of ms; the peer may have been handed the VIPs and fenced this
    // server meanwhile. Turning read_only off then would make two writable databases.
    await abandonIfUnwanted(session, options, actions, 'before read_only=OFF', async () => undefined);
    await setReadOnly(session, flavour, false);
    actions.push('read-only-off');
  } else if (!status) {
    outcome = 'already-primary';
  }
  const after = await readReadOnly(session, flavour);
  if (after.readOnly || after.superReadOnly) {
    throw new DatabaseError(
      `promotion of ${session.address}: read_only is still ON after SET GLOBAL read_only=OFF (is another tool setting it?)`,
    );
  }
  const gtid = await readGtidState(session, flavour);
  const report: PromoteReport = {
    server: session.address,
    flavour: describeFlavour(flavour),
    topology: options.topology,
    outcome,
    wasReadOnly: before.readOnly || before.superReadOnly,
    wasReplica: status !== null,
    catchUp: {
      result: drained.result,
      target: drained.target,
      appliedBefore: drained.appliedBefore,
      waitedMs: drained.waitedMs,
    },
    gtidPosition: gtid.position,
    semiSync,
    actions,
    durationMs: Date.now() - started,
  };
  log('promote.done', {
    outcome,
    actions,
    gtidPosition: gtid.position,
    catchUp: report.catchUp.result,
    durationMs: report.durationMs,
  });
  return report;
}
