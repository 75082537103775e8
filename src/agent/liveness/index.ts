/**
 * The agent's fail-safe. keepalived reads the agent's track file (src/agent/contract.ts, weight 0:
 * any non-zero value is FAULT), and a file only says what was last written: a dead or frozen agent
 * would leave AGENT_ALIVE behind and the node would look healthy. So a sentinel outlives the
 * agent's failures: a tiny bash child that reads one heartbeat line every timeout/3 from a pipe the
 * agent holds. End of file (the agent died: the kernel closes its end of the pipe, even on SIGKILL)
 * or a read that times out (the agent froze, e.g. SIGSTOP, or its event loop is stuck) makes it
 * write AGENT_GONE — a temporary file renamed over the track file — and exit.
 *
 * The sentinel is started with setsid (detached): it has no controlling terminal and is in no
 * process group of the agent's, so neither a terminal hang-up or Ctrl-C nor a kill of the agent's
 * process group (`kill -9 -PGID`) takes it down before it has written. Under systemd the process
 * group does not matter: the default KillMode=control-group sends SIGTERM to the whole cgroup once
 * the main process is gone or stopping, and the sentinel answers SIGTERM by writing AGENT_GONE
 * first. (KillMode=mixed would SIGKILL it at once when the agent dies; the unit should keep the
 * default, and an ExecStopPost that writes AGENT_GONE covers even that.) HUP, INT and PIPE are
 * ignored: they are meant for the agent, whose pipe the sentinel watches anyway.
 *
 * The agent notices a sentinel that exited (killed, or timed out while the agent was frozen),
 * starts a new one (at most RESPAWN_BURST per minute) and only then writes AGENT_ALIVE again: the
 * old sentinel's AGENT_GONE is on disk before its exit is seen, so it can never overwrite the new
 * ALIVE. Once respawning is exhausted the agent writes AGENT_GONE itself: unwatched is unhealthy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../../errors.js';
import { problemWithUserPath } from '../../fs/user-path.js';
import type { AgentLog } from '../checks/index.js';
import { ensureTrackDir, writeTrackValue } from '../checks/track-write.js';
import { AGENT_ALIVE, AGENT_GONE, agentTrackFile, trackFileText } from '../contract.js';

export interface LivenessOptions {
  runtimeDir: string;
  /** This node's name: its agent files have a directory of their own under runtimeDir. */
  node: string;
  /** The spec's agent.heartbeat_timeout: seconds without a heartbeat after which the node is unhealthy. */
  heartbeatTimeoutSec: number;
  log: AgentLog;
}

export interface Liveness {
  /** Marks the node unhealthy (AGENT_GONE) and ends the sentinel; `reason` goes to the log. */
  stop(reason: string): Promise<void>;
  /** The sentinel's PID (for tests and `hactl status`). */
  sentinelPid(): number | undefined;
}

/** Respawns allowed per minute before the agent gives up watching itself and reports GONE. */
export const RESPAWN_BURST = 5;
const RESPAWN_WINDOW_MS = 60_000;
/** How long stop() waits for the sentinel to write and exit before killing it. */
const STOP_WAIT_MS = 2_000;

export const SENTINEL_NAME = 'hactl-agent-sentinel';

// $1 timeout (seconds, decimal), $2 the track file, $3 what AGENT_GONE is as text.
// The GONE text is written to the temporary file up front: when the agent goes, only the rename is
// left to do (mv by exec, no fork). A missing temporary file (removed by someone) is written again.
const SENTINEL = [
  "trap '' HUP INT PIPE",
  'timeout="$1" file="$2" text="$3"',
  'tmp="${file%/*}/.${file##*/}.sentinel-$$.tmp"',
  'gone() { [ -f "$tmp" ] || printf "%s" "$text" > "$tmp"; exec mv -f -- "$tmp" "$file"; }',
  'trap gone TERM',
  'printf "%s" "$text" > "$tmp" || exit 1',
  'while read -r -t "$timeout" _; do :; done',
  'gone',
].join('\n');

function sentinelTemp(file: string, pid: number): string {
  const base = file.slice(dirname(file).length + 1);
  return `${dirname(file)}/.${base}.sentinel-${pid}.tmp`;
}

function spawnSentinel(timeoutSec: number, file: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/bin/bash',
      // --norc: bash reads ~/.bashrc when its stdin is a socket (it takes Node's pipe for rshd).
      [
        '--norc',
        '--noprofile',
        '-c',
        SENTINEL,
        SENTINEL_NAME,
        timeoutSec.toFixed(3),
        file,
        trackFileText(AGENT_GONE),
      ],
      {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
        cwd: '/',
        env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' },
      },
    );
    // A heartbeat written after the sentinel is gone fails with EPIPE: its exit is handled instead.
    child.stdin?.on('error', () => undefined);
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}

