/**
 * Promotion/demotion timing of a caught-up replica, two ways, against Node starts sampled in the
 * same run:
 * - through the built CLI, as keepalived runs it in script mode: `ip netns exec NS bin/hactl notify …`;
 *   t0 is just before the spawn;
 * - agent mode (bench/promote-agent.ts): a warm `hactl agent` reads the MASTER line the bench writes
 *   into its notify FIFO; t0 is just before that write.
 * Either way the end is read_only seen flipping by a kept connection polling every ~2 ms (the
 * resolution: 2 ms plus one round trip), and the breakdown comes from hactl's own log lines.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlSession } from '../src/mysql/connection.js';
import { addVip, removeVip } from '../test/notify/ns.js';
import { startNsPair, VIP } from '../test/notify/mysql-pair.js';
import { startBenchAgent, type AgentTiming, type BenchAgent } from './promote-agent.js';

// Set by main(): this file runs bundled from elsewhere, so import.meta.url is not the repo.
let hactl = '';

interface Timing {
  toReadOnlyFlip: number;
  toExit: number;
  toFirstLog: number;
  /** To hactl's own line logged right after the read_only change returned (promote.done / demote.done). */
  toDoneLog: number;
  actionMs: number;
  /** From notify's own debug line: lock wait, whole observation, and its database source. */
  lockMs: number;
  observeMs: number;
  databaseMs: number;
  /** NOTIFY_TIMELINE=1: what bench/promote-timeline.cjs recorded in this run's notify process. */
  timeline?: Timeline;
}

interface Timeline {
  gcMs: number;
  gcCount: number;
  /** [what, ms since the process started], in order. */
  marks: [string, number][];
}

// Extra Node flags for the notify processes only, e.g. NOTIFY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/p'
// (Node refuses --cpu-prof in NODE_OPTIONS).
const notifyNodeArgs = (process.env.NOTIFY_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * NOTIFY_TIMELINE=1: each notify process is preloaded with bench/promote-timeline.cjs, and the
 * report adds the promotion's timeline from process start (medians): Node's bootstrap, the
 * bundles' compile and run, the flock(1) child, the driver's load, the connection, every log
 * line, and the GC time. The hooks cost a few ms themselves: compare variants within one run.
 */
const TIMELINE = process.env.NOTIFY_TIMELINE === '1';
let timelineDir = '';

/**
 * QUIET=1: no polling while notify runs. The ~2 ms poll (a query each time, and the server's
 * answer) competes with notify for the CPU on a small machine, which the reference starts never
 * face; in this mode "→ read_only" is the time of hactl's own promote.done/demote.done line (ms
 * resolution, logged as the statement returned), and read_only is checked once notify exited.
 */
const QUIET = process.env.QUIET === '1';

function spawnNotify(
  bin: string,
  ns: string,
  args: string[],
): { done: Promise<number>; pid: number | undefined } {
  const argv = ['netns', 'exec', ns, process.execPath, ...notifyNodeArgs, bin, 'notify', ...args];
  const child = spawn('ip', argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return {
    // ip execs node after entering the namespace: the same process.
    pid: child.pid,
    done: new Promise((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`notify exited ${code}: ${stderr}`));
        else resolve(code);
      });
    }),
  };
}

async function readOnly(s: MysqlSession): Promise<string> {
  return String((await s.query('SELECT @@GLOBAL.read_only AS r'))[0]?.r);
}

function lastRun(
  log: string,
  pidEvent: string,
): {
  firstLogMs: number;
  doneLogMs: number;
  actionMs: number;
  lockMs: number;
  observeMs: number;
  databaseMs: number;
} {
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const start = lines.map((l) => l.event).lastIndexOf('notify.received');
  const run = lines.slice(start);
  const action = run.find((l) => l.event === 'notify.action' && l.action === pidEvent);
  const observed = run.find((l) => l.event === 'notify.observed');
  const sources = (observed?.sources_ms ?? {}) as Record<string, unknown>;
  return {
    firstLogMs: Date.parse(String(run[0]!.time)),
    doneLogMs: Date.parse(
      String(run.find((l) => l.event === `${pidEvent.slice('mysql.'.length)}.done`)?.time),
    ),
    actionMs: Number(action?.duration_ms ?? NaN),
    lockMs: Number(observed?.lock_ms ?? NaN),
    observeMs: Number(observed?.observe_ms ?? NaN),
    databaseMs: Number(sources.database ?? NaN),
  };
}

