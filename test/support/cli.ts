/**
 * Runs the BUILT CLI (`bin/hactl`, i.e. dist/) the way keepalived or an operator would, and
 * reports what happened instead of throwing: exit code (128+n for a signal), stdout, stderr and
 * wall time. Every run has a timeout after which the child's process group is killed.
 * `npm run build` must have run first (`npm test` does it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const hactlBin = fileURLToPath(new URL('../../bin/hactl', import.meta.url));

export interface RunOptions {
  /** Kill the run (SIGKILL to its process group) after this many ms; default 15 000. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Run inside a network namespace (`ip netns exec NS`); needs root. */
  netns?: string;
  /** Called with the child's PID once it runs (e.g. to read /proc/<pid>/cmdline). */
  onSpawn?: (pid: number) => void;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** True when the run was killed because it exceeded timeoutMs. */
  timedOut: boolean;
}

export function assertBuilt(): void {
  if (!existsSync(new URL('../../dist/cli.js', import.meta.url))) {
    throw new Error('dist/cli.js is missing: run `npm run build` before these tests');
  }
}

export function runHactl(args: string[], options: RunOptions = {}): Promise<RunResult> {
  assertBuilt();
  const argv = options.netns
    ? ['ip', 'netns', 'exec', options.netns, process.execPath, hactlBin, ...args]
    : [process.execPath, hactlBin, ...args];
  return runProgram(argv, options);
}

/** Same contract for any program (used to compare hactl with curl, run helpers, …). */
export function runProgram(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, options.timeoutMs ?? 15_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    // A command that refuses its input at once (a spec over the size limit) exits before reading
    // stdin: the pipe then breaks, which says nothing about the command.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
    });
    child.stdin.end(options.input ?? '');
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      resolve({ exitCode, stdout, stderr, durationMs: Math.round(performance.now() - start), timedOut });
    });
  });
}
