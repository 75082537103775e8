/**
 * Demotion: become read-only, end every client session (read_only=1 returns while an open
 * transaction can still commit), re-read what we have logged, and only if the peer really is the
 * writable primary and holds everything we logged, replicate from it. Divergence stops here with
 * the exact extra GTIDs; nothing is reset automatically.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { endClientSessions } from './client-sessions.js';
import { commitsMayWaitForAck, setReadOnlyEndingBlockers } from './read-only-blockers.js';
import { connectWith, type MysqlSession } from './connection.js';
import { DatabaseError } from './errors.js';
import { describeFlavour, detectFlavour, type Flavour } from './flavour.js';
import {
  describeExtra,
  extraTransactions,
  formatGtid,
  formatGtidList,
  gtidOfBinlogEvent,
  isExtra,
  lastPerDomain,
  parseGtidList,
  positionReached,
  type ExtraTransactions,
  type MariadbGtid,
} from './gtid.js';
import type { Topology } from './promote.js';
import {
  explainErrno,
  readReplicaStatus,
  TRANSIENT_IO_ERRNOS,
  type ReplicaStatus,
} from './replica-status.js';
import {
  isOn,
  readGtidState,
  readReadOnly,
  replicationSql,
  setReadOnly,
  type StepLogger,
} from './server-state.js';
import { SEMI_SYNC_REPLICA_SETTING, SEMI_SYNC_SOURCE_OFF } from './semi-sync.js';
import { endStaleDumpsBeforeStart } from './stale-dumps.js';

export interface DemoteOptions {
  topology: Topology;
  /** strict: a re-pointed replica acknowledges (semi-sync) before its IO thread starts. */
  semiSync?: 'off' | 'expected' | 'strict';
  /** Where the peer (the primary to replicate from) listens, as this server must reach it. */
  peer?: { host: string; port: number };
  /** An open session to the peer; otherwise we connect with the replication account. */
  peerSession?: MysqlSession;
  /**
   * Opens a second session to the server being demoted (same account, bounded in time). Under
   * semi-sync it ends the commits waiting for an ACK while read_only is pending, and under any
   * setting whatever read_only still waits for after a third of its budget; without it read_only
   * waits for them (for ever under strict, i.e. until its statement times out).
   */
  openSession?: () => Promise<MysqlSession>;
  /** read_only's statement timeout, the bound for ending what it waits for (default 5000). */
  readOnlyTimeoutMs?: number;
  replication?: { user: string; password: string };
  log: StepLogger;
  /** Bound for connecting to the peer and for the IO thread to connect (default 10). */
  connectTimeoutSec?: number;
  /**
   * When the peer is not (yet) a writable primary, keep looking for up to timeoutSec while
   * keepWaiting() holds: right after a failover, or at start-up when both nodes are BACKUP, the
   * peer becomes primary a moment later, and this node must then replicate from it.
   */
  waitForPrimary?: { timeoutSec: number; keepWaiting: () => boolean; signal?: AbortSignal };
}

export interface DemoteReport {
  server: string;
  flavour: string;
  topology: Topology;
  wasReadOnly: boolean;
  killedSessions: number[];
  /** gtid_binlog_pos (MariaDB) / gtid_executed (MySQL) after the sessions were gone. */
  gtidPosition: string;
  repoint: {
    result: 'repointed' | 'already-replicating' | 'skipped';
    reason: string;
    peer: string | null;
    /** The peer's GTID position as seen while it was the writable primary (null if not seen so). */
    peerPosition: string | null;
  };
  replication: { io: ReplicaStatus['ioRunning']; sql: boolean; caughtUp: boolean } | null;
  actions: string[];
  durationMs: number;
}

/** This server holds transactions its primary lacks: re-pointing would fail (1236/1950) or hide them. */
export class DivergedError extends DatabaseError {
  readonly extraGtids: string[];
  readonly peer: string;
  readonly peerPosition: string;
  readonly recovery: string;
  constructor(
    server: string,
    peer: { address: string; position: string },
    extraGtids: string[],
    cause: string,
    recovery: string,
  ) {
    super(
      `${server} has diverged from its primary ${peer.address}: ${cause}. Extra transactions here: ${extraGtids.join(', ') || 'see the error above'}. ` +
        `It stays read-only and is not re-pointed; a human must reconcile. ${recovery}`,
      'DivergedError',
    );
    this.extraGtids = extraGtids;
    this.peer = peer.address;
    this.peerPosition = peer.position;
    this.recovery = recovery;
  }
}