async function measure(
  bin: string,
  ns: string,
  args: string[],
  session: () => Promise<MysqlSession>,
  want: string,
  log: string,
  action: string,
): Promise<Timing> {
  let s = await session();
  const t0 = Date.now();
  const p0 = performance.now();
  const { done, pid } = spawnNotify(bin, ns, args);
  let exited = false;
  let toExit = 0;
  void done.then(() => {
    exited = true;
    toExit = performance.now() - p0;
  });
  let toFlip = NaN;
  for (let i = 0; i < (QUIET ? 0 : 200_000); i++) {
    try {
      if ((await readOnly(s)) === want) {
        toFlip = performance.now() - p0;
        break;
      }
    } catch {
      // demotion kills client sessions, ours included
      s = await session();
    }
    // Poll often enough for ms resolution without starving the notify process of CPU.
    await new Promise((r) => setTimeout(r, 2));
    if (exited && Number.isNaN(toFlip)) {
      if ((await readOnly(await session())) === want) toFlip = performance.now() - p0;
      break;
    }
  }
  await done;
  await s.close().catch(() => undefined);
  const { firstLogMs, doneLogMs, ...fromLog } = lastRun(log, action);
  if (QUIET) {
    // Nothing polled while notify ran: the change is taken from hactl's own line, and checked.
    const seen = await readOnly(await session());
    if (seen !== want) throw new Error(`read_only is ${seen} after notify exited, not ${want}`);
    toFlip = doneLogMs - t0;
  }
  const timelineFile = TIMELINE ? join(timelineDir, `${pid}.json`) : '';
  return {
    toReadOnlyFlip: toFlip,
    toExit,
    toFirstLog: firstLogMs - t0,
    toDoneLog: doneLogMs - t0,
    ...fromLog,
    ...(timelineFile && existsSync(timelineFile)
      ? { timeline: JSON.parse(readFileSync(timelineFile, 'utf8')) as Timeline }
      : {}),
  };
}

/** The promotions' timelines as one table: each mark's median over the runs that have it. */
function timelineReport(label: string, timings: Timing[]): void {
  const timelines = timings.flatMap((t) => (t.timeline ? [t.timeline] : []));
  if (timelines.length === 0) return;
  const at = new Map<string, number[]>();
  for (const { marks } of timelines) {
    // A mark seen twice in a run (a second lineage line, a second connection) gets its ordinal.
    const seen = new Map<string, number>();
    for (const [what, ms] of marks) {
      const n = (seen.get(what) ?? 0) + 1;
      seen.set(what, n);
      const key = n === 1 ? what : `${what} #${n}`;
      at.set(key, [...(at.get(key) ?? []), ms]);
    }
  }
  const rows = [...at].map(([what, values]) => [what, medianOf(values), values.length] as const);
  rows.sort((a, b) => a[1] - b[1]);
  console.log(
    `${label}: notify MASTER timeline, ms since the process started (median of ${timelines.length} runs; bench/promote-timeline.cjs hooks included)`,
  );
  let previous = 0;
  for (const [what, ms, n] of rows) {
    console.log(
      `  ${ms.toFixed(1).padStart(7)}  +${(ms - previous).toFixed(1).padStart(5)}  ${what}${n < timelines.length ? ` (${n} runs)` : ''}`,
    );
    previous = ms;
  }
  console.log(
    `  GC: ${medianOf(timelines.map((t) => t.gcCount))} collections, ${medianOf(timelines.map((t) => t.gcMs)).toFixed(1)} ms (medians)`,
  );
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[half]! : (sorted[half - 1]! + sorted[half]!) / 2;
}

function stats(values: number[]): string[] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return [medianOf(values), sorted[0]!, at(0.9), sorted[sorted.length - 1]!].map((v) =>
    v.toFixed(0).padStart(6),
  );
}

/** Spawn → exit of `node ARGS` in namespace NS, in ms: the same exec path as the notify runs. */
async function processMs(ns: string, args: string[]): Promise<number> {
  const t = performance.now();
  await new Promise((resolve, reject) =>
    spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: 'ignore' })
      .on('error', reject)
      .on('close', resolve),
  );
  return performance.now() - t;
}

/**
 * The references, taken between the notify runs so they see the same machine load, and through
 * `ip netns exec` in the notify runs' namespace so they pay the same exec path (10–30 ms here):
 * - `node --version` prints from Node's C++ side before V8 starts (exec + dynamic linking only);
 * - `node -e 0` is a bare Node start: V8, Node's bootstrap, an empty script;
 * - `node bin/hactl --version` adds hactl's dispatcher (the 145 ms of issue 10's 2.8× figure).
 */
