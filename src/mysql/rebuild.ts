/**
 * Rebuild of a diverged standby from the primary (issue 12 item 6, async): the one explicitly
 * confirmed way back when this node holds transactions the primary never received. It observes,
 * refuses unless every safety condition holds (no VIP here, read-only, the peer is the writable
 * primary, the operator listed exactly the transactions to discard), and then: saves the local
 * binlogs that hold those transactions, resets the local binlog, copies the primary logically
 * (mariadb-dump | mariadb, credentials only in 0600 defaults files) and re-points through
 * demote(), the one re-point code path. The server stays read-only throughout.
 */
import { constants } from 'node:fs';
import { access, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomicAsync } from '../fs/atomic-async.js';
import { problemWithUserPath } from '../fs/user-path.js';
import type { Credentials, MysqlSession } from './connection.js';
import { demote, type DemoteReport } from './demote.js';
import { detectFlavour } from './flavour.js';
import {
  binlogStateAt,
  extraTransactions,
  formatGtid,
  formatGtidList,
  gtidOfBinlogEvent,
  isExtra,
  type MariadbGtid,
  parseGtidList,
} from './gtid.js';
import { renderClientSection } from './option-file.js';
import { isOn, type StepLogger } from './server-state.js';
import { markerPath } from './rebuild-marker.js';

/** Databases a logical copy never replaces (mysql is loaded from the dump, not dropped). */
const SYSTEM_DATABASES = new Set(['information_schema', 'performance_schema', 'sys', 'mysql']);
/** Binlog events read per file when looking for the exact extra GTIDs; more is refused, not guessed. */
const EVENTS_PER_FILE = 1_000_000;

export interface RebuildFacts {
  /** The spec's VIP addresses this node holds now. */
  vipsHeld: string[];
  localReadOnly: boolean;
  flavour: string;
  isMariadb: boolean;
  /** null when the peer answered; else why it did not. */
  peerProblem: string | null;
  peerReadOnly: boolean | null;
  peerPosition: string | null;
  /**
   * The peer's gtid_binlog_state when observed (before the copy, so never beyond it): the rebuilt
   * server takes it over, or its binlog state would lack the pair's history after RESET MASTER and
   * the next failover the other way would find the old node "holding" GTIDs the rebuilt one lacks.
   */
  peerBinlogState: string | null;
  localServerId: number;
  peerServerId: number | null;
  /** Every GTID this server logged that the peer's binlog state does not hold, sorted. */
  extraGtids: string[];
  /** Databases here that the primary does not have: a rebuild drops them. */
  localOnlyDatabases: string[];
  binlogDir: string | null;
  /** Why this process cannot read the binlog files to save them (null: it can). */
  binlogProblem: string | null;
  binlogFiles: string[];
  /**
   * A rebuild that failed after RESET MASTER (its marker in paths.state_dir): the extra GTIDs are
   * gone from the binlog state by then, so they come from the marker and the run resumes.
   */
  resumed: { savedBinlogDir: string; at: string } | null;
}

interface Marker {
  discarded: string[];
  savedBinlogDir: string;
  peer: string;
  at: string;
}

export { markerPath };

/** The marker of an interrupted rebuild, or null; bounded, and a broken file is an error naming it. */
export async function readMarker(stateDir: string, node: string): Promise<Marker | null> {
  const file = markerPath(stateDir, node);
  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', signal: AbortSignal.timeout(2_000) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    if (!Array.isArray(m.discarded) || typeof m.savedBinlogDir !== 'string')
      throw new Error('fields missing');
    return {
      discarded: m.discarded.map(String),
      savedBinlogDir: m.savedBinlogDir,
      peer: String(m.peer),
      at: String(m.at),
    };
  } catch (error) {
    throw new Error(
      `${file} is not a rebuild marker (${(error as Error).message}); look at it, then remove it`,
      { cause: error },
    );
  }
}

export interface Refusal {
  reason: string;
  fix: string;
}

function gtidOrder(a: MariadbGtid, b: MariadbGtid): number {
  return a.domain - b.domain || a.server - b.server || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0);
}

