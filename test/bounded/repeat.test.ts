import { describe, expect, it, vi } from 'vitest';
import { repeatEvery } from '../../src/bounded/repeat.js';

describe('repeatEvery', () => {
  it('never runs two rounds at once, and stop() returns only after the round in flight', async () => {
    vi.useFakeTimers();
    try {
      let running = 0;
      let overlapped = false;
      let finished = 0;
      const release: (() => void)[] = [];
      const round = async () => {
        running++;
        if (running > 1) overlapped = true;
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        finished++;
      };
      const rounds = repeatEvery(round, { everyMs: 100, from: 'start', onError: () => undefined });
      // The first round is slow: ten periods pass without a second one starting.
      await vi.advanceTimersByTimeAsync(1_000);
      expect(release).toHaveLength(1);
      release.shift()!();
      await vi.advanceTimersByTimeAsync(0);
      // It overran its period, so the next begins at once.
      expect(release).toHaveLength(1);
      let stopped = false;
      const stopping = rounds.stop().then(() => (stopped = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(stopped).toBe(false);
      release.shift()!();
      await stopping;
      await vi.advanceTimersByTimeAsync(1_000);
      expect({ overlapped, finished, pending: release.length }).toEqual({
        overlapped: false,
        finished: 2,
        pending: 0,
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps its rhythm after a round's error and reports it", async () => {
    vi.useFakeTimers();
    try {
      const errors: unknown[] = [];
      let calls = 0;
      const rounds = repeatEvery(
        () => {
          calls++;
          return calls === 1 ? Promise.reject(new Error('no answer')) : Promise.resolve();
        },
        { everyMs: 100, onError: (error) => errors.push(error) },
      );
      await vi.advanceTimersByTimeAsync(250);
      await rounds.stop();
      expect(calls).toBe(3);
      expect(errors.map((e) => (e as Error).message)).toEqual(['no answer']);
    } finally {
      vi.useRealTimers();
    }
  });
});
