/**
 * `node bench/first-write.mjs [--profile default|fast] [--advert S] [--soak S] [--reps N] [--agents] [--prefix P] [--json FILE]`:
 * where the time between a node loss and the first write the standby acknowledges goes. One lab;
 * per repetition the primary's node is lost (links down, every process killed, as the chaos
 * runner's node-loss does) while the chaos writer inserts through the inside VIP, and these are
 * stamped against the moment of the loss:
 *   - the VIP appearing on the standby (`ip monitor address` in its namespace: keepalived adds the
 *     VIPs as it enters MASTER, then runs notify / writes the FIFO line),
 *   - every hactl log line of the standby (notify.received, the decision, each promote step),
 *   - read_only=0 on the standby (polled over its socket every 20 ms),
 *   - the writer's failures (by error code) and its first acknowledgement from the standby.
 * Needs root and a built dist/ (keepalived runs bin/hactl).
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { pairProblems } from './chaos/faults.js';
import { keepalivedFiles } from '../src/lab/keepalived.js';
import {
  defaultDir,
  holderOfBoth,
  labDown,
  labFail,
  labHeal,
  labPaths,
  labUp,
  packageRoot,
} from '../src/lab/lab.js';
import { labDatabase } from '../src/lab/lab-db.js';
import { FAST_ADVERT_SEC, fastAdvertProblem } from '../src/lab/spec.js';
import { namespacesFor, vipOf, type LabNode } from '../src/lab/network.js';
import { startWriter } from '../src/lab/writer.js';
import { connectWith, type MysqlSession } from '../src/mysql/connection.js';

const SERVER_ID: Record<LabNode, number> = { ha1: 1, ha2: 2 };
const other = (node: LabNode): LabNode => (node === 'ha1' ? 'ha2' : 'ha1');

export interface Mark {
  /** ms after the loss was injected. */
  ms: number;
  what: string;
}

export interface RepTimeline {
  from: LabNode;
  standby: LabNode;
  marks: Mark[];
  vipMs: number | null;
  readWriteMs: number | null;
  firstWriteMs: number | null;
  /** The standby's first hactl line after the loss (the agent's FIFO line or notify.received). */
  hactlMs: number | null;
  /** The writer's first failure once the VIP moved: its hung insert reset by the new holder. */
  writerResetMs: number | null;
}

