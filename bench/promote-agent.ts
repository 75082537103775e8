/**
 * Agent-mode promotion timing for bench:promote: a real `hactl agent` runs warm in the replica's
 * namespace (agent mode as the lab renders it: agent.enabled, heartbeat, the in-process MariaDB
 * check at 1 s) and the bench plays keepalived: it adds the VIP, then writes the MASTER line into
 * the agent's notify FIFO in keepalived's exact format (src/agent/fifo-line.ts). t0 is just before
 * that write(2); the end is read_only=0 seen by a pooled connection polling @@read_only, the same
 * observer as the notify runs, so both ratios are measured alike. The agent's own log timestamps
 * (ms) split the time into wake-up, decision (observe, lock, observe again) and the promotion's steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { notifyFifoPath } from '../src/agent/contract.js';
import type { MysqlSession } from '../src/mysql/connection.js';

export interface AgentTiming {
  /** FIFO write → read_only=0 as the poller saw it. */
  toReadOnlyFlip: number;
  /** FIFO write → the agent's log lines (its wall clock and ours are the same clock). */
  toFifoLine: number;
  toDecision: number;
  toPromoteSeen: number;
  /** Drain decided (IO thread stopped, positions compared). */
  toCatchUp: number;
  /** First lineage write (fsynced) once drained. */
  toLineage: number;
  /** STOP SLAVE + RESET SLAVE ALL done; SET GLOBAL read_only=0 comes next. */
  toReplicationRemoved: number;
  toPromoteDone: number;
  toApplied: number;
  lockWaitMs: number;
  actionMs: number;
}

type LogLine = Record<string, unknown>;

export interface BenchAgent {
  promote(session: () => Promise<MysqlSession>): Promise<AgentTiming>;
  demote(session: () => Promise<MysqlSession>): Promise<{ toReadOnlyFlip: number; toApplied: number }>;
  stop(): Promise<void>;
}

/**
 * The lab's agent-mode spec (src/lab/spec.ts) on the bench pair: the pair's spec with the agent
 * section and the MariaDB check as the lab renders them, logging at the lab's level.
 */
export function agentSpecText(pairSpec: string): string {
  const base = readFileSync(pairSpec, 'utf8').replace('level: debug', 'level: info');
  return `${base}
agent: { enabled: true, heartbeat_timeout: 2, track_process: false }
checks:
  - { name: mariadb, kind: mysql, interval: 1, timeout: 1, fall: 2, rise: 2, weight: 0 }
`;
}

function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  const lines: LogLine[] = [];
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      /* a line still being written */
    }
  }
  return lines;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (let i = 0; i < 100_000 && performance.now() < end; i++) {
    const found = probe();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`bench:promote: no ${what} within ${timeoutMs / 1000} s`);
}

async function readOnly(s: MysqlSession): Promise<string> {
  return String((await s.query('SELECT @@GLOBAL.read_only AS r'))[0]?.r);
}