/**
 * Whether the sentinel `pid` may still write. Its last act is `exec mv`: from then on its cmdline no
 * longer names the sentinel but still holds its temporary file until the rename is done. Calling it
 * gone at the exec would let a new agent write ALIVE that the rename then overwrites.
 */
function sentinelAlive(pid: number, temp: string): Promise<boolean> {
  return readFile(`/proc/${pid}/cmdline`, 'latin1').then(
    (text) => {
      const args = text.split('\0');
      return args.includes(SENTINEL_NAME) || args.includes(temp);
    },
    () => false,
  );
}

/**
 * Sentinels of an earlier agent on this runtime dir that still run (each keeps its temporary file
 * while it waits). One whose agent died ends within moments; one whose agent froze, within the
 * timeout; either would write AGENT_GONE over our AGENT_ALIVE, so we wait for them first.
 */
async function earlierSentinels(file: string): Promise<number[]> {
  const base = file.slice(dirname(file).length + 1);
  const pattern = new RegExp(`^\\.${base}\\.sentinel-(\\d+)\\.tmp$`);
  const pids = (await readdir(dirname(file)))
    .map((name) => pattern.exec(name)?.[1])
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);
  const alive = await Promise.all(pids.map((pid) => sentinelAlive(pid, sentinelTemp(file, pid))));
  return pids.filter((_, i) => alive[i]);
}

async function waitForEarlierSentinels(file: string, boundMs: number, log: AgentLog): Promise<void> {
  const start = performance.now();
  let pids = await earlierSentinels(file);
  if (pids.length === 0) return;
  log.warn(
    { event: 'agent-liveness', sentinel_pids: pids },
    `waiting for the liveness sentinel of an earlier agent to finish (PID ${pids.join(', ')})`,
  );
  for (let i = 0; pids.length > 0 && i < boundMs / 50 + 1; i++) {
    if (performance.now() - start > boundMs) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
    pids = await earlierSentinels(file);
  }
  if (pids.length > 0) {
    throw new ConfigError(
      `the liveness sentinel of another agent (PID ${pids.join(', ')}) still watches ${file}: is a second hactl agent running for this node? Stop it first`,
    );
  }
}

