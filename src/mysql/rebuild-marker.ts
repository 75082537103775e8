/**
 * Where an interrupted rebuild leaves its marker (paths.state_dir), and whether one is there: read
 * by the agent's loop and by the unpromotable gate without loading the rebuild itself.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { raceDeadline } from '../bounded/deadline.js';

/** Named by node, like the lineage record: nodes that share a state_dir (the lab) must not see each other's. */
export function markerPath(stateDir: string, node: string): string {
  return join(stateDir, `${node}.rebuild-in-progress.json`);
}

/**
 * Whether the marker exists, bounded by `boundMs`. A file system that does not answer, or answers
 * with anything but "no such file", counts as present: the marker's readers must err that way.
 */
export function markerPresent(stateDir: string, node: string, boundMs = 2_000): Promise<boolean> {
  const marker = markerPath(stateDir, node);
  return raceDeadline(
    () =>
      access(marker).then(
        () => true,
        (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
      ),
    {
      deadlineMs: performance.now() + boundMs,
      reason: () => new Error(`${marker} did not answer within ${boundMs / 1000} s`),
      onTimeout: () => true,
    },
  );
}
