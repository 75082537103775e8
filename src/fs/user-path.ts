/**
 * A path an operator hands us (an output or state directory, a log file) is vetted before any
 * other filesystem call touches it. Node 20's recursive mkdir — sync and async alike — loops
 * forever on a path under /proc, and a synchronous call there would block every timer that
 * enforces a budget. Pseudo-filesystems are never a place for hactl's files, so they are refused
 * by name and, behind a symlink or a bind mount, by filesystem type.
 */
import { realpath, stat, statfs } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';

const REFUSED_TREES = ['/proc', '/sys', '/dev'];

/** statfs(2) f_type of filesystems that hold no ordinary files. */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
  [0xf97cff8c, 'selinuxfs'],
  [0x6e736673, 'nsfs'],
]);

const DEFAULT_TIMEOUT_MS = 2_000;

function insideRefusedTree(path: string): string | undefined {
  return REFUSED_TREES.find((tree) => path === tree || path.startsWith(tree + sep));
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function nearestExisting(path: string): Promise<string> {
  let current = path;
  // Bounded by the path's depth: dirname('/') is '/'.
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch {
      const parent = dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

/**
 * Returns why `path` cannot hold hactl's files, or undefined when it can. `what` names the path
 * in the message (a flag or a spec field). Only async calls, each under one overall deadline.
 */
export async function problemWithUserPath(
  path: string,
  what: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<string | undefined> {
  if (path === '') return `${what} is empty: give a directory or file path`;
  if (path.includes('\0')) return `${what} contains a NUL character`;
  const absolute = resolve(path);
  const lexical = insideRefusedTree(absolute);
  if (lexical)
    return `${what} ${JSON.stringify(path)} is under ${lexical}, a pseudo-filesystem: choose a directory on a real filesystem (e.g. under /var/lib or /run)`;
  try {
    return await withDeadline(
      (async () => {
        const existing = await nearestExisting(absolute);
        const real = await realpath(existing);
        const tree = insideRefusedTree(real);
        if (tree)
          return `${what} ${JSON.stringify(path)} leads through a symlink into ${tree}, a pseudo-filesystem: choose a directory on a real filesystem`;
        const fs = PSEUDO_FILESYSTEMS.get(Number((await statfs(real)).type));
        if (fs)
          return `${what} ${JSON.stringify(path)} is on a ${fs} filesystem, which holds no ordinary files: choose a directory on a real filesystem`;
        return undefined;
      })(),
      timeoutMs,
      `checking ${what}`,
    );
  } catch (error) {
    return `${what} ${JSON.stringify(path)} cannot be checked: ${error instanceof Error ? error.message : String(error)}`;
  }
}