function running(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Writes AGENT_ALIVE and starts the sentinel and the heartbeat. Throws ConfigError when the track
 * file cannot be written or the sentinel cannot start (the agent must not run unwatched).
 */
export async function startLiveness(options: LivenessOptions): Promise<Liveness> {
  const { log } = options;
  const timeoutMs = Math.round(options.heartbeatTimeoutSec * 1000);
  if (!(timeoutMs >= 100)) {
    throw new ConfigError(
      `agent.heartbeat_timeout ${options.heartbeatTimeoutSec} is too short; give at least 1 (seconds)`,
    );
  }
  const problem = await problemWithUserPath(options.runtimeDir, 'paths.runtime_dir');
  if (problem) throw new ConfigError(`${problem}; the agent writes its track files below it`);
  const file = agentTrackFile(options.runtimeDir, options.node);
  const beatMs = timeoutMs / 3;

  let child: ChildProcess | undefined;
  let stopped = false;
  let lastBeat = performance.now();
  /** The last stall longer than the timeout, seen by the heartbeat (it may run before the exit is seen). */
  let stallMs = 0;
  let respawns: number[] = [];
  let retryTimer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();

  const write = async (value: number, why: string) => {
    try {
      await writeTrackValue(file, value);
    } catch (error) {
      log.error(
        { event: 'agent-liveness', file, value, code: (error as NodeJS.ErrnoException).code },
        `cannot write the agent track file (${why})`,
      );
      throw error;
    }
  };

  const watch = (sentinel: ChildProcess) => {
    exited = new Promise((resolve) => {
      sentinel.once('exit', (code, signal) => {
        resolve();
        if (sentinel.pid !== undefined) void rm(sentinelTemp(file, sentinel.pid), { force: true });
        if (stopped || child !== sentinel) return;
        child = undefined;
        const gapMs = Math.max(performance.now() - lastBeat, stallMs);
        stallMs = 0;
        log.warn(
          {
            event: 'agent-liveness',
            sentinel_pid: sentinel.pid,
            code,
            signal,
            since_beat_ms: Math.round(gapMs),
          },
          gapMs >= timeoutMs
            ? `no heartbeat for ${Math.round(gapMs)} ms (the agent was frozen or blocked): the sentinel marked the node unhealthy; starting a new one`
            : `the liveness sentinel exited (${signal ?? `code ${code}`}); starting a new one`,
        );
        void respawn();
      });
    });
  };

  const start = async () => {
    const sentinel = await spawnSentinel(timeoutMs / 1000, file);
    if (stopped) {
      // stop() came while it started: end it (it writes AGENT_GONE, as stop() did), or it would
      // outlive this liveness and, timing out later, mark a restarted one gone.
      sentinel.stdin?.end();
      return;
    }
    child = sentinel;
    lastBeat = performance.now();
    watch(sentinel);
  };

  const respawn = async () => {
    const now = performance.now();
    respawns = respawns.filter((at) => now - at < RESPAWN_WINDOW_MS);
    if (respawns.length >= RESPAWN_BURST) {
      log.error(
        { event: 'agent-liveness', respawns: respawns.length },
        `the liveness sentinel died ${respawns.length} times within a minute; the node stays marked unhealthy until it can be watched again`,
      );
      await write(AGENT_GONE, 'sentinel respawn limit').catch(() => undefined);
      retryTimer = setTimeout(() => void respawn(), RESPAWN_WINDOW_MS - (now - respawns[0]!));
      return;
    }
    respawns.push(now);
    try {
      await start();
      if (stopped) return;
      await write(AGENT_ALIVE, 'sentinel restarted');
      log.info(
        { event: 'agent-liveness', sentinel_pid: child?.pid },
        'the agent is watched again: node marked alive',
      );
    } catch (error) {
      log.error(
        { event: 'agent-liveness', err: (error as Error).message },
        'cannot start the liveness sentinel',
      );
      await write(AGENT_GONE, 'no sentinel').catch(() => undefined);
      if (!stopped) retryTimer = setTimeout(() => void respawn(), beatMs);
    }
  };

  // keepalived rewrites the liveness file to AGENT_GONE whenever it starts (init_file … overwrite):
  // after a keepalived restart the agent must say again that it is alive, or the node stays FAULT.
  let checking = false;
  const keepMarkedAlive = async () => {
    if (checking || stopped || !running(child)) return;
    checking = true;
    try {
      const text = await readFile(file, {
        encoding: 'utf8',
        signal: AbortSignal.timeout(Math.ceil(beatMs)),
      }).catch(() => '');
      if (stopped || !running(child) || text.trim() === String(AGENT_ALIVE)) return;
      await write(AGENT_ALIVE, 'reset by keepalived');
      log.info(
        { event: 'agent-liveness', file, found: text.trim().slice(0, 16) },
        'the liveness file did not say alive (keepalived restarted and reset it): marked alive again',
      );
    } finally {
      checking = false;
    }
  };

  const beat = () => {
    const now = performance.now();
    if (now - lastBeat > timeoutMs) {
      stallMs = now - lastBeat;
      log.warn(
        { event: 'agent-liveness', since_beat_ms: Math.round(now - lastBeat) },
        `the event loop stood still for ${Math.round(now - lastBeat)} ms, longer than agent.heartbeat_timeout`,
      );
    }
    lastBeat = now;
    if (running(child)) child.stdin?.write('\n');
    keepMarkedAlive().catch(() => undefined);
  };

  try {
    await ensureTrackDir(file);
    await waitForEarlierSentinels(file, timeoutMs + 2_000, log);
    await start();
    await write(AGENT_ALIVE, 'start');
  } catch (error) {
    if (running(child)) child.kill('SIGKILL');
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(
      `paths.runtime_dir ${JSON.stringify(options.runtimeDir)}: cannot start the agent's liveness track (${code})`,
    );
  }
  const heartbeat = setInterval(beat, beatMs);
  log.info(
    { event: 'agent-liveness', file, sentinel_pid: child?.pid, heartbeat_timeout_ms: timeoutMs },
    `node marked alive; a sentinel marks it unhealthy within ${timeoutMs / 1000} s of the agent dying or freezing`,
  );

  return {
    sentinelPid: () => (running(child) ? child.pid : undefined),
    async stop(reason) {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      clearTimeout(retryTimer);
      await write(AGENT_GONE, 'stop').catch(() => undefined);
      const sentinel = child;
      child = undefined;
      if (running(sentinel)) {
        sentinel.stdin?.end();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), STOP_WAIT_MS);
        });
        if (await Promise.race([exited.then(() => false), late])) {
          try {
            process.kill(-sentinel.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        clearTimeout(timer);
      }
      log.info({ event: 'agent-liveness', reason }, `node marked unhealthy: ${reason}`);
    },
  };
}