/** "0-2-7, 0-2-8" or "0-2-8,0-2-7" → sorted canonical list; a malformed entry throws naming it. */
export function normalizeGtids(texts: readonly string[]): string[] {
  const list = texts
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t) => {
      const m = /^(\d+)-(\d+)-(\d+)$/.exec(t);
      if (!m) throw new Error(`"${t.slice(0, 40)}" is not a MariaDB GTID (domain-server-seq)`);
      return { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!) };
    });
  return [...new Set(list.sort(gtidOrder).map(formatGtid))];
}

/**
 * Every reason to refuse, in the order an operator should fix them; empty means go. Pure: the
 * command and the tests judge the same facts the same way.
 */
export function refusals(facts: RebuildFacts, discard: readonly string[]): Refusal[] {
  const out: Refusal[] = [];
  if (!facts.isMariadb)
    out.push({
      reason: `the local server is ${facts.flavour}; hactl rebuild handles MariaDB only`,
      fix: 'rebuild a MySQL node with the clone plugin or a backup',
    });
  if (facts.vipsHeld.length > 0)
    out.push({
      reason: `this node holds the VIP(s) ${facts.vipsHeld.join(', ')}: it may be serving clients as the primary`,
      fix: 'move the VIPs to the peer first (stop keepalived here, or hactl switchover) and run again',
    });
  if (!facts.localReadOnly)
    out.push({
      reason: 'the local server is writable (read_only=OFF): clients may be writing to it',
      fix: "make it read-only first (SET GLOBAL read_only=ON, or let hactl notify demote it) and check that it is not the pair's primary",
    });
  if (facts.peerProblem !== null)
    out.push({
      reason: `the peer does not answer: ${facts.peerProblem}`,
      fix: 'the primary must be reachable with the account of mysql.credentials_file; check the peer and that account',
    });
  else if (facts.peerReadOnly === true)
    out.push({
      reason: 'the peer is read-only, so it is not the primary to copy',
      fix: 'rebuild from the writable primary only: promote the peer first (or wait for its promotion)',
    });
  else if (facts.peerServerId === facts.localServerId)
    out.push({
      reason: `the peer answers with this server's own server_id ${facts.localServerId}`,
      fix: 'the peer address (mysql.replication_network of the other node, mysql.port) points at this server; fix the spec',
    });
  if (facts.binlogProblem !== null && facts.resumed === null)
    out.push({
      reason: `the binlogs holding the discarded transactions cannot be saved: ${facts.binlogProblem}`,
      fix: 'run hactl rebuild as root (or the mysql user) on the node whose server it is (mysql.socket or mysql.host must be this machine)',
    });
  if (facts.peerProblem === null && facts.extraGtids.length === 0)
    out.push({
      reason: 'this server holds no transaction the primary lacks: nothing has diverged',
      fix: 'no rebuild needed; hactl notify re-points it (or run hactl status to see why it does not replicate)',
    });
  else if (facts.peerProblem === null) {
    let wanted: string[] | undefined;
    let malformed: string | undefined;
    try {
      wanted = normalizeGtids(discard);
    } catch (error) {
      malformed = (error as Error).message;
    }
    const actual = facts.extraGtids.join(',');
    if (malformed !== undefined)
      out.push({
        reason: `--discard: ${malformed}`,
        fix: `to discard them, pass exactly --discard ${actual}`,
      });
    else if (wanted!.length === 0)
      out.push({
        reason: `--discard is missing: this rebuild discards ${facts.extraGtids.length} transaction(s) only this node holds: ${actual}`,
        fix: `inspect them (mariadb-binlog on the files in ${facts.binlogDir ?? "@@log_bin_basename's directory"}), replay what matters on the primary, then pass exactly --discard ${actual}`,
      });
    else if (wanted!.join(',') !== actual)
      out.push({
        reason: `--discard ${wanted!.join(',')} is not what this node holds beyond the primary: ${actual}`,
        fix: `check the list (it changes if the node wrote more), then pass exactly --discard ${actual}`,
      });
  }
  return out;
}