interface References {
  nodeVersion: number[];
  nodeStart: number[];
  hactlVersion: number[];
}

async function sampleReferences(ns: string, refs: References): Promise<void> {
  refs.nodeVersion.push(await processMs(ns, ['--version']));
  refs.nodeStart.push(await processMs(ns, ['-e', '0']));
  refs.hactlVersion.push(await processMs(ns, [hactl, '--version']));
}

interface Variant {
  label: string;
  hactl: string;
  /**
   * The spec file this variant's notify runs read: a copy per variant, so that each keeps its own
   * validated-spec cache beside it (two builds whose cache formats differ would otherwise replace
   * each other's on every run, and both would pay YAML and zod each time).
   */
  spec: string;
  promote: Timing[];
  demote: Timing[];
}

/** issue 10's targets, as ratios of MASTER → read_only=0 to a bare Node start in the same run. */
const TARGET_NOTIFY = 1.5;
const TARGET_AGENT = 0.3;

function table(rows: [string, number[]][]): void {
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`${''.padEnd(width)}  median    min    p90    max`);
  for (const [name, values] of rows) console.log(`${name.padEnd(width)}  ${stats(values).join(' ')}`);
}

const REFERENCE_NOTE =
  "the reference is `node -e 0`, a real Node start (V8, Node's bootstrap, an empty script); " +
  '`node --version` exits before V8 starts and is shown for comparison only';

function verdict(ratio: number, target: number): string {
  return ratio <= target ? `meets ≤ ${target}×` : `ABOVE the target ≤ ${target}×`;
}

function referenceRows(refs: References): [string, number[]][] {
  return [
    ['reference: node -e 0 (bare Node start)', refs.nodeStart],
    ['reference: node --version (exits before V8)', refs.nodeVersion],
    ['reference: node bin/hactl --version', refs.hactlVersion],
  ];
}

function report(v: Variant, refs: References, runs: number): void {
  const { promote, demote } = v;
  console.log(
    `${v.label}: hactl notify promote/demote, ${runs} runs each (ms; MariaDB pair in two namespaces, caught-up replica; every process, references included, started through ip netns exec${QUIET ? '; QUIET: no polling, read_only from hactl’s promote.done/demote.done line, checked after exit' : ''})`,
  );
  table([
    ['notify MASTER: start → read_only=0', promote.map((t) => t.toReadOnlyFlip)],
    ['notify MASTER: start → exit', promote.map((t) => t.toExit)],
    ['  of which: start → first log line', promote.map((t) => t.toFirstLog)],
    ['  of which: start → promote.done logged', promote.map((t) => t.toDoneLog)],
    ['  of which: lock wait', promote.map((t) => t.lockMs)],
    ['  of which: observe (all sources)', promote.map((t) => t.observeMs)],
    ['    of which: database source', promote.map((t) => t.databaseMs)],
    ['  of which: mysql.promote action', promote.map((t) => t.actionMs)],
    ['notify BACKUP: start → read_only=1', demote.map((t) => t.toReadOnlyFlip)],
    ['notify BACKUP: start → exit (demoted + re-pointed)', demote.map((t) => t.toExit)],
    ['  of which: start → first log line', demote.map((t) => t.toFirstLog)],
    ['  of which: mysql.demote action', demote.map((t) => t.actionMs)],
    ...referenceRows(refs),
  ]);
  timelineReport(v.label, promote);
  const flip = medianOf(promote.map((t) => t.toReadOnlyFlip));
  const start = medianOf(refs.nodeStart);
  const ratio = flip / start;
  console.log(
    `${v.label}: notify MASTER → read_only=0 median ${flip.toFixed(0)} ms; first log line ${medianOf(promote.map((t) => t.toFirstLog)).toFixed(0)} ms; node -e 0 median ${start.toFixed(0)} ms`,
  );
  console.log(
    `${v.label}: notify ratio ${ratio.toFixed(2)}× node -e 0 — ${verdict(ratio, TARGET_NOTIFY)} (issue 10; ` +
      `${(flip / medianOf(refs.nodeVersion)).toFixed(2)}× node --version, ${(flip / medianOf(refs.hactlVersion)).toFixed(2)}× hactl --version)`,
  );
}

