/**
 * When this node last opened its failback gate, kept in paths.state_dir so the anti-flap cooldown
 * survives an agent restart or a reboot. A record that cannot be read counts as "just opened": the
 * cautious reading, which only delays a failback by one cooldown.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../fs/atomic-async.js';
import { problemWithUserPath } from '../fs/user-path.js';

export function failbackRecordPath(stateDir: string, node: string): string {
  return join(stateDir, `${node}.failback.json`);
}

export async function readLastFailback(
  stateDir: string,
  node: string,
  now: number,
): Promise<number | undefined> {
  if (await problemWithUserPath(stateDir, 'paths.state_dir')) return now;
  let text: string;
  try {
    text = await readFile(failbackRecordPath(stateDir, node), {
      encoding: 'utf8',
      signal: AbortSignal.timeout(2_000),
    });
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : now;
  }
  try {
    const at = Date.parse(String((JSON.parse(text) as { openedAt?: unknown }).openedAt));
    return Number.isFinite(at) && at <= now ? at : now;
  } catch {
    return now;
  }
}

export async function recordFailback(stateDir: string, node: string, at: number): Promise<void> {
  const problem = await problemWithUserPath(stateDir, 'paths.state_dir');
  if (problem) throw new Error(problem);
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  const text = JSON.stringify({ node, openedAt: new Date(at).toISOString() }) + '\n';
  await writeFileAtomicAsync(failbackRecordPath(stateDir, node), text, 0o640);
}
