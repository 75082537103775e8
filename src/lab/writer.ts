/**
 * The application's view of a failover, counted the Jepsen way: a client inside the lab's client
 * namespace inserts unique ids through the inside VIP at a steady rate, as the application account
 * (DML/DDL on `app`.* only: no SUPER, no READ_ONLY ADMIN, so read_only binds it), and reports every
 * insert the server acknowledged. What must survive a fault is exactly that list.
 *
 * The client is one `node -e` process in the namespace (a process per insert would cost more CPU
 * than the pair itself); it resolves mysql2 from the package root, reads its password from stdin
 * (never argv or env), bounds every connect and query, and reconnects after any failure. An insert
 * whose answer never came is not acknowledged and is never retried: each id is sent at most once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { readOptionFile } from '../mysql/option-file.js';
import { namespacesFor, vipOf } from './network.js';

/** The writer's table in the `app` schema (the application account may create it). */
export const WRITER_TABLE = 'app.chaos';

export interface WriterAck {
  /** The id the writer chose (unique over the writer's life). */
  id: number;
  /** Epoch ms the insert was sent and acknowledged. */
  sentAt: number;
  ackAt: number;
  /** server_id of the connection that acknowledged it (1: ha1, 2: ha2). */
  serverId: number;
  /** The GTID the insert committed under (domain-server-seq), as the server reported it. */
  gtid: string | null;
  /** CONNECTION_ID() of the session that sent it (null: a writer older than this field). */
  connectionId: number | null;
  /** The reply: the row's auto-increment `seq` (insertId) and the affected-row count. */
  seq: number | null;
  affectedRows: number | null;
}

export interface WriterFailure {
  t: number;
  /** Server errno, driver code or "TIMEOUT". */
  code: string;
  /**
   * When the failed insert went out (absent for a failed connect). An insert sent before the fault
   * that ends in TIMEOUT was, most likely, already acknowledged by the old primary's TCP: the
   * client then has nothing to retransmit, so no reset can reach it from the VIP's new owner.
   */
  sentAt?: number;
}

export interface WriterOptions {
  /** Inserts per second (default 150). */
  ratePerSec?: number;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Hard bound: the client exits on its own after this long. */
  maxDurationMs?: number;
  /** First id; ids go up by one per insert sent (default: now in ms × 1000, unique per run). */
  firstId?: number;
  /** The application account's option file ([client] user, password). */
  credentialsFile: string;
  /** Working directory in which the client resolves mysql2 (the package root). */
  packageRoot: string;
}

export interface RunningWriter {
  firstId: number;
  acks: WriterAck[];
  failures: WriterFailure[];
  /** The highest id sent so far (acknowledged or not) is firstId + sent - 1. */
  sent(): number;
  /** Resolves with the first ack at or after `since` (by send time) matching `serverId`, bounded. */
  waitForAck(since: number, timeoutMs: number, serverId?: number): Promise<WriterAck | undefined>;
  stop(): Promise<void>;
  finished: Promise<void>;
}

// Runs as `node -e` inside the client namespace. stdin: one JSON line with the settings.
const WRITER_PROGRAM = `
const mysql = require(require('node:path').join(process.cwd(), 'node_modules', 'mysql2', 'promise'));
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; if (input.includes('\\n')) { process.stdin.pause(); start(JSON.parse(input)); } });
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
const out = (line) => process.stdout.write(line + '\\n');
function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), ms); })]).finally(() => clearTimeout(timer));
}
async function start(o) {
  const end = Date.now() + o.maxDurationMs;
  let conn = null;
  let serverId = 0;
  let connectionId = 0;
  let next = o.firstId;
  let sent = 0;
  let tableReady = false;
  const t0 = Date.now();
  const drop = () => { if (conn) { try { conn.destroy(); } catch {} } conn = null; };
  while (!stopping && Date.now() < end) {
    const due = t0 + (sent * 1000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopping) break;
    if (!conn) {
      try {
        conn = await withTimeout(mysql.createConnection({ host: o.host, port: o.port, user: o.user, password: o.password, connectTimeout: o.connectTimeoutMs, multipleStatements: true }), o.connectTimeoutMs + 200);
        conn.on('error', () => {});
        const [rows] = await withTimeout(conn.query('SELECT @@server_id AS s, CONNECTION_ID() AS c'), o.queryTimeoutMs);
        serverId = Number(rows[0].s);
        connectionId = Number(rows[0].c);
        if (!tableReady) {
          await withTimeout(conn.query('CREATE TABLE IF NOT EXISTS ' + o.table + ' (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, server_id INT NOT NULL, KEY (id))'), o.queryTimeoutMs);
          tableReady = true;
        }
      } catch (e) {
        out('F ' + Date.now() + ' connect:' + (e.errno || e.code || 'error'));
        drop();
        // Not a busy loop: the next attempt waits for its slot in the schedule.
        sent++;
        continue;
      }
    }
    const id = next++;
    sent++;
    const sentAt = Date.now();
    try {
      // One round trip: the insert (autocommit) and the GTID it was committed under.
      const [results] = await withTimeout(conn.query('INSERT INTO ' + o.table + ' (id, server_id) VALUES (?, @@server_id); SELECT @@last_gtid AS g', [id]), o.queryTimeoutMs);
      const gtid = String((results[1] && results[1][0] && results[1][0].g) || '-');
      const ok = results[0] || {};
      out('A ' + id + ' ' + sentAt + ' ' + Date.now() + ' ' + serverId + ' ' + gtid + ' ' + connectionId + ' ' + (ok.insertId ?? '-') + ' ' + (ok.affectedRows ?? '-'));
    } catch (e) {
      out('F ' + Date.now() + ' ' + (e.errno || e.code || 'error') + ' ' + id + ' ' + sentAt);
      drop();
    }
  }
  out('S ' + (next - o.firstId));
  drop();
  process.exit(0);
}
`;

