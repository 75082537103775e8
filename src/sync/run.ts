/**
 * One push: every path to every peer, one rsync after the other, the whole push bounded by
 * sync.timeout (rsync's process group is killed at the bound, or when the caller aborts). rsync
 * runs with PATH alone in its environment (ours may hold secrets) and its output goes to a file
 * in the runtime dir, of which a tail is kept for the log. Exit 24 ("some files vanished before
 * they could be transferred") is a success: a live directory changes while it is copied.
 * A flock in the runtime dir, taken without waiting, keeps the agent's pushes and a `hactl sync`
 * by hand from ever running side by side.
 */
import { join } from 'node:path';
import { baseEnv, describeExit, runArgv } from '../actions/spawn.js';
import { acquireLock, LockTimeout, type HeldLock } from '../notify/lock.js';
import type { NodeSpec, Spec, SyncSpec } from '../spec/schema.js';
import { pushArgv, pushTargets, sourceOf } from './argv.js';

export interface PathResult {
  source: string;
  peer: string;
  ok: boolean;
  detail: string;
}

export interface PushResult {
  ok: boolean;
  /** ISO 8601. */
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** One line: what failed, or how many paths were copied. */
  detail: string;
  paths: PathResult[];
  timedOut: boolean;
  /** Not started: another push held the node's sync lock. */
  busy: boolean;
}

const VANISHED = 24;

export function syncLockPath(runtimeDir: string, node: string): string {
  return join(runtimeDir, `sync-${node}.lock`);
}

export async function runPush(
  spec: Spec & { sync: SyncSpec },
  node: NodeSpec,
  options: { signal?: AbortSignal; dryRun?: boolean; onPath?: (argv: readonly string[]) => void } = {},
): Promise<PushResult> {
  const sync = spec.sync;
  const started = Date.now();
  const startedMono = performance.now();
  const timeout = AbortSignal.timeout(sync.timeout * 1000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const paths: PathResult[] = [];
  let lock: HeldLock;
  try {
    lock = await acquireLock(syncLockPath(spec.paths.runtime_dir, node.name), 0);
  } catch (error) {
    const busy = error instanceof LockTimeout;
    return {
      ok: false,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Math.round(performance.now() - startedMono),
      detail: busy
        ? "another push is running on this node (the agent's or a hactl sync by hand); not started beside it"
        : (error as Error).message,
      paths,
      timedOut: false,
      busy,
    };
  }
  try {
    await pushAll();
  } finally {
    lock.release();
  }
  async function pushAll(): Promise<void> {
    for (const target of pushTargets(sync, node, spec.nodes)) {
      const source = sourceOf(target.path, node);
      if (signal.aborted) {
        paths.push({
          source,
          peer: target.peer.name,
          ok: false,
          detail: 'not started: the push was stopped',
        });
        continue;
      }
      const argv = pushArgv(sync, node, target, { dryRun: options.dryRun ?? false });
      options.onPath?.(argv);
      const result = await runArgv(argv, { env: baseEnv({}), runtimeDir: spec.paths.runtime_dir, signal });
      const ok = !result.timedOut && (result.exitCode === 0 || result.exitCode === VANISHED);
      let detail = describeExit('rsync', result);
      if (result.timedOut && timeout.aborted)
        detail = `rsync did not finish within sync.timeout (${sync.timeout} s) and was stopped`;
      else if (result.timedOut) detail = 'rsync was stopped: this node stopped being the active one';
      else if (ok && options.dryRun) detail = result.output || 'nothing to copy';
      paths.push({ source, peer: target.peer.name, ok, detail });
    }
  }
  const failed = paths.filter((p) => !p.ok);
  return {
    ok: failed.length === 0,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - startedMono),
    detail:
      failed.length === 0
        ? `${paths.length} path${paths.length === 1 ? '' : 's'} copied`
        : failed.map((p) => `${p.source} → ${p.peer}: ${p.detail}`).join('; '),
    paths,
    timedOut: timeout.aborted,
    busy: false,
  };
}
