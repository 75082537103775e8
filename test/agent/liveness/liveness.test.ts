// The agent's fail-safe with real processes: a small Node script (fixtures/agent.mjs) runs the
// liveness module from a bundle built here, and the test kills, freezes, resumes or stops it while
// watching the agent track file. Only PIDs this test started are signalled; all are ended after
// each test, also on failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentTrackFile } from '../../../src/agent/contract.js';
import { readValue, waitForValue } from '../../support/files.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/agent.mjs', import.meta.url));
const TIMEOUT_S = 1;
/** Heartbeat timeout plus what a loaded 2-core machine may add (bash start, scheduling). */
const GONE_BOUND_MS = TIMEOUT_S * 1000 + 2_000;

let bundleDir: string;
let bundle: string;

beforeAll(async () => {
  bundleDir = await mkdtemp(join(tmpdir(), `hactl-liveness-bundle-${process.pid}-`));
  bundle = join(bundleDir, 'liveness.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('../../../src/agent/liveness/index.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: bundle,
    logLevel: 'warning',
  });
});

afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true });
});

/** Running, not a zombie (a sentinel that exited while its parent is stopped stays unreaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, boundMs: number): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < boundMs / 10 + 1 && performance.now() - start <= boundMs; i++) {
    if (!alive(pid)) return;
    await sleep(10);
  }
  throw new Error(`process ${pid} still runs after ${boundMs} ms`);
}

interface Agent {
  child: ChildProcess;
  pid: number;
  sentinel: number;
  /** Resolves with the next "sentinel PID" line. */
  nextSentinel(boundMs: number): Promise<number>;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('agent liveness fail-safe', () => {
  let dir: string;
  let file: string;
  const pids: number[] = [];
  const agents: Agent[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `hactl-liveness-${process.pid}-`));
    file = agentTrackFile(dir, 'ha1');
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) {
      try {
        process.kill(agent.pid, 'SIGCONT');
        process.kill(agent.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(options: { detached?: boolean } = {}): Promise<Agent> {
    const child = spawn(process.execPath, [FIXTURE, bundle, dir, String(TIMEOUT_S)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    });
    let stdout = '';
    let stderr = '';
    const waiters: Array<() => void> = [];
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const waiter of waiters.splice(0)) waiter();
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const line = async (pattern: RegExp, from: number, boundMs: number): Promise<RegExpExecArray> => {
      const start = performance.now();
      for (let i = 0; i < 1000; i++) {
        const match = pattern.exec(stdout.slice(from));
        if (match) return match;
        const left = boundMs - (performance.now() - start);
        if (left <= 0 || child.exitCode !== null) break;
        await Promise.race([
          new Promise<void>((resolve) => waiters.push(resolve)),
          sleep(Math.min(left, 100)),
        ]);
      }
      throw new Error(`no ${pattern} from the agent within ${boundMs} ms; stderr: ${stderr}`);
    };
    const agent: Agent = {
      child,
      pid: child.pid!,
      sentinel: 0,
      nextSentinel: async (boundMs) => {
        const from = stdout.length;
        return Number((await line(/sentinel (\d+)\n/, from, boundMs))[1]);
      },
      stderr: () => stderr,
      exit,
    };
    agents.push(agent);
    agent.sentinel = Number((await line(/^ready (\d+)\n/, 0, 15_000))[1]);
    pids.push(agent.sentinel);
    expect(await readValue(file)).toBe('0\n');
    return agent;
  }

  it('a keepalived restart resets the file to gone (init_file … overwrite): the running agent marks it alive again within a heartbeat', async () => {
    await startAgent();
    // What keepalived does at start: the file replaced with AGENT_GONE.
    await writeFile(`${file}.keepalived`, '1\n');
    await rename(`${file}.keepalived`, file);
    const ms = await waitForValue(file, '0\n', GONE_BOUND_MS);
    process.stdout.write(`liveness: reset by keepalived → AGENT_ALIVE again in ${Math.round(ms)} ms\n`);
  });

  it('SIGKILL of the agent: the sentinel marks the node gone within the heartbeat timeout', async () => {
    const agent = await startAgent();
    process.kill(agent.pid, 'SIGKILL');
    const ms = await waitForValue(file, '1\n', GONE_BOUND_MS);
    process.stdout.write(`liveness: SIGKILL → AGENT_GONE in ${Math.round(ms)} ms\n`);
    await waitGone(agent.sentinel, 2_000);
  });

  it('SIGKILL of the agent’s whole process group: the sentinel, in its own session, still writes', async () => {
    const agent = await startAgent({ detached: true });
    process.kill(-agent.pid, 'SIGKILL');
    await waitForValue(file, '1\n', GONE_BOUND_MS);
    await waitGone(agent.sentinel, 2_000);
  });

  it('SIGSTOP: gone within the timeout (not before a heartbeat is due); SIGCONT: alive again and watched by a new sentinel', async () => {
    const agent = await startAgent();
    const stoppedAt = performance.now();
    process.kill(agent.pid, 'SIGSTOP');
    const ms = await waitForValue(file, '1\n', GONE_BOUND_MS);
    process.stdout.write(`liveness: SIGSTOP → AGENT_GONE in ${Math.round(ms)} ms\n`);
    // The timeout path, not an end of file: at least two missed heartbeats (timeout × 2/3).
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual((TIMEOUT_S * 1000 * 2) / 3 - 50);
    await waitGone(agent.sentinel, 2_000);
    const next = agent.nextSentinel(10_000);
    process.kill(agent.pid, 'SIGCONT');
    const sentinel = await next;
    pids.push(sentinel);
    expect(sentinel).not.toBe(agent.sentinel);
    await waitForValue(file, '0\n', 5_000);
    expect(agent.stderr()).toMatch(/no heartbeat for \d+ ms/);
    // The new sentinel watches: killing the agent now marks the node gone again.
    process.kill(agent.pid, 'SIGKILL');
    await waitForValue(file, '1\n', GONE_BOUND_MS);
  });

  it('a killed sentinel is replaced and the node stays alive', async () => {
    const agent = await startAgent();
    const next = agent.nextSentinel(10_000);
    process.kill(agent.sentinel, 'SIGKILL');
    const sentinel = await next;
    pids.push(sentinel);
    expect(sentinel).not.toBe(agent.sentinel);
    expect(await readValue(file)).toBe('0\n');
    process.kill(agent.pid, 'SIGKILL');
    await waitForValue(file, '1\n', GONE_BOUND_MS);
  });

  it('a new agent waits for the sentinel of a frozen earlier one, which then cannot overwrite its ALIVE', async () => {
    const first = await startAgent();
    process.kill(first.pid, 'SIGSTOP');
    // The frozen agent's sentinel still runs; the new agent must not write ALIVE before it is done.
    const second = await startAgent();
    expect(alive(first.sentinel)).toBe(false);
    expect(second.stderr()).toMatch(/waiting for the liveness sentinel of an earlier agent/);
    // Longer than the heartbeat timeout: nothing may turn the node gone behind the new agent's back.
    await sleep(TIMEOUT_S * 1000 + 500);
    expect(await readValue(file)).toBe('0\n');
    process.kill(second.pid, 'SIGKILL');
    await waitForValue(file, '1\n', GONE_BOUND_MS);
  });

  it('a new agent also waits for an earlier sentinel caught in its last act, the exec’d mv (its cmdline no longer names it)', async () => {
    await mkdir(dirname(file), { recursive: true });
    // Stands for a timed-out sentinel after `exec mv -f -- TMP FILE`: a process whose arguments
    // hold its temporary file (named with its own PID) and that renames it over the track file
    // a moment later. Only the test's own PID is signalled, in afterEach.
    const script = [
      'tmp="${1%/*}/.${1##*/}.sentinel-$$.tmp"',
      'printf "1\\n" > "$tmp"',
      'exec bash -c \'read -r -t 1 _; mv -f -- "$1" "$2"\' rename "$tmp" "$1"',
    ].join('\n');
    const renamer = spawn('/bin/bash', ['--norc', '-c', script, 'stand-in', file], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    pids.push(renamer.pid!);
    const renamed = new Promise((resolve) => renamer.once('exit', resolve));
    const temp = join(dirname(file), `.${basename(file)}.sentinel-${renamer.pid}.tmp`);
    const start = performance.now();
    for (let i = 0; i < 500 && (await readValue(temp)) === undefined; i++) {
      if (performance.now() - start > 5_000) throw new Error(`the stand-in wrote no ${temp} in 5 s`);
      await sleep(10);
    }
    const agent = await startAgent();
    expect(agent.stderr()).toMatch(/waiting for the liveness sentinel of an earlier agent/);
    await renamed;
    expect(await readValue(file)).toBe('0\n');
  });

  it('clean stop: the node is marked gone and the sentinel ends', async () => {
    const agent = await startAgent();
    process.kill(agent.pid, 'SIGTERM');
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(await readValue(file)).toBe('1\n');
    await waitGone(agent.sentinel, 2_000);
    expect(agent.stderr()).toMatch(/node marked unhealthy: SIGTERM/);
  });

  it('SIGTERM to the sentinel (systemd stopping the cgroup) writes gone before it exits', async () => {
    const agent = await startAgent();
    const next = agent.nextSentinel(10_000);
    // Stop the agent's respawn from racing the check: freeze it first.
    process.kill(agent.pid, 'SIGSTOP');
    process.kill(agent.sentinel, 'SIGTERM');
    await waitForValue(file, '1\n', 2_000);
    await waitGone(agent.sentinel, 2_000);
    process.kill(agent.pid, 'SIGCONT');
    pids.push(await next);
    await waitForValue(file, '0\n', 5_000);
  });
});