/** Whether every binlog file is readable here, within 2 s; the first problem, or null. */
async function binlogProblem(dir: string | null, files: readonly string[]): Promise<string | null> {
  if (dir === null) return 'the server has no binary log (log_bin is off)';
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer from ${dir} within 2 s`), 2_000);
  });
  const check = (async () => {
    for (const file of files) {
      try {
        await access(join(dir, file), constants.R_OK);
      } catch (error) {
        return `${join(dir, file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
      }
    }
    return null;
  })();
  try {
    return await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads everything the decision needs; changes nothing. */
export async function observeForRebuild(
  local: MysqlSession,
  peer: MysqlSession | { problem: string },
  vipsHeld: readonly string[],
  marker: Marker | null = null,
): Promise<RebuildFacts> {
  const flavour = await detectFlavour(local);
  const row =
    (
      await local.query(
        'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.server_id AS id, @@GLOBAL.log_bin_basename AS base',
      )
    )[0] ?? {};
  const facts: RebuildFacts = {
    vipsHeld: [...vipsHeld],
    localReadOnly: isOn(row.ro),
    flavour: flavour.kind,
    isMariadb: flavour.kind === 'mariadb',
    peerProblem: 'problem' in peer ? peer.problem : null,
    peerReadOnly: null,
    peerPosition: null,
    peerBinlogState: null,
    localServerId: Number(row.id),
    peerServerId: null,
    extraGtids: [],
    localOnlyDatabases: [],
    binlogDir: row.base === null || row.base === undefined ? null : dirname(String(row.base)),
    binlogFiles: [],
    resumed: null,
    binlogProblem: null,
  };
  if (!facts.isMariadb || 'problem' in peer) return facts;
  facts.binlogFiles = (await local.query('SHOW BINARY LOGS')).map((r) => String(r.Log_name ?? ''));
  facts.binlogProblem = await binlogProblem(facts.binlogDir, facts.binlogFiles);
  const p =
    (
      await peer.query(
        'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.server_id AS id, @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_binlog_state AS state',
      )
    )[0] ?? {};
  facts.peerReadOnly = isOn(p.ro);
  facts.peerServerId = Number(p.id);
  facts.peerPosition = String(p.pos ?? '');
  facts.peerBinlogState = String(p.state ?? '').replace(/\s+/g, '');
  const localState = String((await local.query('SELECT @@GLOBAL.gtid_binlog_state AS s'))[0]?.s ?? '');
  const extras = extraTransactions(parseGtidList(localState), parseGtidList(String(p.state ?? '')));
  if (extras.length > 0) facts.extraGtids = await exactExtras(local, facts.binlogFiles, extras);
  else if (marker) {
    facts.extraGtids = normalizeGtids(marker.discarded);
    facts.resumed = { savedBinlogDir: marker.savedBinlogDir, at: marker.at };
  }
  const names = async (s: MysqlSession) =>
    new Set((await s.query('SHOW DATABASES')).map((r) => String(Object.values(r)[0])));
  const [mine, theirs] = await Promise.all([names(local), names(peer)]);
  facts.localOnlyDatabases = [...mine].filter((d) => !theirs.has(d) && !SYSTEM_DATABASES.has(d)).sort();
  return facts;
}

/**
 * The individual GTIDs behind each extra (domain, server): every Gtid event of our binlogs in
 * that (domain, server) beyond what the peer holds. All files are read (the operator confirms the
 * whole list); a binlog too large to read is an error, never a shortened list.
 */
async function exactExtras(
  session: MysqlSession,
  files: readonly string[],
  extras: ReturnType<typeof extraTransactions>,
): Promise<string[]> {
  const found = new Map<string, MariadbGtid>();
  for (const file of files) {
    const events = await session.query(`SHOW BINLOG EVENTS IN ? LIMIT ${EVENTS_PER_FILE + 1}`, [file], {
      timeoutMs: 60_000,
    });
    if (events.length > EVENTS_PER_FILE)
      throw new Error(
        `binlog ${file} has more than ${EVENTS_PER_FILE} events; list the extra transactions with mariadb-binlog`,
      );
    for (const e of events) {
      const g = gtidOfBinlogEvent(e);
      if (g && isExtra(g, extras)) found.set(formatGtid(g), g);
    }
  }
  // Purged binlogs: what is left of each (domain, server) is only known by its last GTID.
  for (const x of extras)
    if (![...found.values()].some((g) => formatGtid(g) === formatGtid(x.local)))
      found.set(formatGtid(x.local), x.local);
  return [...found.values()].sort(gtidOrder).map(formatGtid);
}

export function planLines(facts: RebuildFacts, peer: string, stateDir: string): string[] {
  return [
    `rebuild this node from the primary ${peer}, discarding ${facts.extraGtids.length} transaction(s): ${facts.extraGtids.join(',')}`,
    ...(facts.resumed
      ? [
          `  resuming the rebuild that failed after RESET MASTER (${facts.resumed.at}); its binlogs are saved in ${facts.resumed.savedBinlogDir}`,
        ]
      : []),
    `  1 stop-replication  STOP SLAVE (all)`,
    `  2 save-binlogs      copy ${facts.binlogFiles.length} binlog file(s) from ${facts.binlogDir ?? '?'} to ${stateDir}/discarded-<time>/`,
    `  3 reset-master      RESET MASTER: the discarded GTIDs leave this server's binlog state`,
    ...(facts.localOnlyDatabases.length > 0
      ? [`  4 drop-local-only  DROP DATABASE ${facts.localOnlyDatabases.join(', ')} (not on the primary)`]
      : []),
    `  5 copy-primary     mariadb-dump --single-transaction --gtid --master-data=1 --all-databases from ${peer} | mariadb here (sql_log_bin=0), then gtid_binlog_state = the primary's`,
    `  6 repoint          CHANGE MASTER TO ${peer} MASTER_USE_GTID=slave_pos, START SLAVE; read_only stays ON`,
  ];
}

export interface RebuildOptions {
  /** Passed to the re-point (demote()): the spec's mysql.topology and mysql.semi_sync. */
  topology?: 'one-way' | 'dual-master';
  semiSync?: 'off' | 'expected' | 'strict';
  local: Credentials;
  /** The account the dump reads the primary with (host/port = the peer). */
  peer: Credentials & { host: string; port: number };
  replication: { user: string; password: string };
  stateDir: string;
  /** This node's name: its marker file in stateDir. */
  node: string;
  discard: string[];
  timeoutMs: number;
  log: StepLogger;
  /** Every argv spawned, for the report (tests assert no secret is in it). */
  onSpawn?: (argv: string[], pid: number | undefined) => void;
  /**
   * Cancels the rebuild (the agent stopping, or a transition that must not wait): checked before
   * each step, and it kills the copy's children. A cancelled rebuild fails like any step, with the
   * node's state; after RESET MASTER its marker makes the next run resume.
   */
  signal?: AbortSignal;
}

export interface RebuildReport {
  discarded: string[];
  savedBinlogDir: string;
  savedFiles: string[];
  droppedDatabases: string[];
  bytesCopied: number;
  dumpPosition: string;
  durationMs: number;
  replication: DemoteReport['replication'];
  spawned: string[][];
}

/** A failed step: which one, what state the node is in, and what to run next. */
export class RebuildStepFailed extends Error {
  readonly step: string;
  constructor(step: string, cause: string, state: string, next: string) {
    super(`rebuild failed at step ${step}: ${cause}. State: ${state}. Next: ${next}`);
    this.step = step;
  }
}

async function writeDefaults(dir: string, name: string, c: Credentials): Promise<string> {
  const file = join(dir, name);
  const options: Parameters<typeof renderClientSection>[0] = { user: c.user };
  if (c.password !== undefined) options.password = c.password;
  if (c.socket !== undefined && c.host === undefined) options.socket = c.socket;
  else {
    options.host = c.host ?? '127.0.0.1';
    options.port = c.port ?? 3306;
  }
  await writeFile(file, renderClientSection(options), { mode: 0o600, flag: 'wx' });
  return file;
}

/** Copies one file with a deadline: copyFile takes no signal, so the race bounds the wait. */
async function copyWithin(from: string, to: string, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`copying ${from} took longer than the --timeout budget`)),
      Math.max(1, deadline - Date.now()),
    );
  });
  try {
    await Promise.race([copyFile(from, to), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the rebuild on a server that observeForRebuild() and refusals() found fit. */
export async function rebuild(
  session: MysqlSession,
  facts: RebuildFacts,
  options: RebuildOptions,
): Promise<RebuildReport> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const { log } = options;
  const spawned: string[][] = [];
  const peerAddress = `${options.peer.host}:${options.peer.port}`;
  const stillSafe = 'read-only, replication stopped';
  let step = 'stop-replication';
  let saved = '';
  let savedFiles: string[] = [];
  const fail = (error: unknown, state: string, next: string): never => {
    log('rebuild.failed', { level: 'error', step, error: (error as Error).message, state });
    throw new RebuildStepFailed(step, (error as Error).message, state, next);
  };
  const { signal } = options;
  const checkpoint = () => {
    if (signal?.aborted)
      throw new Error(
        `cancelled before this step: ${(signal.reason as Error | undefined)?.message ?? 'aborted'}`,
      );
  };

  try {
    checkpoint();
    await session.query('STOP ALL SLAVES');
  } catch (error) {
    fail(error, 'read-only, unchanged', 'look at SHOW ALL SLAVES STATUS and run hactl rebuild again');
  }
  log('rebuild.replication_stopped', { reason: 'nothing may apply to this server while it is replaced' });

  step = 'save-binlogs';
  try {
    checkpoint();
    if (facts.resumed) saved = facts.resumed.savedBinlogDir;
    else {
      if (facts.binlogDir === null) throw new Error('the server has no binary log (log_bin is off)');
      const problem = await problemWithUserPath(options.stateDir, 'paths.state_dir');
      if (problem) throw new Error(problem);
      saved = join(
        options.stateDir,
        `discarded-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`,
      );
      await mkdir(saved, { recursive: true, mode: 0o700 });
      for (const file of facts.binlogFiles) {
        if (basename(file) !== file || file === '') throw new Error(`unexpected binlog name ${file}`);
        await copyWithin(join(facts.binlogDir, file), join(saved, file), deadline);
      }
      savedFiles = [...facts.binlogFiles];
      await writeFile(
        join(saved, 'DISCARDED.txt'),
        `Transactions discarded by hactl rebuild from ${peerAddress} at ${new Date().toISOString()}:\n${facts.extraGtids.join('\n')}\nRead them with: mariadb-binlog <file>\n`,
        { mode: 0o600 },
      );
    }
    // Written before RESET MASTER: after it, only this file still knows what was discarded.
    const marker: Marker = {
      discarded: facts.extraGtids,
      savedBinlogDir: saved,
      peer: peerAddress,
      at: new Date().toISOString(),
    };
    await writeFileAtomicAsync(
      markerPath(options.stateDir, options.node),
      JSON.stringify(marker) + '\n',
      0o600,
    );
  } catch (error) {
    fail(error, stillSafe, 'fix the cause (disk space, paths.state_dir) and run hactl rebuild again');
  }
  log('rebuild.binlogs_saved', {
    dir: saved,
    files: savedFiles,
    reason: 'the discarded transactions stay readable with mariadb-binlog after RESET MASTER',
  });

  // Before the copy: the dump's SET GLOBAL gtid_slave_pos must not meet the discarded GTIDs still
  // in this server's binlog state (gtid_strict_mode conflicts), and the binlogs are saved by now.
  step = 'reset-master';
  try {
    checkpoint();
    await session.query('RESET MASTER');
  } catch (error) {
    fail(error, `${stillSafe}; binlogs saved in ${saved}`, 'run hactl rebuild again');
  }
  log('rebuild.reset_master', { reason: "the discarded GTIDs leave this server's binlog state" });
  const afterReset = `${stillSafe}, local binlog reset (saved in ${saved}), data not yet replaced`;
  const again = `run hactl rebuild again with the same --discard list (the saved binlogs stay in ${saved})`;

  step = 'drop-local-only';
  try {
    checkpoint();
    await session.query('SET SESSION sql_log_bin = 0');
    for (const db of facts.localOnlyDatabases) {
      await session.query(`DROP DATABASE \`${db.replace(/`/g, '``')}\``);
      log('rebuild.dropped_database', { database: db, reason: 'the primary does not have it' });
    }
  } catch (error) {
    fail(error, afterReset, again);
  }

  step = 'copy-primary';
  let bytes = 0;
  const dir = await mkdtemp(join(tmpdir(), 'hactl-rebuild-'));
  try {
    checkpoint();
    const peerFile = await writeDefaults(dir, 'peer.cnf', options.peer);
    const localFile = await writeDefaults(dir, 'local.cnf', options.local);
    const { execa } = await import('execa');
    const dumpArgv = [
      'mariadb-dump',
      `--defaults-file=${peerFile}`,
      '--single-transaction',
      '--gtid',
      '--master-data=1',
      '--all-databases',
      '--routines',
      '--events',
      '--triggers',
      '--flush-privileges',
      // The dump sets gtid_slave_pos itself; the primary's own replica bookkeeping must not replace ours.
      '--ignore-table=mysql.gtid_slave_pos',
    ];
    const loadArgv = [
      'mariadb',
      `--defaults-file=${localFile}`,
      '--init-command=SET SESSION sql_log_bin=0',
      '--skip-reconnect',
      '--batch',
      '--binary-mode',
    ];
    const remaining = Math.max(1_000, deadline - Date.now());
    // One budget for the copy, not a timeout per child: both would expire together and either
    // could be reported first. At the budget both are killed and the copy is what outlived it.
    const common = {
      forceKillAfterDelay: 2_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      extendEnv: false,
      ...(signal ? { cancelSignal: signal } : {}),
    } as const;
    const dump = execa(dumpArgv[0]!, dumpArgv.slice(1), {
      ...common,
      buffer: { stdout: false, stderr: true },
      maxBuffer: { stderr: 64 * 1024 },
    });
    const load = execa(loadArgv[0]!, loadArgv.slice(1), { ...common, stdin: 'pipe', maxBuffer: 64 * 1024 });
    for (const [argv, child] of [
      [dumpArgv, dump],
      [loadArgv, load],
    ] as const) {
      spawned.push([...argv]);
      options.onSpawn?.([...argv], child.pid);
    }
    log('rebuild.copy_started', {
      from: peerAddress,
      reason: 'a consistent logical copy of the primary with its GTID position replaces this server’s data',
    });
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    // pipeline, not pipe: a loader that exits early (refused login, bad statement) must break the
    // pipe back to the dump. With pipe the dump's unread output kept its promise pending for ever,
    // and no cancellation could end the rejoin (chaos: "has not stopped within 10 s" for minutes).
    const piped = pipeline(dump.stdout, counter, load.stdin).catch(() => undefined); // the children report it
    // A failed side ends the other at once (no half a dump applied, no dump written to nobody);
    // the one that failed first is the cause.
    let firstFailed: 'dump' | 'load' | undefined;
    dump.catch(() => {
      firstFailed ??= 'dump';
      load.kill();
    });
    load.catch(() => {
      firstFailed ??= 'load';
      dump.kill();
    });
    let budgetSpent = false;
    const budget = setTimeout(() => {
      budgetSpent = true;
      firstFailed ??= 'dump';
      dump.kill();
      load.kill();
    }, remaining);
    const [d, l] = await Promise.allSettled([dump, load]).finally(() => clearTimeout(budget));
    await piped;
    const dumpProblem =
      d.status === 'rejected' ? `mariadb-dump failed: ${childProblem(d.reason, budgetSpent)}` : '';
    const loadProblem =
      l.status === 'rejected'
        ? `mariadb (loading the copy) failed: ${childProblem(l.reason, budgetSpent)}`
        : '';
    const problems = firstFailed === 'load' ? [loadProblem, dumpProblem] : [dumpProblem, loadProblem];
    // A cancelled copy is killed by us: "signal SIGTERM" would read like a crash.
    if (signal?.aborted)
      throw new Error(
        `cancelled during this step: ${(signal.reason as Error | undefined)?.message ?? 'aborted'}`,
      );
    if (firstFailed !== undefined) throw new Error(problems.filter((p) => p !== '').join('; then '));
  } catch (error) {
    fail(error, `${stillSafe}, local binlog reset, data PARTLY replaced (do not promote this node)`, again);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  let dumpPosition = '';
  try {
    dumpPosition = String((await session.query('SELECT @@GLOBAL.gtid_slave_pos AS p'))[0]?.p ?? '');
    // A dump recreates the primary's events ENABLED; a replica must not run them: left as
    // replication itself leaves them on a replica (SLAVESIDE_DISABLED).
    // Allowed only while nothing was logged since RESET MASTER (error 1956 otherwise): the copy
    // ran with sql_log_bin=0 and replication is stopped, so the binlog is still empty here.
    const state = binlogStateAt(parseGtidList(facts.peerBinlogState), parseGtidList(dumpPosition));
    if (state.kept.length > 0) {
      await session.query('SET GLOBAL gtid_binlog_state = ?', [formatGtidList(state.kept)]);
      log('rebuild.binlog_state', {
        gtidBinlogState: formatGtidList(state.kept),
        ...(state.dropped.length > 0 ? { notInCopy: formatGtidList(state.dropped) } : {}),
        reason:
          "the primary's GTID history up to the copy's position: the next failover compares against it (what the copy lacks comes with replication)",
      });
    }
    const events = await session.query(
      "SELECT EVENT_SCHEMA AS db, EVENT_NAME AS name FROM information_schema.EVENTS WHERE STATUS = 'ENABLED'",
    );
    const quote = (name: unknown) => `\`${String(name).replace(/`/g, '``')}\``;
    for (const e of events)
      await session.query(`ALTER EVENT ${quote(e.db)}.${quote(e.name)} DISABLE ON SLAVE`);
    if (events.length > 0)
      log('rebuild.events_disabled', {
        events: events.map((e) => `${String(e.db)}.${String(e.name)}`),
        reason:
          'a replica runs no events (as replication leaves them); after a promotion, ALTER EVENT … ENABLE',
      });
  } catch (error) {
    fail(error, `${stillSafe}, data copied from the primary`, again);
  }
  log('rebuild.copied', {
    bytes,
    gtidSlavePos: dumpPosition,
    reason: 'the copy carries the primary’s position',
  });

  step = 'repoint';
  let replication: DemoteReport['replication'] = null;
  try {
    checkpoint();
    if (dumpPosition === '') throw new Error('the copy set no gtid_slave_pos (was --gtid honoured?)');
    const report = await demote(session, {
      topology: options.topology ?? 'one-way',
      ...(options.semiSync ? { semiSync: options.semiSync } : {}),
      peer: { host: options.peer.host, port: options.peer.port },
      replication: options.replication,
      log,
      connectTimeoutSec: Math.max(10, Math.min(120, Math.round((deadline - Date.now()) / 1000))),
    });
    replication = report.replication;
    if (report.repoint.result === 'skipped') throw new Error(`not re-pointed: ${report.repoint.reason}`);
  } catch (error) {
    fail(
      error,
      `read-only, data copied from the primary at ${dumpPosition}, replication not running`,
      'fix the cause and re-point: hactl notify (BACKUP) or CHANGE MASTER TO … MASTER_USE_GTID=slave_pos; START SLAVE',
    );
  }
  await rm(markerPath(options.stateDir, options.node), { force: true });
  const durationMs = Date.now() - started;
  log('rebuild.done', { discarded: facts.extraGtids, saved, bytes, durationMs, replication });
  return {
    discarded: facts.extraGtids,
    savedBinlogDir: saved,
    savedFiles,
    droppedDatabases: facts.localOnlyDatabases,
    bytesCopied: bytes,
    dumpPosition,
    durationMs,
    replication,
    spawned,
  };
}

/** A child's failure in one line: exit code or signal, timeout, and the end of its stderr. */
function childProblem(error: unknown, budgetSpent: boolean): string {
  const e = error as {
    exitCode?: number;
    signal?: string;
    stderr?: unknown;
    shortMessage?: string;
  };
  const tail = typeof e.stderr === 'string' ? e.stderr.trim().split('\n').slice(-3).join(' | ') : '';
  if (budgetSpent) return `killed at the --timeout budget${tail ? `: ${tail}` : ''}`;
  const how =
    e.exitCode !== undefined
      ? `exit ${e.exitCode}`
      : e.signal
        ? `signal ${e.signal}`
        : (e.shortMessage ?? 'failed');
  return `${how}${tail ? `: ${tail}` : ''}`;
}
