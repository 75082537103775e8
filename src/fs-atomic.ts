/**
 * Writes a reader (or keepalived's inotify) never sees half of, and that never replace what the
 * operator did not ask us to replace.
 *
 * Rules, shared by both writers below:
 * - A symlink is written through: the new file is written beside the link's *target* and renamed
 *   onto it, so the link stays a link (operators link /etc/keepalived/keepalived.conf to a managed
 *   copy). A dangling link or a loop is refused.
 * - Only regular files are replaced: a directory, device, FIFO or socket in the way is refused
 *   (as root, renaming onto /dev/stdout would otherwise replace the device node).
 * - Temp files are created with O_EXCL under a name nobody else uses, so a planted symlink at the
 *   temp name is never followed.
 *
 * `writeFilesAtomic` is all-or-nothing over several files: it checks every target before touching
 * any, writes and fsyncs every temp file, and only then renames them into place. A failure before
 * the renames removes the temps (and the directories it created): every previous file is as it
 * was. A rename that fails after others succeeded rolls those back from a hard link (or copy) of
 * the previous file taken just before the renames; only if that put-back fails too — the same
 * filesystem failing twice in a row — are files left mixed, and the error then lists which file is
 * new and which is old.
 */
import { constants, type Stats } from 'node:fs';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { problemWithUserPath } from './fs/user-path.js';

/** Something in the way of an output file that the operator must move or fix: exit 2. */
export class OutputRefused extends UsageError {
  readonly path: string;
  constructor(what: string, path: string, problem: string, fix: string) {
    super(`${what}: ${path} ${problem}`, fix);
    this.path = path;
  }
}

export interface OutputFile {
  path: string;
  data: string;
  mode: number;
  /** Names the file in messages: the flag or setting it came from ("--out-dir (node ha2)"). */
  what: string;
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isSymbolicLink()) return 'a symlink';
  return 'a regular file';
}

function refuseNonRegular(what: string, path: string, info: Stats, via?: string): void {
  if (info.isFile()) return;
  const where = via === undefined ? '' : ` (the target of the symlink ${via})`;
  if (info.isDirectory()) {
    throw new OutputRefused(
      what,
      path,
      `is a directory${where}, where the file should be written`,
      'remove or rename that directory, or choose another path',
    );
  }
  throw new OutputRefused(
    what,
    path,
    `is ${kindOf(info)}${where}, not a regular file: hactl only replaces regular files`,
    'choose a path for a regular file (the command prints to stdout without --out/--out-dir)',
  );
}

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Turns a filesystem error on an output path into a usage error naming the path and the fix, when
 * the operator can fix it; anything else (ENOSPC, EIO, …) stays unexpected, with the path added.
 */
export function explainWriteError(error: unknown, what: string, path: string): Error {
  if (error instanceof UsageError) return error;
  switch (errno(error)) {
    case 'EACCES':
    case 'EPERM':
      return new OutputRefused(
        what,
        path,
        'cannot be written: permission denied (or the file is immutable)',
        'run as a user that may write there (keepalived.conf usually needs root), or choose another path',
      );
    case 'EROFS':
      return new OutputRefused(what, path, 'is on a read-only filesystem', 'choose a writable path');
    case 'EISDIR':
      return new OutputRefused(
        what,
        path,
        'is a directory, where the file should be written',
        'remove or rename that directory, or choose another path',
      );
    case 'ENOTDIR':
    case 'EEXIST':
      return new OutputRefused(
        what,
        path,
        'has a file where a directory is needed',
        'remove or rename the file in the way, or choose another path',
      );
    case 'ENOENT':
      return new OutputRefused(
        what,
        path,
        'lost its directory while being written',
        'check that nothing else removes it, and run again',
      );
    case 'ELOOP':
      return new OutputRefused(what, path, 'leads through a symlink loop', 'fix or remove the symlinks');
    case 'ENAMETOOLONG':
      return new OutputRefused(what, path, 'is too long a path', 'choose a shorter path');
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return new Error(`writing ${path}: ${message}`, { cause: error });
    }
  }
}