function recoveryText(flavour: Flavour, peer: string): string {
  if (flavour.kind === 'mariadb') {
    return (
      `Way back: \`hactl rebuild --discard <the extra GTIDs above>\` on this node copies ${peer} here and re-points it (see \`hactl rebuild --help\`); by hand: (1) rebuild this node from ${peer} (mariadb-backup --backup there, --prepare, restore here, ` +
      "SET GLOBAL gtid_slave_pos to the backup's GTID position, CHANGE MASTER TO … MASTER_USE_GTID=slave_pos, START SLAVE); or " +
      '(2) after inspecting them with mariadb-binlog and replaying what matters on the primary, discard the extra transactions ' +
      "from replication's view: SET GLOBAL gtid_slave_pos='<the primary's gtid_binlog_pos>' and re-point (their rows stay on this node only, so a rebuild is still advised)."
    );
  }
  return (
    `Way back: (1) rebuild this node from ${peer} (clone plugin or a backup, then CHANGE REPLICATION SOURCE TO … SOURCE_AUTO_POSITION=1); or ` +
    '(2) after inspecting and replaying what matters on the primary, inject empty transactions with those GTIDs on the primary so they are ignored (their rows stay on this node only).'
  );
}

/**
 * Ends every client session (three passes, each logged) and waits up to 5 s for them to be gone:
 * a killed session rolls back before it disappears, and the position must be read after that.
 */
async function killClientSessions(session: MysqlSession, log: StepLogger): Promise<number[]> {
  const killed = await endClientSessions(session, {
    passes: 3,
    waitMs: 5_000,
    pollMs: 50,
    onPass: (pass, sessions) => log('demote.killed_sessions', { pass, sessions }),
  });
  return killed.map((k) => k.id);
}

/**
 * read_only, with what it waits for ended from a second connection while it is pending: under
 * semi-sync commits held by an ACK that cannot come, at once; any other blocker (a long statement,
 * a table lock) once it has waited a third of its budget (src/mysql/read-only-blockers.ts).
 */
async function becomeReadOnly(
  session: MysqlSession,
  flavour: Flavour,
  options: DemoteOptions,
): Promise<number[]> {
  const { log } = options;
  if (!options.openSession) {
    await setReadOnly(session, flavour, true);
    return [];
  }
  const report = await setReadOnlyEndingBlockers(session, flavour, {
    openSecond: options.openSession,
    timeoutMs: options.readOnlyTimeoutMs ?? 5_000,
    ackWaits: commitsMayWaitForAck(options.semiSync),
    onProblem: (problem) => log('demote.read_only_waits_not_ended', { level: 'warn', reason: problem }),
  });
  if (report.ended.length > 0)
    log('demote.ended_commits_awaiting_ack', {
      sessions: report.ended,
      rounds: report.rounds,
      readOnlyMs: report.ms,
      reason:
        'read_only waits for the commits in progress and a commit waited for a semi-sync ACK that was not coming, so the statements in progress were ended (the one waiting last) while read_only was pending; their clients were never told they committed',
    });
  if (report.endedBlockers.length > 0)
    log('demote.ended_read_only_blockers', {
      level: 'warn',
      sessions: report.endedBlockers,
      readOnlyMs: report.ms,
      reason:
        'read_only was still waiting (a long statement or a table lock); the sessions it waited for were ended while it was pending, as the demotion ends every client session right after',
    });
  return [...report.ended, ...report.endedBlockers].map((k) => k.id);
}

export interface PeerState {
  address: string;
  readOnly: boolean;
  serverId: number;
  position: string;
  binlogState: string | null;
}

