/**
 * A node's effective VRRP priority, computed the way keepalived 2.2 combines track_file values
 * (vrrp_track.c): keepalived does not expose the number (only the FIFO's state lines carry one, at
 * a transition), so the agent derives it from the same files keepalived reads and the spec's base
 * priority. It is a computation, not a reading: `hactl status` labels it so.
 *
 * Rules: a file with weight 0 and a non-zero value puts the instance in FAULT; otherwise its
 * value × weight is added to the base priority, and a product ≤ -254 also means FAULT; the sum is
 * clamped to 1..254. A file that cannot be read counts as 0, as keepalived counts a missing one.
 */
import { buildNodeConfig } from '../../keepalived/model.js';
import { readTrackValue } from '../checks/track-write.js';
import type { NodeSpec, Spec } from '../../spec/schema.js';

export interface TrackReading {
  /** The track_file's name in keepalived.conf (e.g. chk_nginx, hactl_agent). */
  name: string;
  weight: number;
  /** The integer the file holds; null when missing or unreadable (counted as 0). */
  value: number | null;
}

export type EffectivePriority = { fault: false; priority: number } | { fault: true; by: string };

const FAULT_PRODUCT = -254;

export function effectivePriority(base: number, tracks: readonly TrackReading[]): EffectivePriority {
  let priority = base;
  for (const track of tracks) {
    const value = track.value ?? 0;
    if (track.weight === 0) {
      if (value !== 0) return { fault: true, by: `${track.name} reads ${value} (weight 0)` };
      continue;
    }
    const product = value * track.weight;
    if (product <= FAULT_PRODUCT)
      return { fault: true, by: `${track.name} reads ${value} × weight ${track.weight} = ${product}` };
    priority += product;
  }
  return { fault: false, priority: Math.min(254, Math.max(1, priority)) };
}

/** Reads this node's track files as the rendered keepalived.conf names them (agent mode). */
export async function readTracks(spec: Spec, node: NodeSpec, signal: AbortSignal): Promise<TrackReading[]> {
  const files = buildNodeConfig(spec, node).trackFiles;
  return Promise.all(
    files.map(async (file) => ({
      name: file.name,
      weight: file.weight,
      value: await readTrackValue(file.file, signal),
    })),
  );
}
