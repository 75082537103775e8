/**
 * What this node knows about the primary role, kept where it survives a reboot (paths.state_dir):
 * which node it last knew as primary, that primary's GTID position when last seen, whether this
 * node follows it, and any transactions this node holds that the primary lacks. Promotion reads it
 * to refuse a node that provably fell behind or diverged; it is a fact about the past, never a
 * substitute for looking at the databases now.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../fs/atomic-async.js';
import { problemWithUserPath } from '../fs/user-path.js';

export interface Lineage {
  /** The node whose record this is. */
  node: string;
  /** The node this one last knew as the writable primary (itself after its own promotion). */
  primary: string;
  /** That primary's GTID position (MariaDB gtid_binlog_pos, MySQL gtid_executed) when last seen. */
  primaryPosition: string;
  /** This node replicates from `primary` (false when it is the primary or could not follow it). */
  following: boolean;
  /** Transactions this node holds that `primary` lacks: it must not become primary unasked. */
  diverged: string[];
  /** Why the record was written, in a sentence. */
  reason: string;
  at: string;
}

/**
 * The record after a rebuild from `primary` (hactl rebuild, or the agent's strict rejoin): this
 * node now follows it from the copy's position, and nothing it holds is extra any more.
 */
export function rebuiltLineage(node: string, primary: string, copyPosition: string, how: string): Lineage {
  return {
    node,
    primary,
    primaryPosition: copyPosition,
    following: true,
    diverged: [],
    reason: how,
    at: new Date().toISOString(),
  };
}

const MAX_BYTES = 64 * 1024;

export function lineagePath(stateDir: string, node: string): string {
  return join(stateDir, `${node}.lineage.json`);
}

function isLineage(value: unknown): value is Lineage {
  const r = value as Partial<Lineage> | null;
  return (
    !!r &&
    typeof r.node === 'string' &&
    typeof r.primary === 'string' &&
    typeof r.primaryPosition === 'string' &&
    typeof r.following === 'boolean' &&
    Array.isArray(r.diverged) &&
    r.diverged.every((g) => typeof g === 'string') &&
    typeof r.reason === 'string' &&
    typeof r.at === 'string'
  );
}

export type LineageRead =
  | { kind: 'none' }
  | { kind: 'ok'; lineage: Lineage }
  /** A record exists but cannot be trusted: promotion must treat that as "cannot prove". */
  | { kind: 'unreadable'; problem: string };

export async function readLineage(stateDir: string, node: string): Promise<LineageRead> {
  const path = lineagePath(stateDir, node);
  const problem = await problemWithUserPath(stateDir, 'paths.state_dir');
  if (problem) return { kind: 'unreadable', problem };
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(2_000) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'unreadable', problem: `${path}: ${(error as Error).message}` };
  }
  if (text.length > MAX_BYTES)
    return { kind: 'unreadable', problem: `${path} is larger than ${MAX_BYTES} bytes` };
  try {
    const parsed: unknown = JSON.parse(text);
    if (isLineage(parsed) && parsed.node === node) return { kind: 'ok', lineage: parsed };
  } catch {
    /* reported below */
  }
  return { kind: 'unreadable', problem: `${path} is not a lineage record of node ${node}` };
}

export async function writeLineage(stateDir: string, lineage: Lineage): Promise<void> {
  const problem = await problemWithUserPath(stateDir, 'paths.state_dir');
  if (problem) throw new Error(problem);
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  await writeFileAtomicAsync(lineagePath(stateDir, lineage.node), JSON.stringify(lineage) + '\n', 0o640);
}