async function readPeer(peer: MysqlSession, flavour: Flavour, address: string): Promise<PeerState> {
  const sql =
    flavour.kind === 'mariadb'
      ? 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.server_id AS id, @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_binlog_state AS state'
      : 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.server_id AS id, @@GLOBAL.gtid_executed AS pos, NULL AS state';
  const row = (await peer.query(sql))[0] ?? {};
  return {
    address,
    readOnly: isOn(row.ro),
    serverId: Number(row.id),
    position: String(row.pos ?? '').replace(/\s+/g, ''),
    binlogState: row.state === null || row.state === undefined ? null : String(row.state),
  };
}

/** The exact GTIDs behind each extra (domain, server) from our own binlogs; bounded scan of the newest files. */
async function exactExtraGtids(session: MysqlSession, extras: ExtraTransactions[]): Promise<string[]> {
  const found: MariadbGtid[] = [];
  try {
    const logs = await session.query('SHOW BINARY LOGS');
    const files = logs
      .map((r) => String(r.Log_name ?? ''))
      .filter(Boolean)
      .reverse()
      .slice(0, 5);
    for (const file of files) {
      const events = await session.query('SHOW BINLOG EVENTS IN ? LIMIT 50000', [file]);
      for (const e of events) {
        const g = gtidOfBinlogEvent(e);
        if (g && isExtra(g, extras) && !found.some((f) => formatGtid(f) === formatGtid(g))) found.push(g);
      }
    }
  } catch {
    /* binlog not readable: fall back to the summary */
  }
  if (found.length === 0) return extras.map(describeExtra);
  found.sort(
    (a, b) => a.domain - b.domain || a.server - b.server || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0),
  );
  const list = found.slice(0, 100).map(formatGtid);
  if (found.length > 100) list.push(`… ${found.length - 100} more`);
  return list;
}

/** MariaDB: per domain, the later of what we applied as a replica and what we logged ourselves. */
function mergedSlavePos(slavePos: string, binlogPos: string): string {
  const merged = lastPerDomain([...parseGtidList(slavePos), ...parseGtidList(binlogPos)]);
  return formatGtidList(merged.sort((a, b) => a.domain - b.domain));
}

