/**
 * Reading a spec file's bytes, with the one error message per way it can fail. No YAML, no zod.
 *
 * The same loader serves keepalived's hot path (notify, check --spec), so nothing here may block
 * or grow without bound: the path is stat'ed before it is opened (a device is never opened: some,
 * like a watchdog, act on open), opened with O_NONBLOCK (a FIFO that appeared in between opens at
 * once instead of waiting for a writer) and read with a cap, whatever its size claims to be.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';

/** A real spec is a few KiB; 1 MiB leaves room for comments and keeps parsing well under a second. */
export const SPEC_SIZE_LIMIT = 1024 * 1024;

/** The spec file itself cannot be read as a spec (missing, not a regular file, too large): exit 2 everywhere. */
export class SpecFileError extends ConfigError {}

const STDIN = '-';

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

const ERRNO_MEANING: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EISDIR: 'it is a directory',
  ENXIO: 'no such device or address',
};

function unreadable(path: string, error: unknown): SpecFileError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new SpecFileError(
      `spec file ${path} does not exist; pass --spec FILE or create one with \`hactl init\``,
    );
  }
  const meaning = code !== undefined ? ERRNO_MEANING[code] : undefined;
  return new SpecFileError(
    `cannot read spec file ${path}: ${meaning ? `${meaning} (${code})` : (code ?? String(error))}`,
  );
}

function tooLarge(what: string): SpecFileError {
  return new SpecFileError(
    `${what} is larger than ${SPEC_SIZE_LIMIT / 1024 / 1024} MiB, which no spec needs; is it the right file?`,
  );
}

/** /proc and /sys hold regular-looking files that are process state (environment, memory), never a spec. */
function pseudoTree(path: string): string | undefined {
  const inside = (p: string) => ['/proc', '/sys'].find((tree) => p === tree || p.startsWith(`${tree}/`));
  const lexical = inside(resolve(path));
  if (lexical) return lexical;
  try {
    return inside(realpathSync(path));
  } catch {
    return undefined;
  }
}

/** Sleeps without an event loop: only between retries of a non-blocking stdin that has no data yet. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Reads at most SPEC_SIZE_LIMIT bytes; one byte more means the input is too large. */
function readCapped(fd: number, what: string): Buffer {
  const buffer = Buffer.allocUnsafe(SPEC_SIZE_LIMIT + 1);
  let length = 0;
  while (length < buffer.length) {
    let n: number;
    try {
      n = readSync(fd, buffer, length, buffer.length - length, null);
    } catch (error) {
      // stdin shared with a process that made it non-blocking: wait for the writer.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        pause(10);
        continue;
      }
      throw error;
    }
    if (n === 0) break;
    length += n;
  }
  if (length > SPEC_SIZE_LIMIT) throw tooLarge(what);
  return buffer.subarray(0, length);
}

/**
 * The spec's bytes from a regular file, or from standard input when `path` is "-". Anything else
 * (directory, FIFO, device, socket) and anything over SPEC_SIZE_LIMIT is refused with a
 * SpecFileError before it is read.
 */
export function readSpecBytes(path: string): Buffer {
  if (path === STDIN) {
    try {
      return readCapped(0, 'the spec on standard input');
    } catch (error) {
      if (error instanceof SpecFileError) throw error;
      throw unreadable('- (standard input)', error);
    }
  }
  if (path === '') throw new SpecFileError('--spec is empty: give the path of a YAML file, or - for stdin');
  if (path.includes('\0')) throw new SpecFileError('--spec contains a NUL character');

  let before: Stats;
  try {
    before = statSync(path);
  } catch (error) {
    throw unreadable(path, error);
  }
  const refuse = (stats: Stats) =>
    new SpecFileError(
      `spec file ${path} is ${kindOf(stats)}, not a regular file; give the path of a YAML file${
        stats.isFIFO() || stats.isCharacterDevice()
          ? ' (to read a pipe, use --spec - and redirect it to stdin)'
          : ''
      }`,
    );
  if (!before.isFile()) throw refuse(before);
  const pseudo = pseudoTree(path);
  if (pseudo) {
    throw new SpecFileError(`spec file ${path} is under ${pseudo}, a pseudo-filesystem: no spec lives there`);
  }
  if (before.size > SPEC_SIZE_LIMIT) throw tooLarge(`spec file ${path}`);

  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw unreadable(path, error);
  }
  try {
    const opened = fstatSync(fd);
    // Replaced between stat and open (a FIFO or device put in its place): refuse, do not read.
    if (!opened.isFile()) throw refuse(opened);
    return readCapped(fd, `spec file ${path}`);
  } catch (error) {
    if (error instanceof SpecFileError) throw error;
    throw unreadable(path, error);
  } finally {
    closeSync(fd);
  }
}
