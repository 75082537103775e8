/**
 * Replica status by column name, whatever the server calls them: MySQL ≤ 8.0.21 and MariaDB say
 * Slave_* / Master_*, MySQL ≥ 8.0.22's SHOW REPLICA STATUS says Replica_* / Source_*.
 */
import type { MysqlSession, Row } from './connection.js';
import type { Flavour } from './flavour.js';
import { normalizeMysqlGtidSet } from './gtid.js';

export interface ReplicaStatus {
  ioRunning: 'yes' | 'no' | 'connecting';
  sqlRunning: boolean;
  /** Seconds_Behind_*; null while the IO thread connects or the SQL thread is stopped. */
  lagSeconds: number | null;
  lastIoErrno: number;
  lastIoError: string;
  lastSqlErrno: number;
  lastSqlError: string;
  sourceHost: string;
  sourcePort: number | null;
  /** MariaDB Using_Gtid (slave_pos/current_pos/no), MySQL Auto_Position (auto_position/no). */
  usingGtid: 'no' | 'slave_pos' | 'current_pos' | 'auto_position';
  /** MariaDB: GTID position received by the IO thread. */
  gtidIoPos: string | null;
  /** MySQL: received / executed GTID sets, whitespace removed. */
  retrievedGtidSet: string | null;
  executedGtidSet: string | null;
  /** Configured MASTER_DELAY / SOURCE_DELAY in seconds. */
  sqlDelay: number;
  sqlState: string;
  ioState: string;
}

function pick(row: Row, ...names: string[]): unknown {
  for (const name of names) if (name in row) return row[name];
  return undefined;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

function int(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(text(value));
  return Number.isFinite(n) ? n : null;
}

export function parseReplicaStatus(row: Row, flavour: Pick<Flavour, 'kind'>): ReplicaStatus {
  const io = pick(row, 'Replica_IO_Running', 'Slave_IO_Running');
  const sql = pick(row, 'Replica_SQL_Running', 'Slave_SQL_Running');
  if (io === undefined || sql === undefined) {
    const seen = Object.keys(row).slice(0, 8).join(', ');
    throw new Error(`replica status row without *_IO_Running/*_SQL_Running columns (saw ${seen}…)`);
  }
  const ioText = text(io).toLowerCase();
  const ioRunning = ioText === 'yes' ? 'yes' : ioText === 'connecting' ? 'connecting' : 'no';

  let usingGtid: ReplicaStatus['usingGtid'] = 'no';
  if (flavour.kind === 'mariadb') {
    const u = text(pick(row, 'Using_Gtid')).toLowerCase();
    if (u === 'slave_pos' || u === 'current_pos') usingGtid = u;
  } else if (int(pick(row, 'Auto_Position')) === 1) {
    usingGtid = 'auto_position';
  }

  const gtidIo = pick(row, 'Gtid_IO_Pos');
  const retrieved = pick(row, 'Retrieved_Gtid_Set');
  const executed = pick(row, 'Executed_Gtid_Set');
  return {
    ioRunning,
    sqlRunning: text(sql).toLowerCase() === 'yes',
    lagSeconds: int(pick(row, 'Seconds_Behind_Source', 'Seconds_Behind_Master')),
    lastIoErrno: int(pick(row, 'Last_IO_Errno')) ?? 0,
    lastIoError: text(pick(row, 'Last_IO_Error')),
    lastSqlErrno: int(pick(row, 'Last_SQL_Errno')) ?? 0,
    lastSqlError: text(pick(row, 'Last_SQL_Error')),
    sourceHost: text(pick(row, 'Source_Host', 'Master_Host')),
    sourcePort: int(pick(row, 'Source_Port', 'Master_Port')),
    usingGtid,
    gtidIoPos: flavour.kind === 'mariadb' && gtidIo !== undefined ? text(gtidIo).trim() : null,
    retrievedGtidSet:
      flavour.kind === 'mysql' && retrieved !== undefined ? normalizeMysqlGtidSet(text(retrieved)) : null,
    executedGtidSet:
      flavour.kind === 'mysql' && executed !== undefined ? normalizeMysqlGtidSet(text(executed)) : null,
    sqlDelay: int(pick(row, 'SQL_Delay')) ?? 0,
    sqlState: text(pick(row, 'Replica_SQL_Running_State', 'Slave_SQL_Running_State')),
    ioState: text(pick(row, 'Replica_IO_State', 'Slave_IO_State')),
  };
}

/** The default channel's row: MySQL lists one row per channel, MariaDB's default connection is ''. */
function defaultChannel(rows: Row[]): Row | undefined {
  return rows.find((r) => text(pick(r, 'Channel_Name', 'Connection_name')) === '') ?? rows[0];
}

/** null when the server is not configured as a replica (no row, or no source host). */
export async function readReplicaStatus(
  session: MysqlSession,
  flavour: Flavour,
): Promise<ReplicaStatus | null> {
  const rows = await session.query(flavour.replicaStatusStatement);
  const row = defaultChannel(rows);
  if (!row) return null;
  const status = parseReplicaStatus(row, flavour);
  return status.sourceHost === '' ? null : status;
}

/**
 * IO errors of a stream that went wrong in transit, not of a source that lacks what is asked:
 * 1743 (an event's checksum did not verify) and 1595 (so the event could not be queued). Seen in
 * chaos (strict notify-burst): a replica's IO thread connected while its new source was being
 * demoted again, and stopped on them. Starting the IO thread again asks the source afresh.
 */
export const TRANSIENT_IO_ERRNOS: ReadonlySet<number> = new Set([1595, 1743]);

/** Plain words for the replication error numbers an operator meets during failover. */
export function explainErrno(errno: number): string | undefined {
  switch (errno) {
    case 1236:
      return 'the source cannot serve the position this replica asks for: the replica has diverged (or the source purged its binlogs) — a human must reconcile before re-pointing';
    case 1950:
      return 'out-of-order GTID under gtid_strict_mode: this node holds transactions its source does not (errant transactions) — a human must reconcile';
    case 1045:
      return 'the replication user was refused by the source (user/password/host grant)';
    case 2003:
    case 2005:
      return 'the source is unreachable';
    default:
      return undefined;
  }
}
