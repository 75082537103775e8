/**
 * A round of work repeated on a timer, never two rounds at once: the next is scheduled only when
 * the current one has settled, so a slow round (a database that does not answer within its
 * budget) delays the rhythm instead of piling rounds up. stop() waits for a round in flight, so
 * nothing the caller owns is touched after it returns.
 */
export interface Repeating {
  stop(): Promise<void>;
}

export interface RepeatOptions {
  /** Milliseconds between rounds. */
  everyMs: number;
  /**
   * 'end' (default): the pause is `everyMs` after each round ends. 'start': rounds begin `everyMs`
   * apart (a round that takes longer is followed at once).
   */
  from?: 'end' | 'start';
  /** A round's error: log it; the rhythm goes on. */
  onError: (error: unknown) => void;
}

/** Runs `round` now, then again as `options` say, until stop(). */
export function repeatEvery(round: () => Promise<void>, options: RepeatOptions): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const run = () => {
    const began = Date.now();
    inFlight = round()
      .catch(options.onError)
      .finally(() => {
        if (stopped) return;
        const pause = options.from === 'start' ? options.everyMs - (Date.now() - began) : options.everyMs;
        timer = setTimeout(run, Math.max(0, pause));
      });
  };
  run();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      clearTimeout(timer);
    },
  };
}
