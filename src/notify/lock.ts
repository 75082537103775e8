/**
 * One notify at a time per node. The lock is a kernel flock(2) on a file in the runtime dir: the
 * kernel drops it when our process dies, so a crashed or SIGKILLed notify never leaves a stale lock
 * to guess about (PID files can be reused). Node has no flock call, so flock(1) takes it on an fd
 * we pass in: the lock belongs to the shared open file description, which stays locked after
 * flock(1) exits for as long as our fd is open. Waiting is bounded by `flock -w`.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { problemWithUserPath } from '../fs/user-path.js';

/** Another transition held the lock for longer than we may wait (the command maps it to exit 1). */
export class LockTimeout extends Error {
  constructor(path: string, waitedSec: number) {
    super(`another hactl notify held ${path} for more than ${waitedSec} s; this event was not applied`);
    this.name = 'LockTimeout';
  }
}

/** The runtime dir cannot hold the lock (the command maps it to a configuration error). */
export class RuntimeDirUnusable extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'RuntimeDirUnusable';
  }
}

export interface HeldLock {
  path: string;
  waitedMs: number;
  release(): void;
}

export function lockPath(runtimeDir: string, node: string): string {
  return join(runtimeDir, `notify-${node}.lock`);
}

export async function acquireLock(path: string, waitSec: number): Promise<HeldLock> {
  // Vetted first: Node 20's recursive mkdir never returns on a path under /proc.
  const problem = await problemWithUserPath(dirname(path), 'paths.runtime_dir');
  if (problem) throw new RuntimeDirUnusable(problem);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  // Asynchronous even though the directory is vetted: the agent's loop takes this lock per
  // transition, and nothing there may block the timers that bound its other work.
  const file = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  const started = Date.now();
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('flock', ['--exclusive', '--wait', String(waitSec), '3'], {
        stdio: ['ignore', 'ignore', 'pipe', file.fd],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', (error) =>
        reject(new Error(`cannot run flock(1) to take ${path}: ${error.message}`)),
      );
      child.on('close', (exitCode, signal) => {
        if (exitCode === 0 || exitCode === 1) resolve(exitCode);
        else reject(new Error(`flock(1) on ${path} failed (${signal ?? exitCode}): ${stderr.trim()}`));
      });
    });
    if (code !== 0) throw new LockTimeout(path, waitSec);
    // For a person looking at the file; the lock itself is the flock.
    await file.truncate(0);
    await file.write(`${process.pid}\n`, 0);
  } catch (error) {
    await file.close();
    throw error;
  }
  let released = false;
  return {
    path,
    waitedMs: Date.now() - started,
    release() {
      if (released) return;
      released = true;
      // The flock goes with the last close of the open file description, moments after this
      // returns; a waiter's `flock -w` covers that instant, and a process exit closes it anyway.
      void file.close().catch(() => undefined);
    },
  };
}
