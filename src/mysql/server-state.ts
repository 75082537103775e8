/**
 * Small reads and writes of server-wide state shared by promote, demote and the checks:
 * read_only, GTID positions, semi-sync, and the replication statements in each flavour's syntax.
 */
import type { MysqlSession, Row } from './connection.js';
import type { Flavour } from './flavour.js';

/** Receives one structured line per step: what was seen, what was decided, why. */
export type StepLogger = (event: string, fields: Record<string, unknown>) => void;

export function isOn(value: unknown): boolean {
  const t = String(value ?? '').toUpperCase();
  return t === '1' || t === 'ON' || t === 'YES' || t === 'TRUE';
}

export interface ReadOnlyState {
  readOnly: boolean;
  superReadOnly: boolean;
}

export async function readReadOnly(session: MysqlSession, flavour: Flavour): Promise<ReadOnlyState> {
  const sql = flavour.hasSuperReadOnly
    ? 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.super_read_only AS sro'
    : 'SELECT @@GLOBAL.read_only AS ro, 0 AS sro';
  const row = (await session.query(sql))[0] ?? {};
  return { readOnly: isOn(row.ro), superReadOnly: isOn(row.sro) };
}

/** MySQL: super_read_only=ON implies read_only=ON, and read_only=OFF clears super_read_only. */
export async function setReadOnly(session: MysqlSession, flavour: Flavour, on: boolean): Promise<void> {
  if (on) {
    await session.query('SET GLOBAL read_only = ON');
    if (flavour.hasSuperReadOnly) await session.query('SET GLOBAL super_read_only = ON');
  } else {
    if (flavour.hasSuperReadOnly) await session.query('SET GLOBAL super_read_only = OFF');
    await session.query('SET GLOBAL read_only = OFF');
  }
}

export interface GtidState {
  /** MariaDB gtid_binlog_pos / MySQL gtid_executed: what this server has logged. */
  position: string;
  /** MariaDB only. */
  binlogState: string | null;
  slavePos: string | null;
  currentPos: string | null;
}

export async function readGtidState(session: MysqlSession, flavour: Flavour): Promise<GtidState> {
  if (flavour.kind === 'mariadb') {
    const row =
      (
        await session.query(
          'SELECT @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_binlog_state AS state, @@GLOBAL.gtid_slave_pos AS slave, @@GLOBAL.gtid_current_pos AS cur',
        )
      )[0] ?? {};
    return {
      position: String(row.pos ?? ''),
      binlogState: String(row.state ?? ''),
      slavePos: String(row.slave ?? ''),
      currentPos: String(row.cur ?? ''),
    };
  }
  const row = (await session.query('SELECT @@GLOBAL.gtid_executed AS pos'))[0] ?? {};
  return {
    position: String(row.pos ?? '').replace(/\s+/g, ''),
    binlogState: null,
    slavePos: null,
    currentPos: null,
  };
}

/** START/STOP/RESET of replication in the server's own words. */
export function replicationSql(
  flavour: Flavour,
  verb: 'START' | 'STOP' | 'RESET ALL',
  thread?: 'IO_THREAD' | 'SQL_THREAD',
): string {
  const keyword = flavour.replicaKeyword;
  if (verb === 'RESET ALL') return `RESET ${keyword} ALL`;
  return thread ? `${verb} ${keyword} ${thread}` : `${verb} ${keyword}`;
}

export interface SemiSyncState {
  /** This server acknowledges as a replica (Rpl_semi_sync_slave_status / _replica_status). */
  replicaEnabled: boolean;
  replicaActive: boolean;
  /** This server waits for acknowledgements as a source. */
  sourceEnabled: boolean;
  sourceActive: boolean;
  sourceClients: number | null;
  /** AFTER_SYNC (lossless) or AFTER_COMMIT (MariaDB's default). */
  waitPoint: string | null;
  timeoutMs: number | null;
  /** Whether a source keeps waiting when no semi-sync replica is connected (else it goes async). */
  waitNoReplica: boolean;
}

/** Both naming generations (master/slave, source/replica) map to the same fields. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace('_source_', '_master_').replace('_replica_', '_slave_');
}

function toMap(rows: Row[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const row of rows) {
    const name = row.Variable_name ?? row.VARIABLE_NAME;
    const value = row.Value ?? row.VALUE;
    if (name !== undefined) map.set(normalizeName(String(name)), String(value ?? ''));
  }
  return map;
}

export async function readSemiSync(session: MysqlSession): Promise<SemiSyncState> {
  const status = toMap(await session.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync%'"));
  const vars = toMap(await session.query("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'"));
  const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
  return {
    replicaEnabled: isOn(vars.get('rpl_semi_sync_slave_enabled')),
    replicaActive: isOn(status.get('rpl_semi_sync_slave_status')),
    sourceEnabled: isOn(vars.get('rpl_semi_sync_master_enabled')),
    sourceActive: isOn(status.get('rpl_semi_sync_master_status')),
    sourceClients: num(status.get('rpl_semi_sync_master_clients')),
    waitPoint: vars.get('rpl_semi_sync_master_wait_point') ?? null,
    timeoutMs: num(vars.get('rpl_semi_sync_master_timeout')),
    waitNoReplica: isOn(vars.get('rpl_semi_sync_master_wait_no_slave')),
  };
}

/** One honest sentence about what semi-sync guaranteed for the writes of the old primary. */
export function semiSyncVerdict(state: SemiSyncState): string {
  if (state.replicaActive) {
    return 'semi-sync was active on this replica: the old primary waited for our acknowledgement, so its acknowledged writes reached this relay log unless it had fallen back to async (its wait point and timeout decide; AFTER_SYNC with a huge timeout is lossless)';
  }
  return 'semi-sync was not active on this replica: writes the old primary acknowledged after the last event we received are lost (asynchronous replication)';
}