/** Polls @@read_only every ~2 ms on one kept connection until it reads `want`; ms since p0. */
async function pollReadOnly(
  session: () => Promise<MysqlSession>,
  first: MysqlSession,
  want: string,
  p0: number,
  boundMs: number,
): Promise<{ ms: number; session: MysqlSession }> {
  let s = first;
  const end = p0 + boundMs;
  for (let i = 0; i < 500_000 && performance.now() < end; i++) {
    try {
      if ((await readOnly(s)) === want) return { ms: performance.now() - p0, session: s };
    } catch {
      // a demotion ends client sessions, ours included
      s = await session();
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`bench:promote: read_only did not become ${want} within ${boundMs / 1000} s`);
}

let agentsStarted = 0;

export async function startBenchAgent(options: {
  hactl: string;
  ns: string;
  dir: string;
  pairSpec: string;
  runtimeDir: string;
  node: string;
  instance: string;
  priority: number;
}): Promise<BenchAgent> {
  const spec = `${options.dir}/agent-spec.yaml`;
  // One log per agent started: a restarted agent's first tick must not be found in its predecessor's.
  const log = `${options.dir}/agent-${++agentsStarted}.log`;
  writeFileSync(spec, agentSpecText(options.pairSpec));
  const out = openSync(log, 'a');
  // As the lab starts it (src/lab/agent.ts), with one difference: a 600 s timer instead of 5 s, so
  // every tick is woken by our FIFO line; with 5 s the timer could promote on the VIP alone between
  // our adding it and the line, and the bench would time the timer, not keepalived's path.
  // `ip netns exec` execs in place, so the child's PID is the agent's.
  let child: ChildProcess;
  try {
    child = spawn(
      'ip',
      [
        'netns',
        'exec',
        options.ns,
        process.execPath,
        options.hactl,
        'agent',
        '--spec',
        spec,
        '--node',
        options.node,
        '--interval',
        '600',
      ],
      { stdio: ['ignore', out, out], detached: true },
    );
  } finally {
    closeSync(out);
  }
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async () => {
    if (exited || child.pid === undefined) return;
    child.kill('SIGTERM');
    const end = performance.now() + 30_000;
    while (!exited && performance.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (!exited) child.kill('SIGKILL');
  };
  let fd: number | undefined;
  try {
    // Its first tick (woken by 'start', the VIP elsewhere) applies BACKUP: let it finish before timing.
    await until(
      'first tick of the agent',
      () => {
        if (exited) throw new Error(`the bench's agent exited during start; see ${log}`);
        return readLog(log).find((l) => l.event === 'agent.tick') ? true : undefined;
      },
      60_000,
    );
    await until(
      'quiet agent after its first tick',
      () => {
        const lines = readLog(log);
        const tick = lines.findLast((l) => l.event === 'agent.tick');
        if (tick?.result === 'skip') return true;
        return lines.some((l) => l.event === 'agent.applied') ? true : undefined;
      },
      60_000,
    );
    // keepalived keeps its end of the FIFO open and write(2)s each line whole; so does the bench.
    fd = openSync(notifyFifoPath(options.runtimeDir, options.node), 'a');
  } catch (error) {
    await stop();
    throw error;
  }
  const fifo = fd;
  const line = (state: string) => `INSTANCE "${options.instance}" ${state} ${options.priority}\n`;

  const transition = async (
    state: 'MASTER' | 'BACKUP',
    session: () => Promise<MysqlSession>,
  ): Promise<{ flip: number; p0: number; t0: number; run: LogLine[] }> => {
    const want = state === 'MASTER' ? '0' : '1';
    let s = await session();
    if ((await readOnly(s)) === want) throw new Error(`bench:promote: read_only is already ${want}`);
    const from = readLog(log).length;
    const t0 = Date.now();
    const p0 = performance.now();
    writeSync(fifo, line(state));
    const polled = await pollReadOnly(session, s, want, p0, 60_000);
    s = polled.session;
    await s.close().catch(() => undefined);
    const applied = await until(
      `agent.applied ${state}`,
      () => {
        if (exited) throw new Error(`the bench's agent exited; see ${log}`);
        const run = readLog(log).slice(from);
        const done = run.find((l) => l.event === 'agent.applied');
        return done ? { done, run } : undefined;
      },
      60_000,
    );
    if (applied.done.state !== state || applied.done.result !== 'ok')
      throw new Error(`bench:promote: the agent applied ${JSON.stringify(applied.done)}; see ${log}`);
    return { flip: polled.ms, p0, t0, run: applied.run };
  };
  const at = (run: LogLine[], t0: number, match: (l: LogLine) => boolean) => {
    const found = run.find(match);
    return found ? Date.parse(String(found.time)) - t0 : NaN;
  };

  return {
    async promote(session) {
      const { flip, t0, run } = await transition('MASTER', session);
      const tick = run.find((l) => l.event === 'agent.tick' && l.result === 'apply');
      const action = run.find((l) => l.event === 'agent.action' && l.action === 'mysql.promote');
      return {
        toReadOnlyFlip: flip,
        toFifoLine: at(run, t0, (l) => l.event === 'agent.fifo'),
        toDecision: at(run, t0, (l) => l === tick),
        toPromoteSeen: at(run, t0, (l) => l.event === 'promote.seen'),
        toCatchUp: at(run, t0, (l) => l.event === 'promote.catch_up' || l.event === 'promote.caught_up'),
        toLineage: at(run, t0, (l) => l.event === 'promote.lineage'),
        toReplicationRemoved: at(run, t0, (l) => l.event === 'promote.replication_removed'),
        toPromoteDone: at(run, t0, (l) => l.event === 'promote.done'),
        toApplied: at(run, t0, (l) => l.event === 'agent.applied'),
        lockWaitMs: Number(tick?.lock_wait_ms ?? NaN),
        actionMs: Number(action?.duration_ms ?? NaN),
      };
    },
    async demote(session) {
      const { flip, t0, run } = await transition('BACKUP', session);
      return { toReadOnlyFlip: flip, toApplied: at(run, t0, (l) => l.event === 'agent.applied') };
    },
    async stop() {
      closeSync(fifo);
      await stop();
    },
  };
}
