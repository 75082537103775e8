/**
 * Process check, seed 001's behaviour done safely: count processes by /proc/<pid>/comm (what
 * `ps -C` matches), and when too few run, optionally try one restart (argv, no shell), wait, and
 * re-check. The time of the last restart is kept in a state file so separate check processes —
 * keepalived spawns a new one every interval — never restart more often than the backoff.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, UsageError } from '../errors.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { abortReason, intFlag, requiredString, secondsFlag, stringFlag, stringList } from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';
import { EXAMPLE_CHECKS } from './examples.js';
import { exampleBlock } from './spec-args.js';

/** The kernel keeps 15 characters of a command name in comm. */
export const COMM_LENGTH = 15;

export interface ProcessOptions {
  name: string;
  minCount: number;
  restart: { program: string; args: string[] } | undefined;
  restartWaitMs: number;
  restartBackoffMs: number;
  stateDir: string;
  /** --state-dir was given: it is vetted even when no restart needs it, so a bad one shows at once. */
  stateDirGiven: boolean;
}

const DEFAULT_STATE_DIR = '/run/hactl';

const USAGE = `hactl check process --name NAME [options]

Healthy when at least --min-count processes have the command name NAME (as in \`ps -C NAME\`:
the kernel's comm, at most ${COMM_LENGTH} characters; longer names are compared truncated; zombies do
not count). With --restart-cmd, a missing process gets one restart attempt: the command runs
(argv, no shell), the check waits up to --restart-wait for the process to appear and is healthy
if it did. Restarts never happen more often than --restart-backoff, across check runs: the time
of the last attempt is kept in --state-dir.

Options:
  --name NAME              process command name, e.g. nginx (required)
  --min-count N            processes needed (default 1)
  --restart-cmd PROGRAM    program to run when too few processes run (absolute path advised)
  --restart-arg=ARG        one argument for PROGRAM; repeat for more, in order
  --restart-wait SECONDS   how long to wait for the process after a restart (default 1)
  --restart-backoff SECONDS  minimum time between two restart attempts (default 30)
  --state-dir DIR          where the last restart time is kept (default /run/hactl)
  --timeout SECONDS        total budget, decimal (default 0.8); with a restart it must cover
                           --restart-wait, and vrrp_script timeout must be larger still
  --quiet                  print nothing when healthy
  --log-file PATH          append one JSON line per failure to PATH (rate-limited per check)
  --check-name NAME        the check's name in messages and log lines (default: the kind)

Exit status: 0 healthy (also after a successful restart), 1 unhealthy (reason on stderr), 2 usage error.

Example keepalived.conf block (seed 001's nginx check with restart), as render-config writes it:
${exampleBlock(EXAMPLE_CHECKS.process)}`;

function fromFlags(values: FlagValues): ProcessOptions {
  const name = requiredString(values, 'name', 'process');
  if (name.includes('/')) {
    throw new UsageError(
      `--name ${JSON.stringify(name)}: give the command name, not a path`,
      'e.g. --name nginx',
    );
  }
  const program = stringFlag(values, 'restart-cmd', 'process');
  const args = stringList(values, 'restart-arg', 'process');
  if (program === undefined && args.length > 0) {
    throw new UsageError(
      '--restart-arg needs --restart-cmd',
      'e.g. --restart-cmd /usr/sbin/nginx --restart-arg=-c --restart-arg=/etc/nginx/nginx.conf',
    );
  }
  return {
    name,
    minCount: intFlag(values, 'min-count', 'process', { min: 1, max: 100_000, default: 1 })!,
    restart: program === undefined ? undefined : { program, args },
    restartWaitMs: secondsFlag(values, 'restart-wait', 'process', { min: 0, max: 600, default: 1 }),
    restartBackoffMs: secondsFlag(values, 'restart-backoff', 'process', { min: 0, max: 86_400, default: 30 }),
    stateDir: stringFlag(values, 'state-dir', 'process') ?? DEFAULT_STATE_DIR,
    stateDirGiven: values['state-dir'] !== undefined,
  };
}

/** Processes whose comm is `name` (truncated like the kernel does), zombies excluded. */
export function countProcesses(name: string): number {
  const wanted = name.slice(0, COMM_LENGTH);
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57 || entry.charCodeAt(0) < 48) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited while we were looking
    }
    // "pid (comm) S …": comm may itself contain spaces or parentheses, so cut at the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    if (comm === wanted && stat[close + 2] !== 'Z') count++;
  }
  return count;
}

function stateFile(options: ProcessOptions): string {
  return join(options.stateDir, `process-restart-${options.name}.last`);
}