/** Appearances of `address` in `ip monitor address` output, stamped on arrival. */
function watchVip(netns: string, address: string): { seen: number[]; stop(): void } {
  const seen: number[] = [];
  const child = spawn('ip', ['-n', netns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('Deleted') && line.includes(` ${address}/`)) seen.push(Date.now());
  });
  const bound = setTimeout(() => child.kill('SIGTERM'), 120_000);
  return {
    seen,
    stop() {
      clearTimeout(bound);
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** The first time read_only reads 0 on `socket`, polled every 20 ms until stopped (bounded). */
function watchWritable(socket: string): { at: () => number | null; stop(): Promise<void> } {
  let at: number | null = null;
  let stopped = false;
  const end = Date.now() + 120_000;
  const loop = (async () => {
    let session: MysqlSession | undefined;
    while (!stopped && at === null && Date.now() < end) {
      const t = Date.now();
      try {
        session ??= await connectWith({ user: 'root', socket }, { timeoutMs: 500, queryTimeoutMs: 500 });
        const row = (await session.query('SELECT @@GLOBAL.read_only AS ro'))[0] ?? {};
        if (Number(row.ro) === 0) at = t;
      } catch {
        await session?.close().catch(() => undefined);
        session = undefined;
      }
      await sleep(Math.max(0, 20 - (Date.now() - t)));
    }
    await session?.close().catch(() => undefined);
  })();
  return {
    at: () => at,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function tail(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** The standby's hactl log lines as marks: every line of a notify run or the agent on that node. */
function hactlMarks(text: string, node: string, injectedAt: number): Mark[] {
  const marks: Mark[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (entry.node !== node || typeof entry.time !== 'string') continue;
    const t = Date.parse(entry.time);
    if (t < injectedAt - 50) continue;
    const extra = [
      entry.state && `state=${String(entry.state)}`,
      entry.action && `action=${String(entry.action)}`,
      entry.received && entry.event === 'notify.received' ? `name=${String(entry.name)}` : undefined,
      entry.duration_ms !== undefined && `${String(entry.duration_ms)}ms`,
      entry.durationMs !== undefined && `${String(entry.durationMs)}ms`,
      entry.waitedMs !== undefined && `waited ${String(entry.waitedMs)}ms`,
      entry.lock_wait_ms !== undefined && `lock wait ${String(entry.lock_wait_ms)}ms`,
      entry.decision && `decision="${String(entry.decision)}"`,
      entry.result && `result=${String(entry.result)}`,
    ].filter(Boolean);
    marks.push({
      ms: t - injectedAt,
      what: `hactl[${String(entry.pid)}] ${String(entry.event)} ${extra.join(' ')}`,
    });
  }
  return marks;
}

/** Runs of equal writer failure codes: "F code ×n (first..last)". */
function failureMarks(failures: { t: number; code: string }[], injectedAt: number, until: number): Mark[] {
  const marks: Mark[] = [];
  let run: { code: string; first: number; last: number; n: number } | undefined;
  const flush = () => {
    if (!run) return;
    marks.push({
      ms: run.first - injectedAt,
      what: `writer failed ${run.code} ×${run.n}${run.n > 1 ? ` (last at +${run.last - injectedAt} ms)` : ''}`,
    });
  };
  for (const f of failures) {
    if (f.t < injectedAt || f.t > until) continue;
    if (run && run.code === f.code) {
      run.n++;
      run.last = f.t;
    } else {
      flush();
      run = { code: f.code, first: f.t, last: f.t, n: 1 };
    }
  }
  flush();
  return marks;
}

export async function timeline(lab: { prefix: string; dir: string }): Promise<RepTimeline> {
  const paths = labPaths(lab.dir);
  const from = await holderOfBoth(lab.prefix);
  if (from === undefined) throw new Error('first-write: no single node holds every VIP');
  const standby = other(from);
  const database = labDatabase({ dir: lab.dir, netns: () => '' });
  const logOffset = sizeOf(paths.log);
  const kaLog = keepalivedFiles(paths.node[standby].dir).log;
  const kaOffset = sizeOf(kaLog);
  const vip = watchVip(namespacesFor(lab.prefix)[standby], vipOf('inside'));
  const writable = watchWritable(join(lab.dir, standby, 'mariadb', 'mariadb.sock'));
  const writer = await startWriter(lab.prefix, {
    ratePerSec: 150,
    credentialsFile: database.appCredentialsFile,
    packageRoot: packageRoot(),
    maxDurationMs: 120_000,
  });
  try {
    if (!(await writer.waitForAck(Date.now(), 15_000, SERVER_ID[from])))
      throw new Error(`first-write: no acknowledgement from ${from} within 15 s`);
    await sleep(1_000);
    const injectedAt = await labFail({ ...lab, node: from, how: 'kill' });
    const first = await writer.waitForAck(injectedAt, 30_000, SERVER_ID[standby]);
    const until = Date.now();
    await writable.stop();
    vip.stop();
    await writer.stop();
    const vipAt = vip.seen.find((t) => t >= injectedAt) ?? null;
    const rwAt = writable.at();
    const reset = vipAt === null ? undefined : writer.failures.find((f) => f.t >= vipAt);
    const marks: Mark[] = [
      { ms: 0, what: `loss of ${from} injected (links down, then every process killed)` },
      ...(vipAt === null
        ? []
        : [{ ms: vipAt - injectedAt, what: `inside VIP on ${standby} (keepalived MASTER)` }]),
      ...(rwAt === null ? [] : [{ ms: rwAt - injectedAt, what: `${standby} read_only=0 (first poll)` }]),
      ...hactlMarks(tail(paths.log, logOffset), standby, injectedAt),
      ...failureMarks(writer.failures, injectedAt, until),
      ...(first
        ? [
            {
              ms: first.ackAt - injectedAt,
              what: `first acknowledged write on ${standby} (sent at +${first.sentAt - injectedAt} ms)`,
            },
          ]
        : []),
    ];
    for (const line of tail(kaLog, kaOffset).split('\n')) {
      if (/Entering MASTER|entering MASTER/.test(line))
        marks.push({ ms: NaN, what: `keepalived: ${line.trim()}` });
    }
    marks.sort((a, b) => (Number.isNaN(a.ms) ? 1 : Number.isNaN(b.ms) ? -1 : a.ms - b.ms));
    return {
      from,
      standby,
      marks,
      vipMs: vipAt === null ? null : vipAt - injectedAt,
      readWriteMs: rwAt === null ? null : rwAt - injectedAt,
      firstWriteMs: first ? first.ackAt - injectedAt : null,
      hactlMs: marks.find((m) => m.what.startsWith('hactl['))?.ms ?? null,
      writerResetMs: reset === undefined ? null : reset.t - injectedAt,
    };
  } finally {
    await writable.stop();
    vip.stop();
    await writer.stop();
  }
}

/**
 * A settled pair left alone for `seconds` under the writer: every VRRP state change either node
 * logs then is spurious (no fault was injected), as is every writer failure. How a short advert
 * interval is judged on a loaded machine.
 */
export async function soak(
  lab: { prefix: string; dir: string },
  seconds: number,
): Promise<{ transitions: string[]; writerFailures: number; acks: number }> {
  const paths = labPaths(lab.dir);
  const logs = (['ha1', 'ha2'] as const).map((node) => keepalivedFiles(paths.node[node].dir).log);
  const offsets = logs.map(sizeOf);
  const writer = await startWriter(lab.prefix, {
    ratePerSec: 150,
    credentialsFile: labDatabase({ dir: lab.dir, netns: () => '' }).appCredentialsFile,
    packageRoot: packageRoot(),
    maxDurationMs: (seconds + 30) * 1_000,
  });
  try {
    if (!(await writer.waitForAck(Date.now(), 15_000)))
      throw new Error('soak: no acknowledgement within 15 s');
    const started = Date.now();
    // A fixed soak on purpose: what is counted is what happens while nothing is done.
    await sleep(seconds * 1_000);
    const transitions = logs.flatMap((log, i) =>
      tail(log, offsets[i]!)
        .split('\n')
        .filter((line) => /Entering [A-Z]+ STATE/i.test(line))
        .map((line) => line.trim()),
    );
    return {
      transitions,
      writerFailures: writer.failures.filter((f) => f.t >= started).length,
      acks: writer.acks.filter((a) => a.sentAt >= started).length,
    };
  } finally {
    await writer.stop();
  }
}

const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
};

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string', default: 'default' },
      // The fast profile's VRRPv3 advert interval (the lab's FAST_ADVERT_SEC when not given).
      advert: { type: 'string' },
      reps: { type: 'string', default: '1' },
      agents: { type: 'boolean', default: false },
      // Seconds the settled pair is first left alone under the writer, counting spurious transitions.
      soak: { type: 'string', default: '0' },
      prefix: { type: 'string', default: 'fw' },
      json: { type: 'string' },
    },
  });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) {
    console.error('first-write: --reps must be a whole number 1–20');
    return 2;
  }
  if (values.profile !== 'default' && values.profile !== 'fast') {
    console.error('first-write: --profile must be default or fast');
    return 2;
  }
  const soakSec = Number(values.soak);
  if (!Number.isInteger(soakSec) || soakSec < 0 || soakSec > 600) {
    console.error('first-write: --soak must be a whole number of seconds 0–600');
    return 2;
  }
  const advert = values.advert === undefined ? undefined : Number(values.advert);
  if (advert !== undefined) {
    const problem = values.profile === 'fast' ? fastAdvertProblem(advert) : 'needs --profile fast';
    if (problem) {
      console.error(`first-write: --advert ${values.advert}: ${problem}`);
      return 2;
    }
  }
  if (process.getuid?.() !== 0) {
    console.error('first-write: needs root (the lab creates network namespaces)');
    return 2;
  }
  const lab = { prefix: values.prefix, dir: defaultDir(values.prefix) };
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const profile = `${values.profile} profile${values.profile === 'fast' ? ` (advert ${advert ?? FAST_ADVERT_SEC} s)` : ''}`;
  const up = async () => {
    await labDown(lab);
    say(`lab up (${profile}, ${values.agents ? 'agents' : 'notify scripts'})…`);
    await labUp({
      ...lab,
      fast: values.profile === 'fast',
      ...(advert === undefined ? {} : { fastAdvertSec: advert }),
      mode: values.agents ? 'agent' : 'scripts',
    });
  };
  const results: RepTimeline[] = [];
  let rebuilds = 0;
  try {
    await up();
    if (soakSec > 0) {
      const quiet = await soak(lab, soakSec);
      console.log(
        `\n# soak: ${soakSec} s of a settled pair under the writer: ${quiet.transitions.length} VRRP state change(s), ` +
          `${quiet.writerFailures} writer failure(s), ${quiet.acks} acknowledged write(s)`,
      );
      for (const line of quiet.transitions) console.log(`  ${line}`);
    }
    for (let rep = 1; rep <= reps; rep++) {
      let result: RepTimeline;
      try {
        result = await timeline(lab);
      } catch (error) {
        say(`rep ${rep} failed, stopping: ${error instanceof Error ? error.message : String(error)}`);
        break;
      }
      results.push(result);
      console.log(`\n# rep ${rep}: ${result.from} lost, ${result.standby} takes over (${values.profile})`);
      for (const mark of result.marks)
        console.log(`${Number.isNaN(mark.ms) ? '     ?' : String(mark.ms).padStart(6)} ms  ${mark.what}`);
      let healthy = false;
      try {
        await labHeal({ ...lab, node: result.from });
        for (let i = 0; i < 120 && !healthy; i++) {
          healthy = (await pairProblems(lab)).problems.length === 0;
          if (!healthy) await sleep(500);
        }
      } catch (error) {
        // e.g. keepalived refusing to start again: the rebuild below starts from nothing.
        say(`the heal failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (!healthy && rep < reps) {
        say('the pair did not settle after the heal: rebuilding the lab');
        rebuilds++;
        try {
          await up();
        } catch (error) {
          // The reps so far still count: report them rather than lose them with the lab.
          say(
            `the rebuild failed, stopping after ${rep} rep(s): ${error instanceof Error ? error.message : String(error)}`,
          );
          break;
        }
      }
    }
  } finally {
    await labDown(lab);
  }
  const firstWrites = results.map((r) => r.firstWriteMs).filter((v): v is number => v !== null);
  const pick = (f: (r: RepTimeline) => number | null) =>
    median(results.map(f).filter((v): v is number => v !== null));
  console.log(
    `\n${profile}, ${values.agents ? 'agents' : 'notify scripts'}, ${results.length} rep(s), medians: ` +
      `VIP ${pick((r) => r.vipMs)} ms, first hactl line ${pick((r) => r.hactlMs)} ms, ` +
      `read_only=0 ${pick((r) => r.readWriteMs)} ms, writer's first failure after the VIP moved ` +
      `${pick((r) => r.writerResetMs)} ms, ` +
      `first acknowledged write ${pick((r) => r.firstWriteMs)} ms ` +
      `(each: ${results.map((r) => r.firstWriteMs ?? '-').join(', ')}; ` +
      `min ${Math.min(...firstWrites)}, max ${Math.max(...firstWrites)}; lab rebuilt ${rebuilds}× after a heal)`,
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
  return 0;
}