export async function demote(session: MysqlSession, options: DemoteOptions): Promise<DemoteReport> {
  const started = Date.now();
  const { log } = options;
  const actions: string[] = [];
  const timeoutMs = (options.connectTimeoutSec ?? 10) * 1000;
  const flavour = await detectFlavour(session);
  const before = await readReadOnly(session, flavour);
  log('demote.seen', {
    server: session.address,
    flavour: describeFlavour(flavour),
    topology: options.topology,
    readOnly: before.readOnly,
    superReadOnly: before.superReadOnly,
  });

  const stuck = await becomeReadOnly(session, flavour, options);
  actions.push('read-only-on');
  const killedSessions = [...new Set([...stuck, ...(await killClientSessions(session, log))])];
  if (killedSessions.length > 0) actions.push(`killed-${killedSessions.length}-sessions`);
  const gtid = await readGtidState(session, flavour);
  log('demote.read_only', {
    gtidPosition: gtid.position,
    binlogState: gtid.binlogState,
    slavePos: gtid.slavePos,
    reason: 'sessions that could still commit are gone; this position is final',
  });
  if (options.semiSync === 'strict' && flavour.kind === 'mariadb')
    await stopSemiSyncSource(session, log, actions);

  const base = {
    server: session.address,
    flavour: describeFlavour(flavour),
    topology: options.topology,
    wasReadOnly: before.readOnly || before.superReadOnly,
    killedSessions,
    gtidPosition: gtid.position,
    actions,
  };
  const finish = (
    repoint: DemoteReport['repoint'],
    replication: DemoteReport['replication'],
  ): DemoteReport => {
    const report = { ...base, repoint, replication, durationMs: Date.now() - started };
    log('demote.done', {
      repoint: repoint.result,
      reason: repoint.reason,
      actions,
      durationMs: report.durationMs,
    });
    return report;
  };

  if (!options.peer)
    return finish(
      { result: 'skipped', reason: 'no peer given: read-only only', peer: null, peerPosition: null },
      null,
    );
  const peerAddress = `${options.peer.host}:${options.peer.port}`;
  const lookAtPeer = async (): Promise<PeerState | string> => {
    let peerSession = options.peerSession;
    const ownPeerSession = peerSession === undefined;
    if (!peerSession) {
      if (!options.replication)
        throw new DatabaseError(
          `demote: re-pointing to ${peerAddress} needs the replication account (replication credentials file)`,
        );
      try {
        peerSession = await connectWith(
          {
            user: options.replication.user,
            password: options.replication.password,
            host: options.peer!.host,
            port: options.peer!.port,
          },
          { timeoutMs },
        );
      } catch (error) {
        return `peer unreachable (${(error as Error).message}); staying read-only without re-pointing`;
      }
    }
    try {
      return await readPeer(peerSession, flavour, peerAddress);
    } finally {
      if (ownPeerSession) await peerSession.close();
    }
  };
  const notPrimary =
    'the peer is read-only, so it is not a primary; not re-pointing (a later transition re-points this node once the peer is writable)';
  const wait = options.waitForPrimary;
  const deadline = Date.now() + (wait?.timeoutSec ?? 0) * 1000;
  let seen = await lookAtPeer();
  let waited = false;
  // Bounded by the deadline; each round costs one connection attempt at most timeoutMs long.
  for (let round = 0; round < 10_000; round++) {
    const primary = typeof seen !== 'string' && !seen.readOnly;
    if (primary || !wait || Date.now() >= deadline || wait.signal?.aborted || !wait.keepWaiting()) break;
    if (!waited)
      log('demote.waiting_for_primary', {
        peer: peerAddress,
        timeoutSec: wait.timeoutSec,
        seen: typeof seen === 'string' ? seen : 'read-only',
      });
    waited = true;
    await sleep(250);
    seen = await lookAtPeer();
  }
  if (typeof seen === 'string') {
    log('demote.peer_unreachable', { peer: peerAddress, reason: seen });
    return finish({ result: 'skipped', reason: seen, peer: peerAddress, peerPosition: null }, null);
  }
  const peer = seen;
  const ownId = Number((await session.query('SELECT @@GLOBAL.server_id AS id'))[0]?.id);
  log('demote.peer', {
    peer: peerAddress,
    readOnly: peer.readOnly,
    serverId: peer.serverId,
    position: peer.position,
    binlogState: peer.binlogState,
    waited,
  });
  if (peer.serverId === ownId)
    throw new DatabaseError(
      `demote: the peer ${peerAddress} is this server itself (server_id ${ownId}); fix the peer address`,
    );
  if (peer.readOnly) {
    const reason = waited ? `${notPrimary} (still read-only after waiting)` : notPrimary;
    log('demote.repoint_skipped', { peer: peerAddress, reason });
    return finish({ result: 'skipped', reason, peer: peerAddress, peerPosition: null }, null);
  }

  await refuseIfDiverged(session, flavour, gtid, peer, log);

  const current = await readReplicaStatus(session, flavour);
  if (
    current &&
    current.sourceHost === options.peer.host &&
    current.sourcePort === options.peer.port &&
    current.ioRunning === 'yes' &&
    current.sqlRunning
  ) {
    log('demote.repoint_skipped', {
      peer: peerAddress,
      reason: 'already replicating from the peer with both threads running',
    });
    return finish(
      {
        result: 'already-replicating',
        reason: 'already replicating from the peer',
        peer: peerAddress,
        peerPosition: peer.position,
      },
      { io: current.ioRunning, sql: current.sqlRunning, caughtUp: false },
    );
  }
  if (!options.replication)
    throw new DatabaseError(
      `demote: re-pointing to ${peerAddress} needs the replication account (replication credentials file)`,
    );
  if (current) {
    await session.query(replicationSql(flavour, 'STOP'));
    actions.push('stop-replication');
  }
  await changeSource(session, flavour, gtid, options.peer, options.replication, log, actions, {
    connectTimeoutMs: timeoutMs,
  });
  if (options.semiSync === 'strict' && flavour.kind === 'mariadb') {
    await session.query(SEMI_SYNC_REPLICA_SETTING);
    actions.push('semi-sync-replica');
  }
  await session.query(replicationSql(flavour, 'START'));
  actions.push('start-replication');
  const replication = await verifyReplication(session, flavour, peer, timeoutMs, log);
  return finish(
    {
      result: 'repointed',
      reason: 'the peer is the writable primary and holds everything this server logged',
      peer: peerAddress,
      peerPosition: peer.position,
    },
    replication,
  );
}

