/**
 * keepalived's notify_fifo, read by the one process that acts on it. The FIFO is opened O_RDWR and
 * O_NONBLOCK: the open never waits for a writer (and so never pins a libuv threadpool thread), and
 * because this process is a writer too, keepalived restarting (closing its end) is no end of file.
 * The fd is handed to a net.Socket, which libuv polls like any pipe (checked on Node 20: a burst
 * of 1000 lines arrives complete and in order). Lines are split on "\n" with a bound: a line
 * longer than MAX_FIFO_LINE is dropped whole and reported as a gap, as is a read error.
 */
import { execFile } from 'node:child_process';
import { close, constants, fstat, open, type Stats } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import { raceDeadline } from '../bounded/deadline.js';
import { ConfigError } from '../errors.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { MAX_FIFO_LINE, parseFifoLine, printable, type FifoLine } from './fifo-line.js';

const OPEN_BUDGET_MS = 5_000;
const FIFO_MODE = 0o600;

/** Creates the FIFO (mode 0600) if it is missing; refuses anything else at its path. */
export async function prepareFifo(path: string): Promise<'created' | 'existed'> {
  const problem = await problemWithUserPath(dirname(path), 'paths.runtime_dir');
  if (problem) throw new ConfigError(problem);
  return raceDeadline(
    async (signal) => {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      const found = await lstat(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (found) {
        if (found.isFIFO()) return 'existed' as const;
        throw new ConfigError(
          `${path} (paths.runtime_dir's notify FIFO) exists and is not a FIFO: remove it, the agent creates the FIFO itself`,
        );
      }
      // Node has no mkfifo(3); coreutils' mkfifo(1) creates it with the mode in one step.
      await new Promise<void>((resolve, reject) => {
        execFile(
          'mkfifo',
          ['-m', FIFO_MODE.toString(8), '--', path],
          { signal, timeout: OPEN_BUDGET_MS },
          (error) =>
            error ? reject(new Error(`mkfifo ${path} failed: ${error.message.trim()}`)) : resolve(),
        );
      });
      return 'created' as const;
    },
    {
      deadlineMs: performance.now() + OPEN_BUDGET_MS,
      reason: () => new Error(`preparing ${path} took longer than ${OPEN_BUDGET_MS / 1000} s`),
      onTimeout: (why) => {
        throw why instanceof Error ? why : new Error(String(why));
      },
    },
  );
}

export interface FifoHandlers {
  /** Each complete line, in the order keepalived wrote them; `seq` counts from 1 per open. */
  line(line: FifoLine, seq: number): void;
  /** Bytes were lost (an overlong line, a read error): what was said before can no longer be trusted. */
  gap(why: string): void;
}

export interface FifoReader {
  close(): void;
  /** Lines read so far. */
  readonly count: number;
}

function openFd(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW, (error, fd) =>
      error ? reject(error) : resolve(fd),
    ),
  );
}

function fstatFd(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) =>
    fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats))),
  );
}

/** Splits a byte stream into bounded lines (latin1: one character per byte, nothing decoded). */
export class LineSplitter {
  private buffer = '';
  private discarding = false;
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: (start: string) => void,
    private readonly limit = MAX_FIFO_LINE,
  ) {}

  push(chunk: string): void {
    let rest = chunk;
    for (let newline = rest.indexOf('\n'); newline !== -1; newline = rest.indexOf('\n')) {
      const piece = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      if (this.discarding) {
        this.discarding = false;
        this.buffer = '';
        continue;
      }
      const line = this.buffer + piece;
      this.buffer = '';
      if (line.length > this.limit) this.onOverlong(line.slice(0, 60));
      else this.onLine(line);
    }
    if (this.discarding) return;
    this.buffer += rest;
    if (this.buffer.length > this.limit) {
      this.onOverlong(this.buffer.slice(0, 60));
      this.buffer = '';
      this.discarding = true;
    }
  }
}

/** Opens the FIFO (which must exist: see prepareFifo) and feeds its lines to `handlers`. */
export async function openFifo(path: string, handlers: FifoHandlers): Promise<FifoReader> {
  const fd = await raceDeadline(() => openFd(path), {
    deadlineMs: performance.now() + OPEN_BUDGET_MS,
    reason: () => new Error(`opening ${path} took longer than ${OPEN_BUDGET_MS / 1000} s`),
    onTimeout: (why) => {
      throw why instanceof Error ? why : new Error(String(why));
    },
  });
  try {
    // O_NOFOLLOW refused a symlink; a file swapped in between prepareFifo and the open is refused here.
    const stats = await fstatFd(fd);
    if (!stats.isFIFO())
      throw new ConfigError(`${path} is no longer a FIFO: remove it and restart the agent`);
    // Whoever can write the FIFO can trigger transitions (the loop still acts only on what it observes).
    if ((stats.mode & 0o002) !== 0)
      throw new ConfigError(
        `${path} is writable by every user (mode ${(stats.mode & 0o777).toString(8)}), so anyone could feed it transitions: chmod 600 it (the agent creates it 0600)`,
      );
  } catch (error) {
    close(fd, () => undefined);
    throw error;
  }
  const socket = new Socket({ fd, readable: true, writable: false });
  socket.setEncoding('latin1');
  let count = 0;
  let closed = false;
  const splitter = new LineSplitter(
    (line) => handlers.line(parseFifoLine(line), ++count),
    (start) =>
      handlers.gap(
        `dropped a line longer than ${MAX_FIFO_LINE} bytes (starting ${JSON.stringify(printable(start))})`,
      ),
  );
  socket.on('data', (chunk: string) => splitter.push(chunk));
  socket.on('error', (error) => {
    if (!closed) handlers.gap(`reading ${path} failed: ${error.message}`);
  });
  return {
    close() {
      if (closed) return;
      closed = true;
      socket.destroy();
    },
    get count() {
      return count;
    },
  };
}
