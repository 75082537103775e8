/**
 * Runs an argv (never a shell) for `command` and `service` actions. Output goes to a file, not a
 * pipe: a start command that leaves a daemon behind would otherwise keep the pipe open and look
 * hung. The child gets its own process group so a timeout stops everything it started.
 * node:child_process rather than execa: we need 'exit' (not end-of-output) semantics, fds as stdio
 * and group kills, and it keeps execa off keepalived's hot path.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { problemWithUserPath } from '../fs/user-path.js';

const KILL_GRACE_MS = 2_000;
const OUTPUT_SHOWN = 400;
/** The tail read back for the log: a chatty command must not make us read megabytes. */
const OUTPUT_READ_BYTES = 4 * 1024;

export interface SpawnResult {
  exitCode: number | undefined;
  /** e.g. SIGTERM when we stopped it at its timeout. */
  signal: string | undefined;
  timedOut: boolean;
  /** The last characters of stdout+stderr, for the log. */
  output: string;
  failedToStart: string | undefined;
}

/** PATH only, plus what the caller adds: our own environment may hold secrets (MYSQL_PWD …). */
export function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...extra,
  };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export async function runArgv(
  argv: string[],
  options: { env: Record<string, string>; runtimeDir: string; signal: AbortSignal },
): Promise<SpawnResult> {
  // Asynchronous and vetted: actions run inside the agent's loop, and Node 20's recursive mkdir
  // never returns on a path under /proc.
  const problem = await problemWithUserPath(options.runtimeDir, 'paths.runtime_dir');
  if (problem) return { ...NOT_STARTED, failedToStart: problem };
  await mkdir(options.runtimeDir, { recursive: true });
  const outPath = join(options.runtimeDir, `action-output.${process.pid}.${Date.now()}.log`);
  const out = await open(outPath, 'w+', 0o600);
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      env: options.env,
      stdio: ['ignore', out.fd, out.fd],
    });
    const onAbort = () => {
      if (child.pid === undefined) return;
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    options.signal.removeEventListener('abort', onAbort);
    const output = (await tailOf(out)).trim();
    return {
      exitCode: ended.code ?? undefined,
      signal: ended.signal ?? undefined,
      timedOut,
      output: output.length > OUTPUT_SHOWN ? '…' + output.slice(-OUTPUT_SHOWN) : output,
      failedToStart: ended.error?.message,
    };
  } finally {
    clearTimeout(killTimer);
    await out.close();
    await rm(outPath, { force: true });
  }
}

const NOT_STARTED: SpawnResult = {
  exitCode: undefined,
  signal: undefined,
  timedOut: false,
  output: '',
  failedToStart: undefined,
};

async function tailOf(file: FileHandle): Promise<string> {
  const { size } = await file.stat();
  const length = Math.min(size, OUTPUT_READ_BYTES);
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, size - length);
  return buffer.subarray(0, bytesRead).toString('utf8');
}

/** One line for an ActionResult detail. */
export function describeExit(argv0: string, result: SpawnResult): string {
  const output = result.output ? `: ${result.output.replace(/\s+/g, ' ')}` : '';
  if (result.failedToStart) return `${argv0} could not run: ${result.failedToStart}`;
  if (result.timedOut)
    return `${argv0} timed out and was stopped (${result.signal ?? `exit ${result.exitCode}`})${output}`;
  if (result.signal) return `${argv0} was killed by ${result.signal}${output}`;
  return `${argv0} exited ${result.exitCode}${output}`;
}