async function refuseIfDiverged(
  session: MysqlSession,
  flavour: Flavour,
  gtid: Awaited<ReturnType<typeof readGtidState>>,
  peer: PeerState,
  log: StepLogger,
): Promise<void> {
  let extras: string[] = [];
  if (flavour.kind === 'mariadb') {
    const found = extraTransactions(parseGtidList(gtid.binlogState), parseGtidList(peer.binlogState));
    if (found.length > 0) extras = await exactExtraGtids(session, found);
  } else {
    const row =
      (await session.query('SELECT GTID_SUBTRACT(?, ?) AS extra', [gtid.position, peer.position]))[0] ?? {};
    const extra = String(row.extra ?? '').replace(/\s+/g, '');
    if (extra !== '') extras = extra.split(',');
  }
  if (extras.length === 0) {
    log('demote.divergence_check', {
      result: 'none',
      local: gtid.binlogState ?? gtid.position,
      peer: peer.binlogState ?? peer.position,
    });
    return;
  }
  log('demote.diverged', {
    level: 'error',
    extraGtids: extras,
    peer: peer.address,
    decision: 'stay read-only, do not re-point',
    reason: 'this server logged transactions the primary does not have',
  });
  throw new DivergedError(
    session.address,
    peer,
    extras,
    'it holds transactions the primary never received',
    recoveryText(flavour, peer.address),
  );
}

/**
 * Points replication at `peer`, asking for what follows everything this server holds, and ends
 * the binlog dumps a cut left there for this server (src/mysql/stale-dumps.ts): the caller's
 * START SLAVE must not be the one to end them.
 */
