/**
 * One transition at a time per node: a `hactl notify` and the node's agent never act together,
 * and two notifies never do. Two kernel-held locks, both dropped by the kernel when their holder
 * dies (SIGKILL included), so a crash never leaves a stale lock to guess about:
 *
 * - a flock(2) on the lock file (`notify-<node>.lock` in paths.runtime_dir). Node has no flock
 *   call, so flock(1) takes it on an fd we pass in: the lock belongs to the shared open file
 *   description, which stays locked after flock(1) exits for as long as our fd is open. Waiting is
 *   bounded by `flock -w`. Guards notify against notify whatever namespace each runs in. It costs a
 *   process spawn (10–15 ms on an idle machine, far more on a busy one);
 * - a listening unix socket in the abstract namespace named after the lock file's device and
 *   inode: binding a name that is bound fails, and the name goes with the socket's last close, at
 *   the latest when its holder dies. No process is spawned (well under a millisecond). A waiter
 *   connects to the holder and retries when that connection ends, so a release wakes it at once.
 *
 * `hactl notify` takes both (the file first, then the socket, so two takers never wait on each
 * other crosswise); the agent, whose promotion latency is the point of it, takes the socket only.
 * Abstract names are per network namespace: the agent and keepalived's hooks share one, the one
 * that holds the node's VIPs (the agent reads its addresses there), so notify ↔ agent exclusion
 * holds where it matters; a second agent for the node is refused by src/agent/single-instance.ts.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { problemWithUserPath } from '../fs/user-path.js';

/** Another transition held the lock for longer than we may wait (the command maps it to exit 1). */
export class LockTimeout extends Error {
  constructor(
    readonly path: string,
    readonly waitedSec: number,
    readonly who = 'another hactl notify',
  ) {
    super(`${who} held ${path} for more than ${waitedSec} s; this event was not applied`);
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

export interface LockOptions {
  /**
   * Also take the flock(2) (default true). The agent passes false: it relies on the socket alone,
   * which every notify takes too.
   */
  fileLock?: boolean;
  /**
   * Called once, synchronously, right after the flock(1) child was spawned: work that needs no
   * lock (notify loads the MySQL driver's code) runs while that child execs, waits and exits,
   * instead of after. It must not throw, take this lock, or wait for anything this lock's holder
   * does (it only starts work; nothing waits for it here), so a taker that runs it cannot
   * deadlock with a holder: the lock order (flock, then socket) is unchanged. Not called for a
   * socket-only taker (fileLock: false), which spawns nothing.
   */
  whileWaiting?: () => void;
}

export function lockPath(runtimeDir: string, node: string): string {
  return join(runtimeDir, `notify-${node}.lock`);
}

/** The abstract socket name of a lock file: its identity, not its spelling (symlinks, bind mounts). */
export async function lockSocketName(file: FileHandle): Promise<string> {
  const { dev, ino } = await file.stat({ bigint: true });
  return socketName(dev, ino);
}

function socketName(dev: bigint, ino: bigint): string {
  return `\0hactl-transition-lock-${dev.toString(16)}-${ino.toString(16)}`;
}

async function takeFlock(
  file: FileHandle,
  path: string,
  waitSec: number,
  whileWaiting?: () => void,
): Promise<boolean> {
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('flock', ['--exclusive', '--wait', String(waitSec), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', file.fd],
    });
    // The child's exit is seen on a later turn of the event loop: whatever this starts runs
    // meanwhile. A throw here must not cost the lock (the child holds it on our open file).
    try {
      whileWaiting?.();
    } catch {
      /* the hook's work is an optimisation only */
    }
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => reject(new Error(`cannot run flock(1) to take ${path}: ${error.message}`)));
    child.on('close', (exitCode, signal) => {
      if (exitCode === 0 || exitCode === 1) resolve(exitCode);
      else reject(new Error(`flock(1) on ${path} failed (${signal ?? exitCode}): ${stderr.trim()}`));
    });
  });
  return code === 0;
}

/** Binds `name` once; undefined when another socket holds it. */
function tryBind(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true });
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(undefined);
      else reject(new Error(`cannot bind the transition lock socket: ${error.message}`));
    };
    server.once('error', onError);
    server.listen({ path: name }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/**
 * Waits until the holder's socket goes away (our connection to it ends) or `ms` pass, whichever
 * comes first; a holder that accepts nothing (frozen) is covered by the bound. 'refused': nobody
 * listens under the name (the holder just left, or something binds it without listening).
 */
function holderGone(name: string, ms: number): Promise<'gone' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    let refused = false;
    let finished = false;
    const done = (how: 'gone' | 'refused' | 'timeout') => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    const socket = createConnection({ path: name });
    socket.on('error', () => (refused = true));
    socket.on('close', () => done(refused ? 'refused' : 'gone'));
  });
}