function reportAgent(agent: AgentRuns, refs: References, runs: number): void {
  const { promote, demote } = agent;
  console.log(
    `${agent.label}, agent mode: a warm hactl agent promotes/demotes on the FIFO line the bench writes as keepalived does, ${runs} runs each (ms from the write; same pair)`,
  );
  table([
    ['agent MASTER: FIFO write → read_only=0', promote.map((t) => t.toReadOnlyFlip)],
    ['  agent log: FIFO line consumed (tick start)', promote.map((t) => t.toFifoLine)],
    ['  agent log: decision (observe, lock, observe)', promote.map((t) => t.toDecision)],
    ['    of which: lock wait', promote.map((t) => t.lockWaitMs)],
    ['  agent log: promote.seen (connected, state read)', promote.map((t) => t.toPromoteSeen)],
    ['  agent log: promote.catch_up (drain checked)', promote.map((t) => t.toCatchUp)],
    ['  agent log: promote.lineage (fsynced)', promote.map((t) => t.toLineage)],
    ['  agent log: replication stopped and reset', promote.map((t) => t.toReplicationRemoved)],
    ['  agent log: promote.done (read_only=0 set)', promote.map((t) => t.toPromoteDone)],
    ['  agent log: agent.applied', promote.map((t) => t.toApplied)],
    ['  mysql.promote action', promote.map((t) => t.actionMs)],
    ['agent BACKUP: FIFO write → read_only=1', demote.map((t) => t.toReadOnlyFlip)],
    ['agent BACKUP: FIFO write → agent.applied', demote.map((t) => t.toApplied)],
    ['warm process: new MariaDB connection (socket)', agent.connectMs],
    ['warm process: one query round trip', agent.queryMs],
    ...referenceRows(refs),
  ]);
  const flip = medianOf(promote.map((t) => t.toReadOnlyFlip));
  const sorted = promote.map((t) => t.toReadOnlyFlip).sort((a, b) => a - b);
  const p90 = sorted[Math.min(sorted.length - 1, Math.floor(0.9 * sorted.length))]!;
  const start = medianOf(refs.nodeStart);
  console.log(
    `${agent.label}, agent mode: MASTER → read_only=0 median ${flip.toFixed(0)} ms, p90 ${p90.toFixed(0)} ms; node -e 0 median ${start.toFixed(0)} ms`,
  );
  console.log(
    `${agent.label}, agent mode: ratio ${(flip / start).toFixed(2)}× node -e 0 (p90 ${(p90 / start).toFixed(2)}×) — ${verdict(flip / start, TARGET_AGENT)} (issue 10)`,
  );
}

interface AgentRuns {
  label: string;
  hactl: string;
  promote: AgentTiming[];
  demote: { toReadOnlyFlip: number; toApplied: number }[];
  /** What a connection and a round trip cost a warm process (the bench's own), in the same run. */
  connectMs: number[];
  queryMs: number[];
}

/** The price of a fresh connection and of one query, from this (warm) process, over the socket. */
async function sampleDatabaseCosts(session: () => Promise<MysqlSession>, into: AgentRuns): Promise<void> {
  const t = performance.now();
  const s = await session();
  into.connectMs.push(performance.now() - t);
  try {
    const q = performance.now();
    await s.query('SELECT @@GLOBAL.read_only AS r');
    into.queryMs.push(performance.now() - q);
  } finally {
    await s.close();
  }
}

/**
 * BASELINE=DIR (a built checkout of another revision, e.g. `git archive main`, built with its
 * own `npm run build`) runs its bin/hactl in alternation with this one against the same pair, so
 * a before/after comparison sees the same machine load: notify runs alternate run by run; agents
 * (one per node at a time) are started afresh for every run, each warmed by one promotion and
 * demotion that are not counted. MODES=notify or MODES=agent runs one side only (default both).
 * NOTIFY_TIMELINE=1 adds each variant's promotion timeline from process start (see TIMELINE).
 */
