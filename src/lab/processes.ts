/**
 * Daemons we start ourselves (lab, tests): spawned detached with a pid file, stopped only by that
 * PID and only after /proc/<pid>/cmdline proves it is still the program we started. Never by name.
 */
import { spawn } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOptions {
  /** Run inside this network namespace (`ip netns exec NS …`). */
  netns?: string | undefined;
  /** stdout+stderr of the daemon go here (append). */
  logFile: string;
  /** Where we record the PID (one we write; the daemon may keep its own elsewhere). */
  pidFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Daemon {
  pid: number;
  /** A string the process's cmdline must contain for us to signal it. */
  marker: string;
}

export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); treat it as gone.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Starts `argv` detached. With netns, `ip netns exec` execs the program in place, so the PID we
 * get is the daemon's own (the program must stay in the foreground: no self-daemonizing).
 */
export function startDaemon(argv: string[], options: StartOptions): Daemon {
  const command = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv;
  const out = openSync(options.logFile, 'a');
  try {
    const child = spawn(command[0]!, command.slice(1), {
      detached: true,
      stdio: ['ignore', out, out],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
    child.unref();
    writeFileSync(options.pidFile, `${child.pid}\n`);
    return { pid: child.pid, marker: argv[0]! };
  } finally {
    closeSync(out);
  }
}

export function readPidFile(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends `signal` to pid only if its cmdline still contains `marker`, then waits up to `waitMs` for
 * it to exit, escalating to SIGKILL. Returns false if the PID was not ours (or already gone).
 */
export async function stopProcess(
  pid: number,
  marker: string,
  options: { signal?: NodeJS.Signals; waitMs?: number } = {},
): Promise<boolean> {
  const cmdline = commandLineOf(pid);
  if (cmdline === undefined || !cmdline.includes(marker)) return false;
  try {
    process.kill(pid, options.signal ?? 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(50);
  }
  if (commandLineOf(pid)?.includes(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited in between */
    }
    for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50);
  }
  return true;
}

/** Stops the daemon recorded in pidFile (if it is still ours) and removes the pid file. */
export async function stopFromPidFile(pidFile: string, marker: string, waitMs?: number): Promise<boolean> {
  const pid = readPidFile(pidFile);
  const stopped =
    pid === undefined ? false : await stopProcess(pid, marker, waitMs === undefined ? {} : { waitMs });
  rmSync(pidFile, { force: true });
  return stopped;
}

/** Polls `probe` every `everyMs` until it returns true or `timeoutMs` passes. Bounded in time and count. */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < Math.ceil(timeoutMs / everyMs) + 1; attempt++) {
    if (await probe()) return;
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
