/** The last state whose actions ran on this node, kept in the runtime dir (tmpfs: forgotten at boot). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import { STATES, type NotifyState } from './event.js';

export interface AppliedState {
  state: NotifyState;
  /** false when an aborting action failed: the next event for this state runs the actions again. */
  ok: boolean;
  at: string;
  event: string;
}

export function statePath(runtimeDir: string, node: string): string {
  return join(runtimeDir, `notify-${node}.state.json`);
}

export function readAppliedState(path: string): AppliedState | undefined {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const record = data as Partial<AppliedState> | null;
  if (!record || !STATES.includes(record.state as NotifyState) || typeof record.ok !== 'boolean')
    return undefined;
  return { state: record.state!, ok: record.ok, at: String(record.at), event: String(record.event) };
}

export function writeAppliedState(path: string, applied: AppliedState): void {
  writeFileAtomic(path, JSON.stringify(applied) + '\n');
}
