/**
 * One chaos repetition on a running lab: a writer inserts unique ids through the inside VIP as the
 * application, a sampler watches read_only and the VIPs every 100 ms, a fault hits the primary's
 * node, the fault clears, and the pair is given a bounded time to settle. Then every id the writer
 * saw acknowledged is looked up on the node that ends up primary.
 *
 * Used by the runner (bench/chaos/scenario.ts, `npm run chaos`) and by test/e2e/chaos.test.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentFiles, signalAgent } from '../../src/lab/agent.js';
import {
  keepalivedFiles,
  killKeepalived,
  startKeepalived,
  stopKeepalived,
} from '../../src/lab/keepalived.js';
import {
  convergenceProblems,
  holderOfBoth,
  labFail,
  labHeal,
  labPaths,
  packageRoot,
} from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, setAttached, setPeerLink, type LabNode } from '../../src/lab/network.js';
import { killGroup } from '../../src/lab/pgroup.js';
import { commandLineOf, isAlive, readPidFile } from '../../src/lab/processes.js';
import {
  bothWritable,
  durationWhere,
  holdsAllVips,
  samplePair,
  vipNotOnOne,
  type PairSample,
} from '../../src/lab/sampler.js';
import { startWriter, WRITER_TABLE, type WriterAck } from '../../src/lab/writer.js';
import { keepEvidence } from './evidence.js';
import { connectWith, credentialsFor, type MysqlSession } from '../../src/mysql/connection.js';

export const CHAOS_FAULTS = [
  'node-loss',
  'mysqld-kill',
  'keepalived-kill',
  'nginx-kill',
  'lag-node-loss',
  'isolation',
  'peer-link',
  'agent-kill',
  'flapping-check',
  'notify-burst',
  'mysql-unreachable',
  'table-lock',
] as const;
export type ChaosFault = (typeof CHAOS_FAULTS)[number];

export const FAULT_HELP: Record<ChaosFault, string> = {
  'node-loss': "primary's links down, then every process of the node SIGKILLed; healed after failover",
  'mysqld-kill': "SIGKILL of the primary's mariadbd; restarted after failover",
  'keepalived-kill': "SIGKILL of the primary's keepalived (parent and children; the VIPs stay configured)",
  'nginx-kill': "the primary's nginx killed (whole process group)",
  'lag-node-loss':
    "the standby's SQL thread stopped until ≥ 2 s of writes wait in its relay log, then node loss",
  isolation: "the primary's switch ports detached for --hold s (links keep carrier), then re-attached",
  'peer-link': 'the nodes cannot reach each other on any network for --hold s; the client reaches both',
  'agent-kill': "SIGKILL of the primary's hactl agent (lab --agents only)",
  'flapping-check': "the primary's nginx killed and restarted 3 times, 2 s down and 2 s up",
  'notify-burst':
    'keepalived on the MASTER stopped and restarted at once, 5 times, always on the node holding the VIPs (ends on the standby)',
  'mysql-unreachable':
    "node loss, and the standby's mariadbd SIGSTOPped as soon as it holds the VIPs (its promotion finds it hung) for --stall s",
  'table-lock':
    "an application session holds LOCK TABLES … WRITE on the writer's table on the primary (never released), then the primary's nginx is killed",
};

/** notify-burst: how many MASTER hand-overs (odd: the VIPs end on the standby, as in the other faults). */
export const BURST_HANDOVERS = 5;

export interface ChaosLab {
  prefix: string;
  dir: string;
}

export interface RepOptions {
  /** For isolation and peer-link: how long the fault lasts (s). */
  holdSec?: number;
  /** For mysql-unreachable: how long the standby's mariadbd stays stopped (s, default 5). */
  stallSec?: number;
  /** Writer rate (inserts/s). */
  rate?: number;
  /** Bound for the VIPs to move after the fault (ms). */
  failoverBoundMs?: number;
  /** Bound for the pair to settle after the fault cleared (ms). */
  settleBoundMs?: number;
  say?: (line: string) => void;
  /** The lab runs strict semi-sync (lab up --semi-sync strict): see where the fault is cleared. */
  strictSemiSync?: boolean;
  /**
   * The agents rebuild a diverged old primary by themselves (strict semi-sync with --agents): a
   * divergence then ends the wait for the pair to settle only once a rejoin was refused or failed.
   */
  agentsRejoin?: boolean;
  /** notify-burst: how many hand-overs (odd, so the VIPs end on the standby; default BURST_HANDOVERS). */
  burstHandovers?: number;
}

