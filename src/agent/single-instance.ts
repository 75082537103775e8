/**
 * One agent per node. Two would read the same FIFO (each line reaches only one of them), write the
 * same track files and apply transitions twice, so a second one refuses to start.
 *
 * The guard is a flock(2) on `agent-<node>.lock` in paths.runtime_dir, taken with the same helper
 * as notify's lock: the kernel drops it when the process dies (SIGKILL included), so a crash never
 * leaves a stale lock, and a recycled PID cannot fool it the way a PID file can. It guards exactly
 * what two agents would fight over — the files under runtime_dir — whatever network namespace or
 * container they run in; an abstract unix socket would only guard one network namespace, and two
 * agents in two namespaces sharing one runtime_dir would still collide. The lock file holds the
 * holder's PID for the message.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { raceDeadline } from '../bounded/deadline.js';
import { CommandFailed } from '../errors.js';
import { acquireLock, LockTimeout, type HeldLock } from '../notify/lock.js';

export function agentLockPath(runtimeDir: string, node: string): string {
  return join(runtimeDir, `agent-${node}.lock`);
}

/** Another agent serves this node: exit 1 with who and what to do. */
export class AgentAlreadyRunning extends CommandFailed {}

async function holderPid(path: string): Promise<string | undefined> {
  const text = await raceDeadline((signal) => readFile(path, { encoding: 'utf8', signal }), {
    deadlineMs: performance.now() + 1_000,
    reason: () => new Error('lock file read timed out'),
    onTimeout: () => '',
  }).catch(() => '');
  const pid = /^(\d{1,10})\n/.exec(text)?.[1];
  return pid;
}

/** Takes the node's agent lock without waiting; throws AgentAlreadyRunning when it is held. */
export async function claimNode(runtimeDir: string, cluster: string, node: string): Promise<HeldLock> {
  const path = agentLockPath(runtimeDir, node);
  try {
    return await acquireLock(path, 0);
  } catch (error) {
    if (!(error instanceof LockTimeout)) throw error;
    const pid = await holderPid(path);
    throw new AgentAlreadyRunning(
      `another hactl agent${pid ? ` (pid ${pid})` : ''} already runs for node ${node} of cluster ${cluster}: it holds ${path}. Stop it first (e.g. systemctl stop hactl-agent), or pass --node for another node.`,
    );
  }
}
