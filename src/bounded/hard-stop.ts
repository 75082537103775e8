/**
 * The last line of defence of a process with a time budget: a tiny worker thread sleeps in
 * Atomics.wait until the deadline and then writes one line to stderr (and, when asked, one JSON
 * line to a log file) and SIGKILLs the process. It needs nothing from the main thread, so it holds
 * even when the event loop is stuck in a synchronous call (a regex, a recursive mkdir under
 * /proc, a bug) where no timer can fire. Process-level only: a long-lived process never uses it
 * on itself; it abandons work with raceDeadline (./deadline.ts) instead.
 *
 * Cost: one thread whose start-up runs beside the main thread; `npm run bench:checks` measures it.
 */
import { SHARE_ENV, Worker } from 'node:worker_threads';

export interface HardStopText {
  /** One line for stderr. `{elapsed}` becomes the ms since process start when it fires. */
  stderr: string;
  /** Append `logLine` (same placeholders, plus `{time}` as an ISO date) to this file, if it is a regular file. */
  logFile?: string | undefined;
  logLine?: string | undefined;
}

export interface HardStop {
  /** Moves the deadline (performance.now() clock) and, optionally, what is written when it fires. */
  update(deadlineMs: number, text?: HardStopText): void;
  /** Stands down (e.g. right before a normal exit). */
  cancel(): void;
}

// Layout of the shared memory: [generation, cancelled, text length] as Int32, the deadline as a
// Float64 (ms since the epoch, on the performance clock), then the text as UTF-8 JSON.
const CONTROL_BYTES = 16;
const DEADLINE_OFFSET = 16;
const TEXT_OFFSET = 24;
const TEXT_BYTES = 8 * 1024;

// Plain CommonJS run with eval: no file to find next to the bundle, nothing to compile but this.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const control = new Int32Array(workerData.shared, 0, 3);
const deadline = new Float64Array(workerData.shared, ${DEADLINE_OFFSET}, 1);
const now = () => performance.timeOrigin + performance.now();
function fire() {
  let text = { stderr: 'hactl: hard stop: budget used up {elapsed} ms after start; killing the process\\n' };
  try {
    const length = Atomics.load(control, 2);
    text = JSON.parse(Buffer.from(workerData.shared, ${TEXT_OFFSET}, length).toString('utf8'));
  } catch {}
  const elapsed = String(Math.round(now() - workerData.origin));
  const fill = (s) => s.replaceAll('{elapsed}', elapsed).replaceAll('{time}', new Date().toISOString());
  try { fs.writeSync(2, fill(text.stderr)); } catch {}
  if (text.logFile && text.logLine) {
    try {
      const c = fs.constants;
      // O_NONBLOCK: a FIFO without a reader fails at once instead of blocking the stop.
      const fd = fs.openSync(text.logFile, c.O_WRONLY | c.O_APPEND | c.O_CREAT | c.O_NONBLOCK, 0o640);
      try { if (fs.fstatSync(fd).isFile()) fs.writeSync(fd, fill(text.logLine)); } finally { fs.closeSync(fd); }
    } catch {}
  }
  process.kill(workerData.pid, 'SIGKILL');
}
for (let i = 0; i < 1e6; i++) {
  const generation = Atomics.load(control, 0);
  if (Atomics.load(control, 1) === 1) break;
  const left = deadline[0] - now();
  if (left <= 0) { fire(); break; }
  Atomics.wait(control, 0, generation, left);
}
`;

/** Starts the watchdog; the process is SIGKILLed at `deadlineMs` unless it is cancelled or moved. */
export function startHardStop(deadlineMs: number, text?: HardStopText): HardStop {
  const shared = new SharedArrayBuffer(TEXT_OFFSET + TEXT_BYTES);
  const control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
  const deadline = new Float64Array(shared, DEADLINE_OFFSET, 1);
  const bytes = new Uint8Array(shared, TEXT_OFFSET, TEXT_BYTES);
  const encoder = new TextEncoder();
  const set = (at: number, next?: HardStopText) => {
    if (next) {
      const { written } = encoder.encodeInto(JSON.stringify(next), bytes);
      // Cut text would not parse: the worker then writes its generic line.
      Atomics.store(control, 2, written);
    }
    deadline[0] = performance.timeOrigin + at;
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
  };
  set(deadlineMs, text);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    name: 'hactl-hard-stop',
    workerData: { shared, pid: process.pid, origin: performance.timeOrigin },
    env: SHARE_ENV,
    stdin: false,
    trackUnmanagedFds: false,
  });
  worker.unref();
  // A worker that cannot start must not take the process down: the in-loop timers still apply.
  worker.on('error', () => undefined);
  return {
    update: set,
    cancel() {
      Atomics.store(control, 1, 1);
      Atomics.add(control, 0, 1);
      Atomics.notify(control, 0);
    },
  };
}