export async function changeSource(
  session: MysqlSession,
  flavour: Flavour,
  gtid: Awaited<ReturnType<typeof readGtidState>>,
  peer: { host: string; port: number },
  account: { user: string; password: string },
  log: StepLogger,
  actions: string[],
  options: { step?: 'demote' | 'promote'; connectTimeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const step = options.step ?? 'demote';
  const secrets = [account.password];
  if (flavour.kind === 'mariadb') {
    const want = mergedSlavePos(gtid.slavePos ?? '', gtid.position);
    if (want !== gtid.slavePos) {
      await session.query('SET GLOBAL gtid_slave_pos = ?', [want]);
      actions.push('set-gtid-slave-pos');
      log(`${step}.gtid_slave_pos`, {
        from: gtid.slavePos,
        to: want,
        reason: 'ask the primary for what comes after everything this server logged',
      });
    }
    await session.query(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1',
      [peer.host, peer.port, account.user, account.password],
      { secrets },
    );
  } else if (flavour.changeSourceStyle === 'source') {
    await session.query(
      'CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_AUTO_POSITION = 1, SOURCE_CONNECT_RETRY = 1',
      [peer.host, peer.port, account.user, account.password],
      { secrets },
    );
  } else {
    await session.query(
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_AUTO_POSITION = 1, MASTER_CONNECT_RETRY = 1',
      [peer.host, peer.port, account.user, account.password],
      { secrets },
    );
  }
  actions.push('change-source');
  log(`${step}.change_source`, {
    host: peer.host,
    port: peer.port,
    user: account.user,
    gtid: flavour.kind === 'mariadb' ? 'slave_pos' : 'auto_position',
  });
  await endStaleDumpsBeforeStart(
    { ...account, host: peer.host, port: peer.port },
    {
      timeoutMs: options.connectTimeoutMs,
      log,
      step,
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
}

/**
 * A standby is no semi-sync source. Left ON (strict: no async fallback, wait_no_slave), every
 * transaction its SQL thread applies is logged (log_slave_updates) and then waits AFTER_SYNC for an
 * ACK from a replica of its own, which it never has: replication runs, shows no error and applies
 * nothing, and the next promotion cannot drain (issue 12). Safe only once no client session is
 * left: a waiting commit released here would be acknowledged without the new primary having it.
 */
export async function stopSemiSyncSource(
  session: MysqlSession,
  log: StepLogger,
  actions: string[],
  event = 'demote.semi_sync_source_off',
): Promise<void> {
  const row = (await session.query('SELECT @@GLOBAL.rpl_semi_sync_master_enabled AS on_'))[0] ?? {};
  if (!isOn(row.on_)) return;
  await session.query(SEMI_SYNC_SOURCE_OFF);
  actions.push('semi-sync-source-off');
  log(event, {
    reason:
      'a standby waits for no acknowledgement: with the source side on, its SQL thread would wait forever for an ACK of what it applies',
  });
}

const DIVERGENCE_ERRNOS = new Set([1236, 1950]);
/** How often one verification starts an IO thread again after a transient stream error. */
const IO_RESTARTS = 3;

/** Polls until both threads run and we applied the peer's position, or a divergence error shows. */
export async function verifyReplication(
  session: MysqlSession,
  flavour: Flavour,
  peer: PeerState,
  timeoutMs: number,
  log: StepLogger,
): Promise<DemoteReport['replication']> {
  const deadline = Date.now() + timeoutMs;
  let status: ReplicaStatus | null = null;
  let restarts = 0;
  for (let i = 0; i < Math.ceil(timeoutMs / 100) + 1; i++) {
    status = await readReplicaStatus(session, flavour);
    if (!status) break;
    if (status.ioRunning === 'no' && TRANSIENT_IO_ERRNOS.has(status.lastIoErrno) && restarts < IO_RESTARTS) {
      restarts++;
      log('demote.io_thread_restarted', {
        level: 'warn',
        errno: status.lastIoErrno,
        error: status.lastIoError,
        restart: restarts,
        reason: 'the IO thread stopped on an error in transit, not on a source that lacks what it asks for',
      });
      await session.query(replicationSql(flavour, 'START', 'IO_THREAD'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const errno = DIVERGENCE_ERRNOS.has(status.lastIoErrno)
      ? status.lastIoErrno
      : DIVERGENCE_ERRNOS.has(status.lastSqlErrno)
        ? status.lastSqlErrno
        : 0;
    if (errno !== 0) {
      await session.query(replicationSql(flavour, 'STOP'));
      const text = errno === status.lastIoErrno ? status.lastIoError : status.lastSqlError;
      log('demote.diverged', {
        level: 'error',
        errno,
        error: text,
        decision: 'stop replication, stay read-only',
      });
      const gtids = [...text.matchAll(/\b\d+-\d+-\d+\b/g)].map((m) => m[0]);
      throw new DivergedError(
        session.address,
        peer,
        gtids,
        `replication stopped with error ${errno} (${explainErrno(errno)}): ${text}`,
        recoveryText(flavour, peer.address),
      );
    }
    if (status.ioRunning === 'yes' && status.sqlRunning) {
      const applied = await readGtidState(session, flavour);
      const caughtUp =
        flavour.kind === 'mariadb'
          ? positionReached(parseGtidList(applied.slavePos), parseGtidList(peer.position))
          : Number(
              (await session.query('SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed) AS ok', [peer.position]))[0]
                ?.ok,
            ) === 1;
      if (caughtUp) {
        log('demote.replicating', { io: status.ioRunning, sql: status.sqlRunning, caughtUp });
        return { io: status.ioRunning, sql: status.sqlRunning, caughtUp };
      }
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (status && status.ioRunning === 'yes' && status.sqlRunning) {
    log('demote.replicating', {
      io: status.ioRunning,
      sql: status.sqlRunning,
      caughtUp: false,
      reason: 'threads run; not caught up with the peer yet',
    });
    return { io: status.ioRunning, sql: status.sqlRunning, caughtUp: false };
  }
  const detail = status
    ? `IO ${status.ioRunning}, SQL ${status.sqlRunning ? 'running' : 'stopped'}${status.lastIoErrno ? `, IO error ${status.lastIoErrno}: ${status.lastIoError}` : ''}${status.lastSqlErrno ? `, SQL error ${status.lastSqlErrno}: ${status.lastSqlError}` : ''}`
    : 'no replica status';
  log('demote.not_replicating', { level: 'error', detail, timeoutMs });
  throw new DatabaseError(
    `${session.address} is read-only and points at ${peer.address}, but replication did not run within ${timeoutMs / 1000} s: ${detail}`,
  );
}