/** The writer's default rate (inserts/s): issue 12's 150 acknowledged inserts a second. */
export const WRITER_RATE = 150;

export interface RepResult {
  fault: ChaosFault;
  /** The primary before the fault (which took it) and after recovery (null: no single one). */
  from: LabNode;
  to: LabNode | null;
  acked: number;
  /** Of those, the ones sent before the fault, and the ones the final primary took after it. */
  ackedBefore: number;
  ackedByNewPrimary: number;
  /** Acknowledged ids absent from the final primary; how many of those sit on the other node only. */
  lost: number;
  lostButOnOther: number;
  /**
   * Of the lost ones, those the standby had received (in its relay log) when the fault hit: a
   * careful promotion loses none of these; the rest never left the old primary (async's price).
   */
  lostReceived: number;
  /**
   * Lost ids on neither node (the first few): what an acknowledged write gone everywhere was, for
   * whoever has to explain it. Async's price stays on the old primary; these are not that.
   */
  vanished: {
    id: number;
    gtid: string | null;
    serverId: number;
    ackAtS: number;
    connectionId: number | null;
    seq: number | null;
  }[];
  /**
   * Lost ids that could not be placed because a node's table could not be read at the end (after
   * bounded retries): neither "on the other node" nor "vanished". A demotion or fence in progress
   * on the old primary kills every client session, the runner's root session included.
   */
  lostUnplaced: number;
  /** The nodes whose table could not be read at the end, with the last error. */
  unreadable: string[];
  /** Every failed read of a node's table at the end, retried or not (node: error). */
  failedReads: string[];
  /** Where the evidence of vanished or unplaced ids was kept (both nodes' GTID state, logs), or null. */
  evidenceFile: string | null;
  /** Ids present more than once on the final primary. */
  duplicated: number;
  bothWritableS: number;
  vipNotOnOneS: number;
  /** Fault → every VIP on the standby (alone or not: a double shows in vipNotOnOneS; null: never moved). */
  timeToVipS: number | null;
  /** Fault → first insert sent after it that the standby acknowledged (null: none). */
  firstWriteS: number | null;
  /** What the writer got between the fault and its first write on the standby ("0.61 s 1290"), at most 12. */
  writerFailuresBeforeFirstWrite: string[];
  /** Longest stretch without an acknowledgement, from the fault to the end. */
  longestWriteGapS: number;
  healthy: boolean;
  problems: string[];
  /**
   * hactl refused to re-point the old primary because it holds transactions the new primary lacks
   * (crash recovery committed an unacknowledged one): the GTIDs it logged, or null when it did not.
   */
  diverged: string | null;
}

/** What hactl logged about a diverged old primary after `offset` of its log. */
function divergence(logFile: string, offset: number): string | null {
  let text: string;
  try {
    text = readFileSync(logFile).subarray(offset).toString('utf8');
  } catch {
    return null;
  }
  if (!text.includes('has diverged from its primary')) return null;
  return /Extra transactions here: ([^.]*)\./.exec(text)?.[1] ?? 'unknown GTIDs';
}

/** An agent's strict rejoin that will not bring the node back by itself (refused or failed) after `offset`. */
function rejoinGivenUp(logFile: string, offset: number): boolean {
  try {
    const text = readFileSync(logFile).subarray(offset).toString('utf8');
    return /"event":"agent\.rejoin"[^\n]*"result":"(refused|failed)"/.test(text);
  } catch {
    return false;
  }
}

const SERVER_ID: Record<LabNode, number> = { ha1: 1, ha2: 2 };
const other = (node: LabNode): LabNode => (node === 'ha1' ? 'ha2' : 'ha1');

function socketOf(dir: string, node: LabNode): string {
  return join(dir, node, 'mariadb', 'mariadb.sock');
}

