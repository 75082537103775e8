/**
 * The last state whose actions ran on this node, kept in the runtime dir (tmpfs: forgotten at boot,
 * which is right for a hint). Read and written asynchronously, bounded: the runtime dir comes from
 * the spec, and nothing on a decision's path may block the event loop on a user-supplied path.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../fs/atomic-async.js';
import { VRRP_STATES, type AppliedState, type VrrpState } from './observation.js';

const MAX_BYTES = 16 * 1024;

export function appliedStatePath(runtimeDir: string, node: string): string {
  // The name predates the decision core; operators and tests know it.
  return join(runtimeDir, `notify-${node}.state.json`);
}

export function parseAppliedState(text: string): AppliedState | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const record = data as Partial<AppliedState> & { transition_id?: unknown };
  if (!record || !VRRP_STATES.includes(record.state as VrrpState) || typeof record.ok !== 'boolean')
    return undefined;
  return {
    state: record.state!,
    ok: record.ok,
    at: String(record.at),
    event: String(record.event),
    ...(typeof record.transition_id === 'string' ? { transitionId: record.transition_id } : {}),
    ...(typeof record.unfinished === 'string' ? { unfinished: record.unfinished } : {}),
  };
}

/** undefined when there is no record or it cannot be read in time: the state is then unknown. */
export async function readAppliedState(path: string, signal: AbortSignal): Promise<AppliedState | undefined> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal });
  } catch {
    return undefined;
  }
  return text.length > MAX_BYTES ? undefined : parseAppliedState(text);
}

/** The directory must exist and be vetted (the lock that serialises transitions creates it). */
export async function writeAppliedState(path: string, applied: AppliedState): Promise<void> {
  const { transitionId, ...rest } = applied;
  const record = transitionId === undefined ? rest : { ...rest, transition_id: transitionId };
  await writeFileAtomicAsync(path, JSON.stringify(record) + '\n');
}
