/**
 * What the chaos runner keeps when an acknowledged id cannot be found (bench/chaos/faults.ts): enough
 * for the next occurrence to explain itself after the lab has been rebuilt. One JSON file per
 * repetition under the system temp dir, plus copies of both servers' logs (crash recovery, kills)
 * and of hactl's log since the repetition began.
 *
 * Everything here is best effort and bounded: a node that does not answer is recorded as such.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labPaths } from '../../src/lab/lab.js';
import type { LabNode } from '../../src/lab/network.js';
import { WRITER_TABLE, type WriterAck, type WriterFailure } from '../../src/lab/writer.js';
import { connectWith, type MysqlSession } from '../../src/mysql/connection.js';

const NODES: LabNode[] = ['ha1', 'ha2'];
/** Binlog files searched for a suspect's GTID, newest first, and events read from each. */
const BINLOG_FILES = 5;
const EVENTS_PER_FILE = 50_000;

export interface EvidenceInput {
  prefix: string;
  dir: string;
  fault: string;
  from: LabNode;
  to: LabNode | null;
  injectedAt: number;
  firstId: number;
  lastId: number;
  unreadable: string[];
  /** The acknowledged ids that were not found (vanished or not placeable). */
  suspects: WriterAck[];
  /** Every ack and failure of the writer (the ones near each suspect are kept). */
  acks: readonly WriterAck[];
  failures: readonly WriterFailure[];
  /** Offset of hactl's log when the repetition began. */
  logOffset: number;
}

type Json = Record<string, unknown>;

async function nodeState(dir: string, node: LabNode, suspects: WriterAck[]): Promise<Json> {
  let session: MysqlSession;
  try {
    session = await connectWith(
      { user: 'root', socket: join(labPaths(dir).node[node].dbDir, 'mariadb.sock') },
      { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
    );
  } catch (error) {
    return { error: (error as Error).message };
  }
  const out: Json = {};
  const tryQuery = async (key: string, sql: string, params: unknown[] = []) => {
    try {
      out[key] = await session.query(sql, params);
    } catch (error) {
      out[key] = { error: (error as Error).message };
    }
  };
  try {
    await tryQuery(
      'globals',
      'SELECT @@server_id AS server_id, @@read_only AS read_only, @@gtid_binlog_pos AS gtid_binlog_pos, ' +
        '@@gtid_binlog_state AS gtid_binlog_state, @@gtid_slave_pos AS gtid_slave_pos, ' +
        '@@gtid_current_pos AS gtid_current_pos, @@sync_binlog AS sync_binlog, ' +
        '@@innodb_flush_log_at_trx_commit AS innodb_flush_log_at_trx_commit',
    );
    // A server that restarted (crash recovery) shows a short uptime.
    await tryQuery('uptime', "SHOW GLOBAL STATUS LIKE 'Uptime'");
    await tryQuery('masterStatus', 'SHOW MASTER STATUS');
    await tryQuery('binaryLogs', 'SHOW BINARY LOGS');
    await tryQuery('slaveStatus', 'SHOW SLAVE STATUS');
    await tryQuery(
      'tableSummary',
      `SELECT COUNT(*) AS n, MIN(seq) AS min_seq, MAX(seq) AS max_seq FROM ${WRITER_TABLE}`,
    );
    const rows: Json[] = [];
    for (const s of suspects) {
      try {
        rows.push({
          id: s.id,
          byId: await session.query(`SELECT * FROM ${WRITER_TABLE} WHERE id = ?`, [s.id]),
          bySeq:
            s.seq === null
              ? null
              : await session.query(`SELECT * FROM ${WRITER_TABLE} WHERE seq BETWEEN ? AND ?`, [
                  s.seq - 2,
                  s.seq + 2,
                ]),
        });
      } catch (error) {
        rows.push({ id: s.id, error: (error as Error).message });
      }
    }
    out.suspectRows = rows;
    out.suspectBinlog = await binlogEventsOf(session, suspects);
  } finally {
    await session.close().catch(() => undefined);
  }
  return out;
}

/** The binlog events of each suspect's GTID (its Gtid event and the few that follow it). */
async function binlogEventsOf(session: MysqlSession, suspects: WriterAck[]): Promise<Json> {
  const wanted = new Set(suspects.map((s) => s.gtid).filter((g): g is string => g !== null));
  const found: Json = {};
  if (wanted.size === 0) return found;
  try {
    const files = (await session.query('SHOW BINARY LOGS'))
      .map((r) => String(r.Log_name ?? ''))
      .filter(Boolean)
      .reverse()
      .slice(0, BINLOG_FILES);
    for (const file of files) {
      const events = await session.query(`SHOW BINLOG EVENTS IN ? LIMIT ${EVENTS_PER_FILE}`, [file]);
      events.forEach((e, i) => {
        const m = /GTID (\d+-\d+-\d+)/.exec(String(e.Info ?? ''));
        if (String(e.Event_type) === 'Gtid' && m && wanted.has(m[1]!)) {
          found[m[1]!] = { file, events: events.slice(i, i + 5) };
        }
      });
    }
    for (const g of wanted) if (!(g in found)) found[g] = `not in the newest ${files.length} binlog file(s)`;
  } catch (error) {
    found.error = (error as Error).message;
  }
  return found;
}

function keepCopy(from: string, to: string): string | null {
  try {
    copyFileSync(from, to);
    return to;
  } catch {
    return null;
  }
}

/** Writes the evidence file and the log copies; returns the evidence file's path (null: not written). */
export async function keepEvidence(input: EvidenceInput): Promise<string | null> {
  const paths = labPaths(input.dir);
  const stamp = `${input.prefix}-${input.fault}-${new Date(input.injectedAt).toISOString().replace(/[:.]/g, '')}`;
  const base = join(tmpdir(), `hactl-chaos-evidence-${stamp}`);
  const ids = new Set(input.suspects.map((s) => s.id));
  const neighbours = input.acks.filter((a) => [...ids].some((id) => Math.abs(a.id - id) <= 5));
  const failuresNear = input.failures.filter((f) =>
    input.suspects.some((s) => Math.abs(f.t - s.ackAt) <= 3_000),
  );
  const logs: Json = {};
  for (const node of NODES) {
    logs[`${node}MariadbLog`] = keepCopy(
      join(paths.node[node].dbDir, 'mariadbd.log'),
      `${base}-${node}-mariadbd.log`,
    );
  }
  try {
    const text = readFileSync(paths.log).subarray(input.logOffset);
    writeFileSync(`${base}-hactl.log`, text);
    logs.hactlLog = `${base}-hactl.log`;
  } catch {
    logs.hactlLog = null;
  }
  const nodes: Json = {};
  for (const node of NODES) nodes[node] = await nodeState(input.dir, node, input.suspects);
  const file = `${base}.json`;
  try {
    writeFileSync(
      file,
      JSON.stringify(
        {
          fault: input.fault,
          from: input.from,
          to: input.to,
          injectedAt: new Date(input.injectedAt).toISOString(),
          idRange: [input.firstId, input.lastId],
          unreadable: input.unreadable,
          suspects: input.suspects.map((s) => ({ ...s, ackAtS: (s.ackAt - input.injectedAt) / 1000 })),
          neighbours,
          failuresNear,
          nodes,
          logs,
        },
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
        2,
      ) + '\n',
    );
    return file;
  } catch {
    return null;
  }
}