async function rootQuery(
  dir: string,
  node: LabNode,
  sql: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[] | null> {
  try {
    const session = await connectWith(
      { user: 'root', socket: socketOf(dir, node) },
      { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
    );
    try {
      return await session.query(sql, params);
    } finally {
      await session.close();
    }
  } catch {
    return null;
  }
}

/** Counts of each writer id on `node`, or why the table could not be read. */
export async function readIdCounts(
  dir: string,
  node: LabNode,
  firstId: number,
  lastId: number,
): Promise<Map<number, number> | string> {
  try {
    const session = await connectWith(
      { user: 'root', socket: socketOf(dir, node) },
      { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
    );
    try {
      const rows = await session.query(
        `SELECT id, COUNT(*) AS c FROM ${WRITER_TABLE} WHERE id BETWEEN ? AND ? GROUP BY id`,
        [firstId, lastId],
      );
      return new Map(rows.map((r) => [Number(r.id), Number(r.c)]));
    } finally {
      await session.close().catch(() => undefined);
    }
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * readIdCounts, tried up to `attempts` times a second apart: the old primary at the end may be in
 * the middle of a (retried) demotion, which kills every client session — the runner's too.
 */
export async function idCounts(
  read: () => Promise<Map<number, number> | string>,
  attempts = 4,
): Promise<{ counts: Map<number, number> | null; error: string | null; failedReads: string[] }> {
  const failedReads: string[] = [];
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await sleep(1_000);
    const result = await read();
    if (typeof result !== 'string') return { counts: result, error: null, failedReads };
    failedReads.push(result);
  }
  return { counts: null, error: failedReads.at(-1) ?? 'not read', failedReads };
}

/** The ids to count: every id sent, and at least every id acknowledged. */
export function idRange(firstId: number, sent: number, acks: readonly WriterAck[]): [number, number] {
  let last = firstId + Math.max(sent, 1) - 1;
  for (const a of acks) last = Math.max(last, a.id);
  return [firstId, last];
}

export interface LostAcks {
  /** Acknowledged ids not (known to be) on the final primary. */
  lost: WriterAck[];
  /** Of those, on the other node (async's price: they never left it). */
  onOther: WriterAck[];
  /** Of those, read on both nodes and on neither. */
  vanished: WriterAck[];
  /** Of those, not placed: a node's table could not be read (null counts). */
  unplaced: WriterAck[];
}

/**
 * Where each acknowledged id ended up. A node whose table could not be read proves nothing: an id
 * is "vanished" only when both tables were read and neither holds it.
 */
export function placeAcks(
  acks: readonly WriterAck[],
  onPrimary: ReadonlyMap<number, number> | null,
  onOther: ReadonlyMap<number, number> | null,
): LostAcks {
  const lost = acks.filter((a) => !(onPrimary?.has(a.id) ?? false));
  const onOtherNode = lost.filter((a) => onOther?.has(a.id) ?? false);
  const unread = onPrimary === null || onOther === null;
  const rest = lost.filter((a) => !(onOther?.has(a.id) ?? false));
  return {
    lost,
    onOther: onOtherNode,
    vanished: unread ? [] : rest,
    unplaced: unread ? rest : [],
  };
}

async function waitUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / everyMs) + 1; i++) {
    if (await probe()) return true;
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  void what;
  return false;
}

/** The pair has settled: one node holds every VIP and is writable, the other replicates from it. */
export async function pairProblems(lab: ChaosLab): Promise<{ primary: LabNode | null; problems: string[] }> {
  const primary = (await holderOfBoth(lab.prefix)) ?? null;
  if (primary === null) return { primary, problems: ['no single node holds every VIP'] };
  return {
    primary,
    problems: await convergenceProblems({ ...lab, primary, replica: other(primary) }),
  };
}

/**
 * An application session on `node` that holds a write lock on the writer's table, as a batch job
 * or a migration would: SET GLOBAL read_only waits behind it for as long as it is held.
 */
async function holdTableLock(credentialsFile: string, dir: string, node: LabNode): Promise<MysqlSession> {
  const app = await credentialsFor({ defaultsFile: credentialsFile });
  const session = await connectWith(
    {
      user: app.user,
      ...(app.password === undefined ? {} : { password: app.password }),
      socket: socketOf(dir, node),
    },
    { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
  );
  try {
    await session.query(`LOCK TABLES ${WRITER_TABLE} WRITE`);
  } catch (error) {
    await session.close();
    throw new Error(`chaos: cannot lock ${WRITER_TABLE} on ${node}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return session;
}

async function killNginx(lab: ChaosLab, node: LabNode): Promise<void> {
  const dir = labPaths(lab.dir).node[node].nginxDir;
  const pid = readPidFile(join(dir, 'daemon.pid'));
  if (pid !== undefined) await killGroup(pid, join(dir, 'nginx.conf'));
}

/** The lab's own mariadbd of `node` (pid file and command line agree), or undefined. */
function mariadbdPid(lab: ChaosLab, node: LabNode): number | undefined {
  const dir = labPaths(lab.dir).node[node].dbDir;
  const pid = readPidFile(join(dir, 'daemon.pid'));
  return pid !== undefined && isAlive(pid) && (commandLineOf(pid)?.includes(join(dir, 'my.cnf')) ?? false)
    ? pid
    : undefined;
}

/** SIGSTOP/SIGCONT to `pid`; false when it is gone. */
function signal(pid: number, sig: 'SIGSTOP' | 'SIGCONT'): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * notify-burst: keepalived on whichever node holds the VIPs is stopped (SIGTERM: it releases them
 * and says priority 0, so the peer takes over at once) and started again straight away, as an
 * operator restarting it in a loop would; then the same on the new holder, `handovers` times. Each
 * hand-over fires notify on both nodes while the previous ones may still run.
 */
async function notifyBurst(lab: ChaosLab, from: LabNode, handovers: number, say: (line: string) => void) {
  const paths = labPaths(lab.dir);
  let master = from;
  for (let i = 0; i < handovers; i++) {
    const next = other(master);
    const files = keepalivedFiles(paths.node[master].dir);
    await stopKeepalived(files);
    const moved = await waitUntil(
      `the VIPs on ${next}`,
      async () => (await holderOfBoth(lab.prefix)) === next,
      15_000,
      50,
    );
    await startKeepalived(files, namespacesFor(lab.prefix)[master]);
    if (!moved) {
      say(`notify-burst: hand-over ${i + 1} to ${next} did not happen within 15 s; stopping the burst`);
      return;
    }
    master = next;
  }
}

function longestGap(acks: WriterAck[], from: number, to: number): number {
  const times = [from, ...acks.map((a) => a.ackAt).filter((t) => t >= from && t <= to), to].sort(
    (a, b) => a - b,
  );
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

/** The sequence number of domain 0 in a GTID or GTID list ("0-1-98,1-2-5" → 98), or null. */
/**
 * What each server is doing, for the evidence of an unhealthy repetition: a statement stuck on a
 * server (RESET MASTER in a rejoin, a commit waiting for an ACK) shows only there.
 */
export async function processlists(lab: ChaosLab): Promise<Record<LabNode, unknown>> {
  const read = (node: LabNode) =>
    rootQuery(
      lab.dir,
      node,
      'SELECT ID, USER, HOST, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST',
    );
  const [ha1, ha2] = await Promise.all([read('ha1'), read('ha2')]);
  return { ha1: ha1 ?? 'not readable', ha2: ha2 ?? 'not readable' };
}

export function gtidSeq(gtids: string): number | null {
  const match = /(?:^|,)\s*0-\d+-(\d+)/.exec(gtids);
  return match ? Number(match[1]) : null;
}

const seconds = (ms: number): number => Math.round(ms / 10) / 100;

/** How often the standby's received position is read while a fault is under way. */
const RECEIVED_POLL_MS = 50;

/**
 * The pair was not ready for a repetition (no single VIP holder, or the writer heard nothing from
 * it): nothing was injected yet, so the runner may rebuild the lab and run the repetition again.
 */
export class NotReadyForRep extends Error {}

/** One repetition of `fault` against the current primary; leaves the lab as the fault left it. */
export async function runRep(lab: ChaosLab, fault: ChaosFault, options: RepOptions = {}): Promise<RepResult> {
  const say = options.say ?? (() => {});
  const holdMs = (options.holdSec ?? 10) * 1000;
  const stallMs = (options.stallSec ?? 5) * 1000;
  /** A mariadbd this repetition has SIGSTOPped and not yet continued. */
  let stalled: number | undefined;
  /** table-lock: the session holding the lock (closed at the end, if hactl has not ended it). */
  let lockHolder: MysqlSession | undefined;
  /** The received-position poll runs while this is on; a failed rep turns it off too. */
  const watch = { on: true };
  const rate = options.rate ?? WRITER_RATE;
  const failoverBoundMs = options.failoverBoundMs ?? 45_000;
  const settleBoundMs = options.settleBoundMs ?? 90_000;
  const paths = labPaths(lab.dir);
  const database = labDatabase({ dir: lab.dir, netns: () => '' });
  const from = await holderOfBoth(lab.prefix);
  if (from === undefined) throw new NotReadyForRep('chaos: no single node holds every VIP before the fault');
  const standby = other(from);
  let logOffset = 0;
  try {
    logOffset = statSync(paths.log).size;
  } catch {
    /* no log yet */
  }
  const sampler = samplePair(lab.prefix, lab.dir, { everyMs: 100, maxDurationMs: 600_000 });
  const writer = await startWriter(lab.prefix, {
    ratePerSec: rate,
    credentialsFile: database.appCredentialsFile,
    packageRoot: packageRoot(),
    maxDurationMs: 600_000,
  });
  try {
    const warm = await writer.waitForAck(Date.now(), 15_000, SERVER_ID[from]);
    if (!warm) {
      const last = writer.failures.slice(-3).map((f) => f.code);
      throw new NotReadyForRep(
        `chaos: the writer got no acknowledgement from ${from} within 15 s (${writer.failures.length} failures, last: ${last.join(', ') || 'none'})`,
      );
    }
    if (fault === 'lag-node-loss') {
      const session = await connectWith(
        { user: 'root', socket: socketOf(lab.dir, standby) },
        { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
      );
      try {
        await session.query('STOP SLAVE SQL_THREAD');
      } catch (error) {
        throw new Error(`chaos: cannot stop ${standby}'s SQL thread: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        await session.close();
      }
      const since = Date.now();
      await waitUntil(
        'two seconds of writes in the relay log',
        () => writer.acks.filter((a) => a.sentAt >= since).length >= 2 * rate,
        15_000,
      );
    } else {
      // A second's worth of acknowledged writes, not a second of time: a loaded writer lags.
      const since = Date.now();
      await waitUntil(
        'a second of steady writes',
        () => Date.now() - since >= 1_000 && writer.acks.filter((a) => a.sentAt >= since).length >= rate,
        10_000,
      );
    }

    // The standby's received position (Gtid_IO_Pos, which moves only once a whole transaction is
    // in the relay log): what reached it must survive. Read from before the fault until the VIPs
    // have moved, because a fast-profile promotion resets replication (the row is gone) before
    // the injection itself returns; with no reading, every lost write counts as received.
    const receivedSeqs: number[] = [];
    const readReceived = async () => {
      const row = (await rootQuery(lab.dir, standby, 'SHOW SLAVE STATUS'))?.[0];
      const seq = gtidSeq(String(row?.Gtid_IO_Pos ?? ''));
      if (seq !== null) receivedSeqs.push(seq);
    };
    const watchingReceived = (async () => {
      const until = Date.now() + failoverBoundMs + holdMs;
      while (watch.on && Date.now() < until) {
        await readReceived();
        await sleep(RECEIVED_POLL_MS);
      }
    })();
    say(`${fault}: injecting on ${from}`);
    let injectedAt = Date.now();
    switch (fault) {
      case 'node-loss':
      case 'lag-node-loss':
        injectedAt = await labFail({ ...lab, node: from, how: 'kill' });
        break;
      case 'mysqld-kill':
        await database.kill(from);
        break;
      case 'keepalived-kill':
        await killKeepalived(keepalivedFiles(paths.node[from].dir));
        break;
      case 'nginx-kill':
        await killNginx(lab, from);
        break;
      case 'table-lock':
        lockHolder = await holdTableLock(database.appCredentialsFile, lab.dir, from);
        injectedAt = Date.now();
        await killNginx(lab, from);
        break;
      case 'isolation':
        await setAttached(lab.prefix, from, false);
        break;
      case 'peer-link':
        await setPeerLink(lab.prefix, false);
        break;
      case 'agent-kill':
        if (!signalAgent(agentFiles(paths.node[from].dir), 'SIGKILL'))
          throw new Error(`chaos: ${from} runs no agent (run the lab with --agents for agent-kill)`);
        break;
      case 'flapping-check':
        for (let flap = 0; flap < 3; flap++) {
          await killNginx(lab, from);
          await sleep(2_000);
          await labHeal({ ...lab, node: from });
          await sleep(2_000);
        }
        break;
      case 'notify-burst':
        await notifyBurst(lab, from, options.burstHandovers ?? BURST_HANDOVERS, say);
        break;
      case 'mysql-unreachable': {
        injectedAt = await labFail({ ...lab, node: from, how: 'kill' });
        // "Just as it is promoted": keepalived makes the standby MASTER, adds the VIPs and spawns
        // notify in the same instant; stop its server the moment the VIPs show.
        const promoting = await waitUntil(
          `the VIPs on ${standby}`,
          async () => (await holderOfBoth(lab.prefix)) === standby,
          failoverBoundMs,
          20,
        );
        const pid = mariadbdPid(lab, standby);
        if (!promoting || pid === undefined || !signal(pid, 'SIGSTOP')) {
          say(`mysql-unreachable: ${standby} never held the VIPs or has no mariadbd; nothing stalled`);
          break;
        }
        stalled = pid;
        say(`mysql-unreachable: ${standby}'s mariadbd (pid ${pid}) stopped as it was promoted`);
        await sleep(stallMs);
        signal(pid, 'SIGCONT');
        stalled = undefined;
        break;
      }
    }

    // The standby takes over (or the bound passes: some faults rightly move nothing).
    const moved = await waitUntil(
      'the VIPs on the standby',
      () => {
        const last = sampler.samples.at(-1);
        return last !== undefined && holdsAllVips(standby)(last);
      },
      fault === 'flapping-check' || fault === 'peer-link' || fault === 'isolation'
        ? Math.min(failoverBoundMs, holdMs)
        : failoverBoundMs,
    );
    if (moved) {
      // Under strict semi-sync a new primary whose peer is down acknowledges nothing until the
      // peer is back: heal as soon as it is writable rather than wait for an acknowledgement.
      await waitUntil(
        'a write acknowledged by the standby (strict semi-sync: the standby writable)',
        () =>
          writer.acks.some((a) => a.sentAt >= injectedAt && a.serverId === SERVER_ID[standby]) ||
          (options.strictSemiSync === true && sampler.samples.at(-1)?.readOnly[standby] === false),
        10_000,
        25,
      );
    }
    if (fault === 'isolation' || fault === 'peer-link') {
      await sleep(Math.max(0, injectedAt + holdMs - Date.now()));
    }
    watch.on = false;
    await watchingReceived;
    say(`${fault}: ${moved ? `VIPs on ${standby}` : 'VIPs did not move'}; clearing the fault`);
    if (lockHolder) {
      const held = await lockHolder.query('SELECT 1').then(
        () => true,
        () => false,
      );
      say(`table-lock: the lock holder on ${from} ${held ? 'still holds its lock' : 'was ended'}`);
    }
    if (fault === 'peer-link') await setPeerLink(lab.prefix, true);
    else await labHeal({ ...lab, node: from });

    // Settled: one writable holder of every VIP, the other replicating from it without error.
    let settled: { primary: LabNode | null; problems: string[] } = { primary: null, problems: [] };
    await waitUntil(
      'the pair to settle',
      async () => {
        settled = await pairProblems(lab);
        // A diverged old primary stays out until a human acts (or, under strict semi-sync, until
        // the agent has rebuilt it): no use waiting for it once nothing will.
        if (settled.problems.length === 0) return true;
        if (divergence(paths.log, logOffset) === null) return false;
        return options.agentsRejoin !== true || rejoinGivenUp(paths.log, logOffset);
      },
      settleBoundMs,
      500,
    );
    const to = settled.primary;
    if (to !== null) {
      // A second of writes on the settled primary: the count then checks a primary that keeps
      // taking writes, not one lucky insert (a diverged old primary ends the settle wait at once).
      const settledAt = Date.now();
      const wanted = Math.ceil(rate);
      await waitUntil(
        `a second of writes acknowledged by ${to}`,
        () =>
          writer.acks.filter((a) => a.sentAt >= settledAt && a.serverId === SERVER_ID[to]).length >= wanted,
        10_000,
        25,
      );
    }
    const endAt = Date.now();
    await writer.stop();
    const samples: PairSample[] = await sampler.stop();

    const acked = [...writer.acks];
    const [firstId, lastId] = idRange(writer.firstId, writer.sent(), acked);
    const counted = (node: LabNode) => idCounts(() => readIdCounts(lab.dir, node, firstId, lastId));
    const primaryRead = to === null ? null : await counted(to);
    const otherRead = to === null ? null : await counted(other(to));
    const onPrimary = primaryRead?.counts ?? null;
    const onOther = otherRead?.counts ?? null;
    const unreadable: string[] = [];
    if (to !== null && primaryRead?.error) unreadable.push(`${to}: ${primaryRead.error}`);
    if (to !== null && otherRead?.error) unreadable.push(`${other(to)}: ${otherRead.error}`);
    const failedReads = [
      ...(primaryRead?.failedReads ?? []).map((e) => `${to}: ${e}`),
      ...(otherRead?.failedReads ?? []).map((e) => `${to === null ? '' : other(to)}: ${e}`),
    ];
    const placed = placeAcks(acked, onPrimary, onOther);
    const lostIds = placed.lost;
    const evidenceFile =
      placed.vanished.length > 0 || placed.unplaced.length > 0
        ? await keepEvidence({
            ...lab,
            fault,
            from,
            to,
            injectedAt,
            firstId,
            lastId,
            unreadable,
            suspects: [...placed.vanished, ...placed.unplaced].slice(0, 20),
            acks: acked,
            failures: writer.failures,
            logOffset,
          })
        : null;
    const firstOnStandby = acked.find((a) => a.sentAt >= injectedAt && a.serverId === SERVER_ID[standby]);
    const vipAt = samples.find((s) => s.t >= injectedAt && holdsAllVips(standby)(s));
    return {
      fault,
      from,
      to,
      acked: acked.length,
      ackedBefore: acked.filter((a) => a.sentAt < injectedAt).length,
      ackedByNewPrimary:
        to === null ? 0 : acked.filter((a) => a.sentAt >= injectedAt && a.serverId === SERVER_ID[to]).length,
      lost: lostIds.length,
      lostButOnOther: placed.onOther.length,
      vanished: placed.vanished.slice(0, 5).map((a) => ({
        id: a.id,
        gtid: a.gtid,
        serverId: a.serverId,
        ackAtS: seconds(a.ackAt - injectedAt),
        connectionId: a.connectionId,
        seq: a.seq,
      })),
      lostUnplaced: placed.unplaced.length,
      unreadable,
      failedReads,
      evidenceFile,
      // Without a known position every lost write counts as received: never flattering.
      lostReceived: lostIds.filter((a) => {
        const seq = gtidSeq(a.gtid ?? '');
        const received = receivedSeqs.length > 0 ? Math.max(...receivedSeqs) : null;
        return seq === null || received === null || seq <= received;
      }).length,
      duplicated: onPrimary === null ? 0 : [...onPrimary.values()].filter((c) => c > 1).length,
      bothWritableS: seconds(durationWhere(samples, bothWritable, injectedAt, endAt)),
      vipNotOnOneS: seconds(durationWhere(samples, vipNotOnOne, injectedAt, endAt)),
      timeToVipS: vipAt ? seconds(vipAt.t - injectedAt) : null,
      firstWriteS: firstOnStandby ? seconds(firstOnStandby.ackAt - injectedAt) : null,
      writerFailuresBeforeFirstWrite: writer.failures
        .filter((f) => f.t >= injectedAt && f.t <= (firstOnStandby?.ackAt ?? endAt))
        .slice(0, 12)
        .map(
          (f) =>
            `${seconds(f.t - injectedAt)} s ${f.code}` +
            (f.sentAt === undefined ? '' : ` (sent at ${seconds(f.sentAt - injectedAt)} s)`),
        ),
      longestWriteGapS: seconds(longestGap(acked, injectedAt, endAt)),
      healthy: settled.problems.length === 0,
      problems: to === null ? ['no single node holds every VIP', ...settled.problems] : settled.problems,
      diverged: divergence(paths.log, logOffset),
    };
  } finally {
    watch.on = false;
    await writer.stop();
    await sampler.stop();
    // A failed rep must not leave the nodes unable to see each other.
    if (fault === 'peer-link') await setPeerLink(lab.prefix, true).catch(() => undefined);
    if (fault === 'lag-node-loss')
      await rootQuery(lab.dir, standby, 'START SLAVE SQL_THREAD').catch(() => undefined);
    // A failed rep must not leave a server frozen.
    if (stalled !== undefined) signal(stalled, 'SIGCONT');
    await lockHolder?.close();
  }
}