export async function main(runs: number, repoRoot: string): Promise<number> {
  hactl = `${repoRoot}/bin/hactl`;
  if (process.getuid?.() !== 0) {
    console.error('bench:promote needs root (network namespaces, mariadbd)');
    return 2;
  }
  if (TIMELINE) {
    timelineDir = mkdtempSync(join(tmpdir(), 'hactl-timeline-'));
    // Inherited by the notify processes (through ip netns exec).
    process.env.HACTL_TIMELINE_DIR = timelineDir;
    notifyNodeArgs.push('-r', `${repoRoot}/bench/promote-timeline.cjs`);
  }
  const modes = (process.env.MODES ?? 'notify,agent').split(',');
  const baseline = process.env.BASELINE;
  const labelled = <T>(make: (label: string, bin: string) => T): T[] => [
    ...(baseline ? [make(`baseline ${baseline}`, `${baseline}/bin/hactl`)] : []),
    make('this checkout', hactl),
  ];
  const variants: Variant[] = modes.includes('notify')
    ? labelled((label, bin) => ({ label, hactl: bin, spec: '', promote: [], demote: [] }))
    : [];
  const agents: AgentRuns[] = modes.includes('agent')
    ? labelled((label, bin) => ({ label, hactl: bin, promote: [], demote: [], connectMs: [], queryMs: [] }))
    : [];
  const pair = await startNsPair('b');
  let agent: BenchAgent | undefined;
  try {
    variants.forEach((v, i) => {
      v.spec = i === variants.length - 1 ? pair.spec : pair.spec.replace(/\.yaml$/, `-${i}.yaml`);
      if (v.spec !== pair.spec) copyFileSync(pair.spec, v.spec);
    });
    const replica = () => pair.db.ha2.session(pair.db.ha2.admin);
    const primary = await pair.db.ha1.session(pair.db.ha1.admin);
    const refs: References = { nodeVersion: [], nodeStart: [], hactlVersion: [] };
    const startAgent = async (bin: string): Promise<BenchAgent> => {
      const started = await startBenchAgent({
        hactl: bin,
        ns: pair.ns.ha2,
        dir: pair.dir,
        pairSpec: pair.spec,
        runtimeDir: `${pair.dir}/run`,
        node: 'ha2',
        instance: 'inside',
        priority: 120,
      });
      // Warm: the first promotion loads the promote path's modules; it is not counted.
      addVip(pair.ns.ha2, VIP);
      await started.promote(replica);
      removeVip(pair.ns.ha2, VIP);
      await started.demote(replica);
      return started;
    };
    for (let i = 0; i < runs; i++) {
      await sampleReferences(pair.ns.ha2, refs);
      for (const v of variants) {
        // A little traffic so the replica has something to be caught up with.
        await primary.query('INSERT INTO app.t (v) VALUES (?)', [i]);
        await new Promise((r) => setTimeout(r, 200));
        addVip(pair.ns.ha2, VIP);
        v.promote.push(
          await measure(
            v.hactl,
            pair.ns.ha2,
            ['--spec', v.spec, '--node', 'ha2', 'INSTANCE', 'inside', 'MASTER', '120'],
            replica,
            '0',
            pair.log,
            'mysql.promote',
          ),
        );
        removeVip(pair.ns.ha2, VIP);
        v.demote.push(
          await measure(
            v.hactl,
            pair.ns.ha2,
            ['--spec', v.spec, '--node', 'ha2', 'INSTANCE', 'inside', 'BACKUP', '120'],
            replica,
            '1',
            pair.log,
            'mysql.demote',
          ),
        );
      }
      for (const a of agents) {
        // One agent per node at a time; without a baseline the same one serves every run.
        if (!agent || agents.length > 1) {
          await agent?.stop();
          agent = undefined;
          agent = await startAgent(a.hactl);
        }
        await sampleDatabaseCosts(replica, a);
        await primary.query('INSERT INTO app.t (v) VALUES (?)', [i]);
        await new Promise((r) => setTimeout(r, 200));
        addVip(pair.ns.ha2, VIP);
        a.promote.push(await agent.promote(replica));
        removeVip(pair.ns.ha2, VIP);
        a.demote.push(await agent.demote(replica));
      }
    }
    await primary.close();
    console.log(`bench:promote: ${REFERENCE_NOTE}.`);
    for (const v of variants) report(v, refs, runs);
    for (const a of agents) reportAgent(a, refs, runs);
    if (agents.length > 1) {
      const start = medianOf(refs.nodeStart);
      console.log(
        `agent mode before/after (same run, node -e 0 median ${start.toFixed(0)} ms): ` +
          agents
            .map((a) => {
              const flip = medianOf(a.promote.map((t) => t.toReadOnlyFlip));
              return `${a.label} ${flip.toFixed(0)} ms = ${(flip / start).toFixed(2)}×`;
            })
            .join('; '),
      );
    }
    return 0;
  } finally {
    await agent?.stop();
    await pair.stop();
    if (timelineDir) rmSync(timelineDir, { recursive: true, force: true });
  }
}
