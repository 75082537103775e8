/**
 * A planned switchover as an intent that survives the process that asked for it: the current
 * primary's agent keeps it in paths.state_dir (a reboot or an agent restart resumes it), works
 * through its steps, and records when each began and ended. `hactl switchover` only writes the
 * intent (through the agent API) and reads this record back, so a command killed at any moment
 * leaves a switchover the agent completes or rolls back, and the next run sees where it stands.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../fs/atomic-async.js';
import { problemWithUserPath } from '../fs/user-path.js';

/** The steps, in order; the agent of `from` works through them one after the other. */
export const STEP_NAMES = ['read-only', 'catch-up', 'move-vips', 'promote', 'repoint'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** Where a switchover stands: at a step, or finished one way or the other. */
export type SwitchoverPhase = StepName | 'done' | 'rolled-back' | 'failed';

export interface StepRecord {
  name: StepName;
  startedAt: string;
  endedAt?: string;
  /** What the step found, in a sentence. */
  detail?: string;
}

export interface SwitchoverRecord {
  id: string;
  /** The primary handing over (whose agent keeps this record). */
  from: string;
  to: string;
  phase: SwitchoverPhase;
  requestedAt: string;
  /** How long the target may take to apply everything the primary wrote before it is given up. */
  catchUpTimeoutSec: number;
  steps: StepRecord[];
  /** The primary's GTID position once it was read-only with no client session left. */
  finalPosition?: string;
  /** When the primary stopped taking writes (conservatively: when the intent was accepted). */
  writesStoppedAt?: string;
  /** When a writable database was seen again (the target, or the primary after a roll-back). */
  writableAt?: string;
  /** Why it was rolled back or failed. */
  reason?: string;
  /**
   * A roll-back that will not see its own database writable again (the VIPs went to the target,
   * or the wait for it ran out), and why: nothing more will be written to this record.
   */
  unconfirmed?: string;
}

const MAX_BYTES = 64 * 1024;
const TERMINAL: ReadonlySet<SwitchoverPhase> = new Set(['done', 'rolled-back', 'failed']);

export function isFinished(record: SwitchoverRecord): boolean {
  return TERMINAL.has(record.phase);
}

/**
 * Whether nothing more will change in the record, so whoever follows it can stop: finished, and a
 * roll-back also either saw its database writable again or recorded why it will not.
 */
export function isSettled(record: SwitchoverRecord): boolean {
  if (!isFinished(record)) return false;
  return (
    record.phase !== 'rolled-back' || record.writableAt !== undefined || record.unconfirmed !== undefined
  );
}

/**
 * While the primary must stay read-only although it may still hold the VIPs: from the intent
 * until keepalived has moved them. After that it holds none, and the normal rules apply again
 * (should the target fail at once, this node takes over like after any failure).
 */
export function holdsPrimaryDown(record: SwitchoverRecord | undefined): boolean {
  return (
    record !== undefined &&
    (record.phase === 'read-only' || record.phase === 'catch-up' || record.phase === 'move-vips')
  );
}

/** The write-unavailability window: primary read-only → a database writable again. */
export function windowMs(record: SwitchoverRecord): number | undefined {
  if (!record.writesStoppedAt || !record.writableAt) return undefined;
  return Date.parse(record.writableAt) - Date.parse(record.writesStoppedAt);
}

export function stepDurationMs(step: StepRecord): number | undefined {
  return step.endedAt ? Date.parse(step.endedAt) - Date.parse(step.startedAt) : undefined;
}

export function switchoverPath(stateDir: string, node: string): string {
  return join(stateDir, `${node}.switchover.json`);
}

export function isSwitchoverRecord(value: unknown): value is SwitchoverRecord {
  const r = value as Partial<SwitchoverRecord> | null;
  return (
    !!r &&
    typeof r.id === 'string' &&
    typeof r.from === 'string' &&
    typeof r.to === 'string' &&
    typeof r.phase === 'string' &&
    typeof r.requestedAt === 'string' &&
    typeof r.catchUpTimeoutSec === 'number' &&
    Array.isArray(r.steps)
  );
}

export async function readSwitchover(stateDir: string, node: string): Promise<SwitchoverRecord | undefined> {
  const problem = await problemWithUserPath(stateDir, 'paths.state_dir');
  if (problem) throw new Error(problem);
  const path = switchoverPath(stateDir, node);
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(2_000) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (text.length > MAX_BYTES) throw new Error(`${path} is larger than ${MAX_BYTES} bytes`);
  const parsed: unknown = JSON.parse(text);
  if (!isSwitchoverRecord(parsed)) throw new Error(`${path} is not a switchover record`);
  return parsed;
}

export async function writeSwitchover(
  stateDir: string,
  node: string,
  record: SwitchoverRecord,
): Promise<void> {
  const problem = await problemWithUserPath(stateDir, 'paths.state_dir');
  if (problem) throw new Error(problem);
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  await writeFileAtomicAsync(switchoverPath(stateDir, node), JSON.stringify(record) + '\n', 0o640);
}