export async function startWriter(prefix: string, options: WriterOptions): Promise<RunningWriter> {
  const account = await readOptionFile(options.credentialsFile, { requirePrivate: true });
  const firstId = options.firstId ?? Date.now() * 1000;
  const settings = {
    host: vipOf('inside'),
    port: 3306,
    user: account.user ?? '',
    password: account.password ?? '',
    rate: options.ratePerSec ?? 150,
    // A connect begun while the VIP still points at a lost node sends its SYN there, and the
    // kernel resends it only after 1 s: with a 1 s bound the writer can see a VIP that has already
    // moved (and a writable standby) up to ~1 s late — the connect begun at the insert timeout
    // after a node loss ended only at +1.0 s (bench/first-write.mjs). 250 ms keeps that error
    // small and is still far above a connect to a live server in the lab.
    connectTimeoutMs: options.connectTimeoutMs ?? 250,
    queryTimeoutMs: options.queryTimeoutMs ?? 2_000,
    maxDurationMs: options.maxDurationMs ?? 300_000,
    firstId,
    table: WRITER_TABLE,
  };
  const child = spawn(
    'ip',
    ['netns', 'exec', namespacesFor(prefix).client, process.execPath, '-e', WRITER_PROGRAM],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: options.packageRoot },
  );
  child.stdin.end(JSON.stringify(settings) + '\n');
  const { acks, failures, sent, finished } = followWriterOutput(child, firstId);
  return {
    firstId,
    acks,
    failures,
    sent,
    finished,
    async waitForAck(since, timeoutMs, serverId) {
      const match = (a: WriterAck) =>
        a.sentAt >= since && (serverId === undefined || a.serverId === serverId);
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = acks.find(match);
        if (hit) return hit;
        if (child.exitCode !== null) break;
        await sleep(25);
      }
      return acks.find(match);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      // An insert in flight ends within its query timeout.
      await Promise.race([finished, sleep(settings.queryTimeoutMs + settings.connectTimeoutMs + 2_000)]);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await Promise.race([finished, sleep(2_000)]);
      }
    },
  };
}

/** One `A` line's fields after the kind: id sentAt ackAt serverId gtid [connectionId seq affectedRows]. */
function parseAck(rest: string[]): WriterAck | undefined {
  if (rest.length !== 5 && rest.length !== 8) return undefined;
  const num = (text: string | undefined): number | null =>
    text === undefined || text === '-' || !/^\d+$/.test(text) ? null : Number(text);
  const [id, sentAt, ackAt, serverId] = rest.slice(0, 4).map(Number) as [number, number, number, number];
  return {
    id,
    sentAt,
    ackAt,
    serverId,
    gtid: rest[4] === '-' ? null : rest[4]!,
    connectionId: num(rest[5]),
    seq: num(rest[6]),
    affectedRows: num(rest[7]),
  };
}

/**
 * The writer's report, read from its stdout. `finished` resolves once the process has exited and its
 * stdout has closed with every line parsed ('close', not 'exit': Node documents that 'exit' may come
 * while the stdio streams are still open). The runner fixes the id range it counts after that.
 */
export function followWriterOutput(
  child: ChildProcess,
  firstId: number,
): { acks: WriterAck[]; failures: WriterFailure[]; sent: () => number; finished: Promise<void> } {
  const acks: WriterAck[] = [];
  const failures: WriterFailure[] = [];
  let highest = 0;
  const lines = createInterface({ input: child.stdout! });
  const finished = Promise.all([
    new Promise<void>((resolve) => child.once('close', () => resolve())),
    new Promise<void>((resolve) => lines.once('close', () => resolve())),
  ]).then(() => undefined);
  lines.on('line', (line) => {
    const [kind, ...rest] = line.split(' ');
    const ack = kind === 'A' ? parseAck(rest) : undefined;
    if (ack) {
      acks.push(ack);
      highest = Math.max(highest, ack.id - firstId + 1);
    } else if (kind === 'F') {
      const sentAt = rest[3] === undefined ? undefined : Number(rest[3]);
      failures.push({
        t: Number(rest[0]),
        code: rest[1] ?? 'error',
        ...(sentAt === undefined ? {} : { sentAt }),
      });
      if (rest[2] !== undefined) highest = Math.max(highest, Number(rest[2]) - firstId + 1);
    } else if (kind === 'S') {
      highest = Math.max(highest, Number(rest[0]));
    }
  });
  return { acks, failures, sent: () => highest, finished };
}
