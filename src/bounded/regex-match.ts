/**
 * A user's regular expression never runs unbounded: JavaScript's backtracking engine can take
 * exponential time (`/(x+x+)+y/` on "xxxx…"), and a synchronous match would block every timer that
 * enforces a budget. Full JavaScript syntax either way:
 * - matchWithin(): on the calling thread, terminated by V8 at a deadline (vm's watchdog thread). For
 *   a one-shot process (a spawned check): nothing else needs its thread, and it costs ~nothing.
 * - RegexMatcher: in a worker thread terminated when a signal aborts, so the caller's event loop
 *   keeps turning. For a long-lived process (the agent), which keeps one and reuses its worker. It
 *   talks through shared memory and Atomics only (no MessagePort). Its start-up (a Node.js
 *   environment, ~10 MB and tens of ms of CPU) is why spawned checks do not use it.
 */
import { Script } from 'node:vm';
import { Worker } from 'node:worker_threads';

/** Most bytes of text one match takes (the http check reads at most 64 KiB of body). */
export const MAX_TEXT_BYTES = 64 * 1024;
/** Most bytes of pattern source and flags. */
export const MAX_PATTERN_BYTES = 8 * 1024;

// control: [state, result, text length, source length, flags length]
const IDLE = 0;
const POSTED = 1;
const DONE = 2;
const CLOSED = 3;
const CONTROL_BYTES = 32;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.shared, 0, 5);
const bytes = new Uint8Array(workerData.shared, ${CONTROL_BYTES});
const decoder = new TextDecoder();
for (;;) {
  const state = Atomics.load(control, 0);
  if (state === ${CLOSED}) break;
  if (state !== ${POSTED}) {
    Atomics.wait(control, 0, state);
    continue;
  }
  const text = Atomics.load(control, 2), source = Atomics.load(control, 3), flags = Atomics.load(control, 4);
  let result;
  try {
    const regex = new RegExp(decoder.decode(bytes.slice(text, text + source)), decoder.decode(bytes.slice(text + source, text + source + flags)));
    result = regex.test(decoder.decode(bytes.slice(0, text))) ? 1 : 0;
  } catch {
    result = 2;
  }
  Atomics.store(control, 1, result);
  Atomics.store(control, 0, ${DONE});
  Atomics.notify(control, 0);
}
`;

/** Why a match did not finish; the caller decides what that means (a check: unhealthy). */
export class MatchAbandoned extends Error {}

const SLOT = Symbol.for('hactl.regex-match');
let test: Script | undefined;

/**
 * regex.test(text) on this thread, cut off by V8 after `timeoutMs` (vm's watchdog thread calls
 * TerminateExecution, which the regex engine honours): a one-shot process such as a spawned check
 * has nothing else for its thread to do meanwhile, and pays no worker start-up. Throws
 * MatchAbandoned when the time is up. A long-lived process, whose loop must keep turning, uses a
 * RegexMatcher instead.
 */
export function matchWithin(regex: RegExp, text: string, timeoutMs: number): boolean {
  const ms = Math.floor(timeoutMs);
  if (ms < 1) throw new MatchAbandoned('no time left to match');
  test ??= new Script(
    `globalThis[Symbol.for('hactl.regex-match')].regex.test(globalThis[Symbol.for('hactl.regex-match')].text)`,
  );
  const slots = globalThis as unknown as Record<symbol, unknown>;
  slots[SLOT] = { regex, text };
  try {
    return test.runInThisContext({ timeout: ms, breakOnSigint: false }) as boolean;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new MatchAbandoned(`gave up after ${ms} ms, at the end of the budget`);
    }
    throw error;
  } finally {
    delete slots[SLOT];
  }
}

export class RegexMatcher {
  private worker: Worker | undefined;
  // Fresh memory per worker: a terminated one may still write into its own for a moment.
  private control: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private busy = false;

  /** Starts the worker now (it takes a moment); match() would otherwise start it. */
  constructor() {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const shared = new SharedArrayBuffer(CONTROL_BYTES + MAX_TEXT_BYTES + MAX_PATTERN_BYTES);
    this.control = new Int32Array(shared, 0, 5);
    this.bytes = new Uint8Array(shared, CONTROL_BYTES);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: 'hactl-regex',
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32, stackSizeMb: 2 },
      workerData: { shared },
      stdin: false,
      trackUnmanagedFds: false,
    });
    worker.unref();
    worker.on('error', () => undefined);
    return worker;
  }

  /**
   * true/false as RegExp.prototype.test on `text` (UTF-8 bytes, at most MAX_TEXT_BYTES); rejects
   * with MatchAbandoned when the signal aborts first.
   */
  async match(regex: RegExp, text: Uint8Array, signal: AbortSignal): Promise<boolean> {
    if (this.busy) throw new Error('one match at a time');
    if (text.length > MAX_TEXT_BYTES) throw new RangeError(`text longer than ${MAX_TEXT_BYTES} bytes`);
    const encoder = new TextEncoder();
    const source = encoder.encode(regex.source);
    const flags = encoder.encode(regex.flags);
    if (source.length + flags.length > MAX_PATTERN_BYTES) {
      throw new RangeError(`pattern longer than ${MAX_PATTERN_BYTES} bytes`);
    }
    if (signal.aborted) throw new MatchAbandoned(reasonText(signal));
    const worker = (this.worker ??= this.spawn());
    const control = this.control;
    this.bytes.set(text, 0);
    this.bytes.set(source, text.length);
    this.bytes.set(flags, text.length + source.length);
    Atomics.store(control, 2, text.length);
    Atomics.store(control, 3, source.length);
    Atomics.store(control, 4, flags.length);
    Atomics.store(control, 0, POSTED);
    Atomics.notify(control, 0);
    this.busy = true;
    // Held while a match runs, so the process cannot end before the answer.
    worker.ref();
    try {
      const waited = waitAsync(control, 0, POSTED);
      const answered = waited.async ? waited.value : Promise.resolve(waited.value);
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_resolve, reject) => {
        onAbort = () => reject(new MatchAbandoned(reasonText(signal)));
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        await Promise.race([answered, aborted]);
      } catch (error) {
        // The only way to stop a runaway match; the next match starts a fresh worker.
        this.worker = undefined;
        void worker.terminate();
        throw error;
      } finally {
        signal.removeEventListener('abort', onAbort!);
      }
      const result = Atomics.load(control, 1);
      Atomics.store(control, 0, IDLE);
      if (result === 2) throw new Error('the regular expression could not run');
      return result === 1;
    } finally {
      this.busy = false;
      worker.unref();
    }
  }

  /** Ends the worker (a long-lived owner calls this on shutdown). */
  close(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    Atomics.store(this.control, 0, CLOSED);
    Atomics.notify(this.control, 0);
  }
}

// ES2024's Atomics.waitAsync (in Node since 16); the TypeScript lib here is ES2023.
type WaitResult = 'ok' | 'not-equal' | 'timed-out';
function waitAsync(
  array: Int32Array<ArrayBufferLike>,
  index: number,
  value: number,
): { async: true; value: Promise<WaitResult> } | { async: false; value: WaitResult } {
  return (Atomics as unknown as { waitAsync: typeof waitAsync }).waitAsync(array, index, value);
}

function reasonText(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : 'aborted';
}
