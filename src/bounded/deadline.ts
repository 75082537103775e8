/**
 * Racing work against a deadline, the primitive behind every time budget: the work gets an
 * AbortSignal that fires a little before the deadline (so it can close its sockets and say why),
 * and at the deadline the caller gets a result anyway: the work is abandoned, never awaited.
 * A spawned `hactl check` then reports and exits; a long-lived process (the agent) reports and
 * carries on. Deadlines are on the performance.now() clock (ms since the process started).
 */

export interface DeadlineOptions<T> {
  /** When to give up, on the performance.now() clock. */
  deadlineMs: number;
  /** Abort the work's signal this long before the deadline (default 0: at the deadline). */
  graceMs?: number;
  /** The caller's own signal (e.g. a shutdown): aborting it aborts the work and abandons it at once. */
  signal?: AbortSignal;
  /** Why the work's signal aborted, e.g. new Error('check budget of 0.8 s used up'). */
  reason: () => Error;
  /** The result when the work has not settled in time; `why` is the abort reason. */
  onTimeout: (why: unknown) => T;
}

/**
 * Resolves with the work's result, or with `onTimeout()` at the deadline (or when the caller's
 * signal aborts), whichever comes first. A rejection of the work propagates only if it comes in
 * time; a late one is swallowed (the caller has moved on).
 */
export function raceDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions<T>,
): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
      settle();
    };
    const giveUp = (why: unknown) => {
      if (!controller.signal.aborted) controller.abort(why);
      finish(() => {
        try {
          resolve(options.onTimeout(why));
        } catch (error) {
          reject(error);
        }
      });
    };
    const onCallerAbort = () => giveUp(options.signal!.reason);
    if (options.signal?.aborted) return onCallerAbort();
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });

    const left = options.deadlineMs - performance.now();
    const grace = Math.max(0, Math.min(options.graceMs ?? 0, left));
    timers.push(
      setTimeout(() => controller.abort(options.reason()), Math.max(0, left - grace)),
      setTimeout(() => giveUp(controller.signal.reason ?? options.reason()), Math.max(0, left)),
    );
    let started: Promise<T>;
    try {
      started = work(controller.signal);
    } catch (error) {
      started = Promise.reject(error);
    }
    started.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** Milliseconds left until `deadlineMs`, never negative. */
export function remainingMs(deadlineMs: number): number {
  return Math.max(0, deadlineMs - performance.now());
}