/** Re-tries at least this often even without a sign from the holder (a missed wake-up costs this). */
const RETRY_MS = 50;
/** Pause after two refusals in a row, so a name bound without a listener cannot make a busy loop. */
const REFUSED_PAUSE_MS = 10;

async function takeSocket(name: string, deadline: number): Promise<Server | undefined> {
  // Bounded by the deadline, and in count.
  let refusedBefore = false;
  for (let pass = 0; pass < 1_000_000; pass++) {
    const server = await tryBind(name);
    if (server) return server;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    if (refusedBefore) await new Promise((r) => setTimeout(r, Math.min(REFUSED_PAUSE_MS, left)));
    refusedBefore = (await holderGone(name, Math.min(RETRY_MS, left))) === 'refused';
  }
  return undefined;
}

function holdSocket(server: Server): () => void {
  const waiters = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    // A waiter's connection exists only to end when we release; it never carries data.
    socket.on('error', () => undefined);
    socket.unref();
    waiters.add(socket);
    socket.on('close', () => waiters.delete(socket));
  });
  // Holding the lock must not keep a finished process alive; the kernel frees the name at exit.
  server.unref();
  return () => {
    server.close();
    for (const socket of waiters) socket.destroy();
    waiters.clear();
  };
}

/**
 * Socket-only takers (the agent) keep the lock file open between transitions: a tick then costs
 * one stat(2) that proves the path still names that file, instead of vetting the directory and
 * opening the file again (each a trip through libuv's thread pool, slow on a busy machine).
 */
const kept = new Map<string, { file: FileHandle; dev: bigint; ino: bigint }>();
const SAME_FILE_CHECK_MS = 2_000;

async function stillNamed(path: string, known: { dev: bigint; ino: bigint }): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>(
    (resolve) => (timer = setTimeout(() => resolve(false), SAME_FILE_CHECK_MS)),
  );
  try {
    const looked = stat(path, { bigint: true }).then(
      (now) => now.dev === known.dev && now.ino === known.ino,
      () => false,
    );
    return await Promise.race([looked, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function openLockFile(path: string): Promise<FileHandle> {
  // Vetted first: Node 20's recursive mkdir never returns on a path under /proc.
  const problem = await problemWithUserPath(dirname(path), 'paths.runtime_dir');
  if (problem) throw new RuntimeDirUnusable(problem);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  // Asynchronous even though the directory is vetted: the agent's loop takes this lock per
  // transition, and nothing there may block the timers that bound its other work.
  return open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
}

/** For a person looking at the file; the locks themselves are the flock and the socket. */
async function writeHolder(file: FileHandle): Promise<void> {
  const text = `${process.pid}\n`;
  await file.write(text, 0);
  await file.truncate(Buffer.byteLength(text));
}

export async function acquireLock(
  path: string,
  waitSec: number,
  options: LockOptions = {},
): Promise<HeldLock> {
  const fileLock = options.fileLock ?? true;
  let file: FileHandle;
  let identity: { dev: bigint; ino: bigint };
  const reused = fileLock ? undefined : kept.get(path);
  if (reused && (await stillNamed(path, reused))) ({ file, ...identity } = reused);
  else {
    if (reused) {
      kept.delete(path);
      void reused.file.close().catch(() => undefined);
    }
    file = await openLockFile(path);
    try {
      const { dev, ino } = await file.stat({ bigint: true });
      identity = { dev, ino };
    } catch (error) {
      await file.close();
      throw error;
    }
    if (!fileLock) kept.set(path, { file, ...identity });
  }
  const started = performance.now();
  const deadline = started + waitSec * 1000;
  let releaseSocket: (() => void) | undefined;
  try {
    if (fileLock && !(await takeFlock(file, path, waitSec, options.whileWaiting)))
      throw new LockTimeout(path, waitSec);
    const server = await takeSocket(socketName(identity.dev, identity.ino), deadline);
    if (!server) throw new LockTimeout(path, waitSec, 'another hactl notify or the node’s agent');
    releaseSocket = holdSocket(server);
    // Informational only: off the promotion's path (two trips through libuv's thread pool). A
    // FileHandle's close waits for an operation in flight, so release() cannot cut it short.
    void writeHolder(file).catch(() => undefined);
  } catch (error) {
    releaseSocket?.();
    if (fileLock) await file.close();
    throw error;
  }
  let released = false;
  return {
    path,
    waitedMs: Math.round(performance.now() - started),
    release() {
      if (released) return;
      released = true;
      releaseSocket?.();
      // The flock goes with the last close of the open file description, moments after this
      // returns; a waiter's `flock -w` covers that instant, and a process exit closes it anyway.
      // A socket-only taker keeps its file open for the next transition.
      if (fileLock) void file.close().catch(() => undefined);
    },
  };
}