function tempName(target: string, suffix: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.hactl-${process.pid}-${randomBytes(4).toString('hex')}.${suffix}`,
  );
}

// ---------------------------------------------------------------------------------------------
// One file, synchronously: for callers outside any time budget writing their own state files.

function resolveTargetSync(path: string, what: string): string {
  let info: Stats;
  try {
    info = lstatSync(path);
  } catch (error) {
    if (errno(error) === 'ENOENT') return path;
    throw explainWriteError(error, what, path);
  }
  if (!info.isSymbolicLink()) {
    refuseNonRegular(what, path, info);
    return path;
  }
  let target: string;
  try {
    target = realpathSync(path);
  } catch (error) {
    throw danglingOrLoop(error, what, path);
  }
  refuseNonRegular(what, target, statSync(target), path);
  return target;
}

/** Write-to-temp + fsync + rename. Creates missing parent directories: vet user paths first. */
export function writeFileAtomic(path: string, data: string, mode = 0o644, what = 'output file'): void {
  mkdirSync(dirname(path), { recursive: true });
  const target = resolveTargetSync(path, what);
  const temp = tempName(target, 'tmp');
  try {
    const fd = openSync(temp, 'wx', mode);
    try {
      fchmodSync(fd, mode);
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Several files, all or nothing, asynchronously (nothing here blocks the event loop).

function danglingOrLoop(error: unknown, what: string, path: string): Error {
  if (errno(error) === 'ENOENT') {
    return new OutputRefused(
      what,
      path,
      'is a symlink whose target does not exist',
      'create the target file, or remove the symlink so hactl writes a regular file there',
    );
  }
  return explainWriteError(error, what, path);
}

interface Plan {
  file: OutputFile;
  /** Where the bytes go: the path itself, or the final target of a symlink. */
  target: string;
  /** Directories to create, outermost first. */
  missingDirs: string[];
  existed: boolean;
  temp?: string;
  backup?: string;
}

/**
 * Parent directories of `path` that do not exist yet (outermost first), and `path` with its
 * existing part resolved through symlinks; refuses a file in the way of a directory.
 */
async function locate(path: string, what: string): Promise<{ missing: string[]; real: string }> {
  const missing: string[] = [];
  const absolute = resolve(path);
  let current = dirname(absolute);
  // Bounded by the path's depth: dirname('/') is '/'.
  for (;;) {
    let info: Stats;
    try {
      info = await fsp.stat(current);
    } catch (error) {
      // ENOTDIR: a component further up is a file; keep climbing to name it.
      if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR')
        throw explainWriteError(error, what, current);
      const parent = dirname(current);
      if (parent === current) throw explainWriteError(error, what, current);
      missing.push(current);
      current = parent;
      continue;
    }
    if (!info.isDirectory()) {
      throw new OutputRefused(
        what,
        current,
        `is ${kindOf(info)}, where a directory is needed`,
        'remove or rename it, or choose another path',
      );
    }
    const real = join(await fsp.realpath(current), relative(current, absolute));
    return { missing: missing.reverse(), real };
  }
}

async function planFile(file: OutputFile): Promise<Plan> {
  const problem = await problemWithUserPath(file.path, file.what);
  if (problem !== undefined) throw new UsageError(problem);
  const { missing: missingDirs, real } = await locate(file.path, file.what);
  if (missingDirs.length > 0) return { file, target: real, missingDirs, existed: false };
  let info: Stats;
  try {
    info = await fsp.lstat(file.path);
  } catch (error) {
    if (errno(error) === 'ENOENT') return { file, target: real, missingDirs, existed: false };
    throw explainWriteError(error, file.what, file.path);
  }
  if (!info.isSymbolicLink()) {
    refuseNonRegular(file.what, file.path, info);
    return { file, target: real, missingDirs, existed: true };
  }
  let target: string;
  try {
    target = await fsp.realpath(file.path);
  } catch (error) {
    throw danglingOrLoop(error, file.what, file.path);
  }
  const targetProblem = await problemWithUserPath(target, `${file.what} (the target of ${file.path})`);
  if (targetProblem !== undefined) throw new UsageError(targetProblem);
  refuseNonRegular(file.what, target, await fsp.stat(target), file.path);
  return { file, target, missingDirs, existed: true };
}

/** The filesystem calls of the commit phase, replaceable so a test can make one of them fail. */
export interface CommitOps {
  rename: (from: string, to: string) => Promise<void>;
}

const realOps: CommitOps = { rename: (from, to) => fsp.rename(from, to) };

async function writeTemp(plan: Plan): Promise<void> {
  plan.temp = tempName(plan.target, 'tmp');
  const handle = await fsp.open(plan.temp, 'wx', plan.file.mode);
  try {
    await handle.chmod(plan.file.mode);
    await handle.writeFile(plan.file.data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A second name for the previous file, to put it back if a later rename fails. */
async function keepPrevious(plan: Plan): Promise<void> {
  const backup = tempName(plan.target, 'old');
  try {
    await fsp.link(plan.target, backup);
  } catch {
    // No hard links here (or an immutable file): a copy keeps the content and mode.
    await fsp.copyFile(plan.target, backup, constants.COPYFILE_EXCL);
  }
  plan.backup = backup;
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* some filesystems cannot fsync a directory; the rename is still atomic */
  }
}

async function removeQuietly(path: string | undefined): Promise<void> {
  if (path !== undefined) await fsp.rm(path, { force: true }).catch(() => undefined);
}

/**
 * Writes every file or none (see the top of this file for the exact guarantee). Errors name the
 * file (`what` and path) and the fix; operator-fixable ones are usage errors (exit 2).
 */
export async function writeFilesAtomic(files: OutputFile[], ops: CommitOps = realOps): Promise<void> {
  const plans: Plan[] = [];
  for (const file of files) plans.push(await planFile(file));
  const seen = new Map<string, Plan>();
  for (const plan of plans) {
    const other = seen.get(plan.target);
    if (other) {
      throw new OutputRefused(
        plan.file.what,
        plan.file.path,
        `is the same file as ${other.file.path} (${other.file.what}): both lead to ${plan.target}`,
        'give every node its own file',
      );
    }
    seen.set(plan.target, plan);
  }

  const createdDirs: string[] = [];
  const removeLeftovers = async (): Promise<void> => {
    for (const plan of plans) {
      await removeQuietly(plan.temp);
      await removeQuietly(plan.backup);
    }
  };
  const undo = async (): Promise<void> => {
    await removeLeftovers();
    for (const dir of createdDirs.reverse()) await fsp.rmdir(dir).catch(() => undefined);
  };

  // Prepare: directories, temps, backups. A failure here leaves every previous file untouched.
  let current: Plan | undefined;
  try {
    for (const plan of plans) {
      current = plan;
      for (const dir of plan.missingDirs) {
        try {
          await fsp.mkdir(dir, { mode: 0o755 });
          createdDirs.push(dir);
        } catch (error) {
          // Created for an earlier file of this batch: fine. Anything else in the way: refuse.
          if (errno(error) !== 'EEXIST' || !(await fsp.stat(dir)).isDirectory()) throw error;
        }
      }
      await writeTemp(plan);
    }
    for (const plan of plans) {
      current = plan;
      if (plan.existed) await keepPrevious(plan);
    }
  } catch (error) {
    await undo();
    const explained = explainWriteError(error, current?.file.what ?? 'output', current?.file.path ?? '');
    explained.message += ' (no file was changed)';
    throw explained;
  }

  // Commit: renames. A failure puts back what was already replaced.
  const renamed: Plan[] = [];
  for (const plan of plans) {
    try {
      await ops.rename(plan.temp!, plan.target);
      plan.temp = undefined;
      renamed.push(plan);
    } catch (error) {
      const notRestored: string[] = [];
      for (const done of renamed.reverse()) {
        try {
          if (done.backup !== undefined) await ops.rename(done.backup, done.target);
          else await fsp.unlink(done.target);
          done.backup = undefined;
        } catch {
          // Keep its backup: the operator can put it back by hand.
          notRestored.push(
            done.backup === undefined
              ? `${done.target} (new; it did not exist before)`
              : `${done.target} (new; the previous version is kept as ${done.backup})`,
          );
          done.backup = undefined;
        }
      }
      if (notRestored.length === 0) await undo();
      else await removeLeftovers();
      const explained = explainWriteError(error, plan.file.what, plan.file.path);
      if (notRestored.length === 0) {
        explained.message += ' (no file was changed)';
        throw explained;
      }
      throw new Error(
        `${explained.message}; rolling back failed too, so these files are new: ${notRestored.join(', ')}; ` +
          'every other file kept its previous version: fix the cause and run again',
        { cause: error },
      );
    }
  }
  for (const dir of new Set(plans.map((plan) => dirname(plan.target)))) await syncDirectory(dir);
  await removeLeftovers();
}
