// The primitives behind every budget, as a long-lived process (the agent) uses them: work raced
// against a deadline is abandoned and reported, not awaited; a runaway regex is cut off and the
// matcher still works afterwards; a flooding peer is cut off at the cap.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capReads, ReadLimitExceeded } from '../../src/bounded/capped-read.js';
import { raceDeadline } from '../../src/bounded/deadline.js';
import { MatchAbandoned, matchWithin, RegexMatcher } from '../../src/bounded/regex-match.js';
import { freePort } from '../support/ports.js';

/** Timer slack on a loaded 2-core machine. */
const SLACK_MS = 1000;

describe('raceDeadline', () => {
  const options = {
    reason: () => new Error('budget used up'),
    onTimeout: (why: unknown) => `gave up: ${(why as Error).message}`,
  };

  it('returns the work result when it comes in time', async () => {
    const result = await raceDeadline(async () => 'done', {
      ...options,
      deadlineMs: performance.now() + 5000,
    });
    expect(result).toBe('done');
  });

  it('aborts the work a grace before the deadline and abandons it at the deadline', async () => {
    let abortedAt = 0;
    const start = performance.now();
    const result = await raceDeadline(
      (signal) => {
        signal.addEventListener('abort', () => (abortedAt = performance.now()));
        return new Promise<string>(() => undefined); // ignores its signal and never settles
      },
      { ...options, deadlineMs: start + 300, graceMs: 100 },
    );
    const elapsed = performance.now() - start;
    expect(result).toBe('gave up: budget used up');
    // Timers never fire early; on a loaded machine they may fire late, but in order.
    expect(abortedAt - start).toBeGreaterThanOrEqual(195);
    expect(abortedAt - start).toBeLessThanOrEqual(elapsed);
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(300 + SLACK_MS);
  });

  it("the caller's signal abandons the work at once", async () => {
    const caller = new AbortController();
    const start = performance.now();
    setTimeout(() => caller.abort(new Error('shutting down')), 50);
    const result = await raceDeadline(() => new Promise<string>(() => undefined), {
      ...options,
      deadlineMs: start + 60_000,
      signal: caller.signal,
    });
    expect(result).toBe('gave up: shutting down');
    expect(performance.now() - start).toBeLessThan(50 + SLACK_MS);
  });

  it('a rejection in time propagates; a late one is swallowed', async () => {
    await expect(
      raceDeadline(async () => Promise.reject(new Error('config error')), {
        ...options,
        deadlineMs: performance.now() + 5000,
      }),
    ).rejects.toThrow('config error');
    const late = await raceDeadline(
      async () => {
        await sleep(200);
        throw new Error('too late to matter');
      },
      { ...options, deadlineMs: performance.now() + 50 },
    );
    expect(late).toBe('gave up: budget used up');
    await sleep(300); // an unhandled rejection would fail the run here
  });
});

describe('matchWithin', () => {
  it('matches with JavaScript semantics and cuts a catastrophic pattern off at its deadline', () => {
    expect(matchWithin(/HA[12]/i, 'hello from ha1', 1000)).toBe(true);
    expect(matchWithin(/(?<=from )ha3/, 'hello from ha1', 1000)).toBe(false);
    const start = performance.now();
    expect(() => matchWithin(/(x+x+)+y/, 'x'.repeat(64), 300)).toThrow(MatchAbandoned);
    expect(performance.now() - start).toBeGreaterThanOrEqual(290);
    expect(performance.now() - start).toBeLessThan(300 + SLACK_MS);
    // The thread carries on normally after V8 terminated the match.
    expect(matchWithin(/y$/, 'xxy', 1000)).toBe(true);
    expect(() => matchWithin(/x/, 'x', 0)).toThrow(MatchAbandoned);
  });
});

describe('RegexMatcher', () => {
  const text = (s: string) => new TextEncoder().encode(s);

  it('matches with JavaScript semantics, off the main thread, and is reusable', async () => {
    const matcher = new RegexMatcher();
    try {
      const signal = new AbortController().signal;
      expect(await matcher.match(/HA[12]/i, text('hello from ha1'), signal)).toBe(true);
      expect(await matcher.match(/(?<=from )ha3/, text('hello from ha1'), signal)).toBe(false);
      expect(await matcher.match(/ü+/u, text('grüüße'), signal)).toBe(true);
    } finally {
      matcher.close();
    }
  });

  it('a catastrophic pattern is cut off when the signal aborts, and the matcher keeps working', async () => {
    const matcher = new RegexMatcher();
    try {
      const start = performance.now();
      const attempt = matcher.match(/(x+x+)+y/, text('x'.repeat(64)), AbortSignal.timeout(300));
      await expect(attempt).rejects.toBeInstanceOf(MatchAbandoned);
      expect(performance.now() - start).toBeLessThan(300 + SLACK_MS);
      // The runaway worker was terminated; the next match gets a fresh one.
      expect(await matcher.match(/y$/, text('xxy'), new AbortController().signal)).toBe(true);
    } finally {
      matcher.close();
    }
  });
});

describe('capReads', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    server = createServer((socket) => {
      socket.on('error', () => undefined);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      // 32 MiB offered, far more than the cap; stops when the client goes away.
      let left = 512;
      const pump = () => {
        while (left-- > 0) if (!socket.write(chunk)) return void socket.once('drain', pump);
        socket.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('destroys the stream with ReadLimitExceeded once more than the cap arrived', async () => {
    const cap = 1024 * 1024;
    let read = 0;
    const socket: Socket = capReads(connect(port, '127.0.0.1'), cap);
    socket.on('data', (chunk: Buffer) => (read += chunk.length));
    const error = await new Promise<unknown>((resolve) => {
      socket.once('error', resolve);
      socket.once('end', () => resolve(undefined));
    });
    expect(error).toBeInstanceOf(ReadLimitExceeded);
    expect((error as ReadLimitExceeded).code).toBe('READ_LIMIT');
    expect(read).toBeGreaterThan(cap);
    expect(read).toBeLessThanOrEqual(cap + 64 * 1024);
  });
});