async function lastRestartMs(path: string, signal: AbortSignal): Promise<number | undefined> {
  try {
    const value = Number((await readFile(path, { encoding: 'utf8', signal })).trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a state directory hactl must not write to (a pseudo-filesystem: Node's recursive mkdir
 * loops forever under /proc), before any other fs call touches it.
 */
async function vetStateDir(options: ProcessOptions): Promise<void> {
  const problem = await problemWithUserPath(options.stateDir, '--state-dir');
  if (problem) {
    throw new UsageError(problem, 'the restart time is kept there; pass e.g. --state-dir /run/hactl');
  }
}

async function recordRestart(options: ProcessOptions, now: number, signal: AbortSignal): Promise<void> {
  const path = stateFile(options);
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    // Write-then-rename: a concurrent check process never reads half a timestamp.
    await writeFile(temp, `${now}\n`, { mode: 0o600, signal });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    // Without the record, restarts could happen on every run: refuse rather than loop.
    throw new ConfigError(
      `cannot record the restart time in ${options.stateDir} (${(error as NodeJS.ErrnoException).code ?? String(error)}); not restarting — pass --state-dir DIR`,
    );
  }
}

interface Restart {
  /** Settles when the command exits or cannot run; stays pending while it runs (a foreground daemon). */
  exited: Promise<{ ok: boolean; note: string }>;
  release(): void;
}

/** Starts the restart command detached (own session: keepalived's kill of our group must not hit it). */
function startRestart(options: ProcessOptions): Restart {
  const { program, args } = options.restart!;
  const child = spawn(program, args, { detached: true, stdio: 'ignore' });
  const exited = new Promise<{ ok: boolean; note: string }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve({
        ok: false,
        note: `restart command ${program} could not run (${error.code ?? error.message})`,
      }),
    );
    child.once('exit', (code, signalName) =>
      resolve(
        code === 0
          ? { ok: true, note: `restart command ${program} exited 0` }
          : {
              ok: false,
              note: `restart command ${program} ${signalName ? `was killed by ${signalName}` : `exited with status ${code}`}`,
            },
      ),
    );
  });
  return { exited, release: () => child.unref() };
}

/**
 * Polls until enough processes run, the restart command failed, --restart-wait has passed or the
 * budget is used up — whichever comes first.
 */
async function awaitRestart(
  options: ProcessOptions,
  restart: Restart,
  signal: AbortSignal,
): Promise<{ count: number; note: string }> {
  let outcome: { ok: boolean; note: string } | undefined;
  void restart.exited.then((result) => (outcome = result));
  const until = performance.now() + options.restartWaitMs;
  let count = countProcesses(options.name);
  for (let i = 0; i < 100_000 && count < options.minCount; i++) {
    if ((outcome && !outcome.ok) || signal.aborted || performance.now() >= until) break;
    await sleep(Math.max(1, Math.min(50, until - performance.now())));
    count = countProcesses(options.name);
  }
  restart.release();
  const note = outcome?.note ?? `restart command ${options.restart!.program} still running`;
  return { count, note: signal.aborted ? `${note}; ${abortReason(signal)}` : note };
}

function counted(count: number, options: ProcessOptions): string {
  const what = count === 0 ? 'no process' : `${count} process${count === 1 ? '' : 'es'}`;
  return `${what} named ${options.name} (need ≥ ${options.minCount})`;
}

async function run(options: ProcessOptions, signal: AbortSignal): Promise<CheckResult> {
  if (options.stateDirGiven || options.restart) await vetStateDir(options);
  const count = countProcesses(options.name);
  if (count >= options.minCount) return { healthy: true, detail: counted(count, options) };
  if (!options.restart) return { healthy: false, detail: counted(count, options) };

  const now = Date.now();
  const last = await lastRestartMs(stateFile(options), signal);
  if (last !== undefined && now - last >= 0 && now - last < options.restartBackoffMs) {
    return {
      healthy: false,
      detail: `${counted(count, options)}; not restarting: last attempt ${Math.round((now - last) / 1000)} s ago, backoff ${options.restartBackoffMs / 1000} s`,
    };
  }
  await recordRestart(options, now, signal);
  const { count: after, note } = await awaitRestart(options, startRestart(options), signal);
  if (after >= options.minCount) {
    return { healthy: true, detail: `${counted(after, options)} after a restart (${note})` };
  }
  return { healthy: false, detail: `${counted(after, options)} after a restart attempt: ${note}` };
}

export const processCheck: CheckKind<ProcessOptions> = {
  kind: 'process',
  summary: 'processes by command name (like ps -C), optional restart with backoff',
  usage: USAGE,
  flags: {
    name: { type: 'string' },
    'min-count': { type: 'string' },
    'restart-cmd': { type: 'string' },
    'restart-arg': { type: 'string', multiple: true },
    'restart-wait': { type: 'string' },
    'restart-backoff': { type: 'string' },
    'state-dir': { type: 'string' },
  },
  fromFlags,
  run,
};
