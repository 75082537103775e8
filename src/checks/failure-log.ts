/**
 * Why a check failed, in the log file, also when keepalived spawned it (its stderr goes nowhere).
 * One JSON line per failure in the shape of hactl's pino lines (src/log.ts: level, time, pid,
 * command, event, …) without loading pino on the hot path. Rate-limited per check across
 * processes: a small state file next to the log keeps a token bucket (a burst of BURST lines, then
 * one per REFILL_MS) and the number of failures left out since the last line. Only async fs calls
 * on the (vetted) path; the caller bounds the whole by its budget and ignores every failure here.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { problemWithUserPath } from '../fs/user-path.js';

export const BURST = 3;
export const REFILL_MS = 60_000;
const MAX_STATE_BYTES = 4096;

export interface FailureLogTarget {
  /** The log file (spec `logging.file`, or --log-file). */
  file: string;
  /** The check's name (spec name or --check-name), or its kind. */
  check: string;
  /** Extra fields on every line, e.g. { cluster, node } in spec mode. */
  base?: Record<string, unknown>;
}

export interface FailureEntry {
  kind: string;
  detail: string;
  durationMs: number;
  budgetMs: number;
}

interface BucketState {
  /** Tokens left at `at` (ms since the epoch). */
  tokens: number;
  at: number;
  /** Failures not logged since the last line. */
  suppressed: number;
}

export function stateFileFor(target: FailureLogTarget): string {
  return `${target.file}.check-${target.check}.state`;
}

/** One line in pino's shape; `time` and `durationMs` may be placeholders the hard stop fills in. */
export function failureLine(
  target: FailureLogTarget,
  entry: { kind: string; detail: string; budgetMs: number },
  fields: { time: string; durationMs: number | string; suppressed: number },
): string {
  const head = JSON.stringify({ level: 'warn', time: fields.time, pid: process.pid, command: 'check' });
  const body = JSON.stringify({
    ...target.base,
    event: 'check',
    check: target.check,
    kind: entry.kind,
    healthy: false,
    detail: entry.detail,
    duration_ms: '__DURATION__',
    budget_ms: entry.budgetMs,
    suppressed: fields.suppressed,
  }).replace('"__DURATION__"', String(fields.durationMs));
  return `${head.slice(0, -1)},${body.slice(1)}\n`;
}

/** Refills the bucket and takes a token if there is one. Pure, for tests. */
export function takeToken(
  state: BucketState | undefined,
  now: number,
): { log: boolean; suppressed: number; next: BucketState } {
  const previous = state ?? { tokens: BURST, at: now, suppressed: 0 };
  const elapsed = Math.max(0, now - previous.at);
  const tokens = Math.min(BURST, previous.tokens + elapsed / REFILL_MS);
  if (tokens >= 1) {
    return {
      log: true,
      suppressed: previous.suppressed,
      next: { tokens: tokens - 1, at: now, suppressed: 0 },
    };
  }
  return {
    log: false,
    suppressed: previous.suppressed + 1,
    next: { tokens, at: now, suppressed: previous.suppressed + 1 },
  };
}

// O_NONBLOCK: a FIFO put where a file belongs fails at once instead of blocking; regular files ignore it.
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

async function readState(path: string): Promise<BucketState | undefined> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(MAX_STATE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_STATE_BYTES, 0);
    const parsed = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as Partial<BucketState>;
    const ok = [parsed.tokens, parsed.at, parsed.suppressed].every(
      (n) => typeof n === 'number' && Number.isFinite(n),
    );
    return ok ? (parsed as BucketState) : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

async function writeStateAtomically(path: string, state: BucketState): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, JSON.stringify(state) + '\n', { mode: 0o640 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function append(path: string, line: string): Promise<void> {
  const handle = await open(path, APPEND_FLAGS, 0o640);
  try {
    if (!(await handle.stat()).isFile()) throw new Error('not a regular file');
    await handle.write(line);
  } finally {
    await handle.close();
  }
}

/**
 * Logs one failure unless the bucket is empty. Returns what went wrong (for stderr), never throws
 * for a problem with the log: a check's verdict never depends on its log.
 */
export async function logFailure(
  target: FailureLogTarget,
  entry: FailureEntry,
  what = '--log-file',
): Promise<string | undefined> {
  try {
    const problem = await problemWithUserPath(target.file, what);
    if (problem) return problem;
    await mkdir(dirname(target.file), { recursive: true, mode: 0o750 });
    const statePath = stateFileFor(target);
    const now = Date.now();
    const decision = takeToken(await readState(statePath), now);
    await writeStateAtomically(statePath, decision.next);
    if (!decision.log) return undefined;
    const line = failureLine(target, entry, {
      time: new Date(now).toISOString(),
      durationMs: Math.round(entry.durationMs),
      suppressed: decision.suppressed,
    });
    await append(target.file, line);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `cannot log to ${what} ${JSON.stringify(target.file)}: ${code ?? (error as Error).message}`;
  }
}
