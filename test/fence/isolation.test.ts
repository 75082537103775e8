/** When a node counts as cut off (src/fence/isolation.ts): both the witness and the peer silent. */
import { describe, expect, it } from 'vitest';
import { judgeIsolation, type IsolationInput } from '../../src/fence/isolation.js';

const input = (overrides: Partial<IsolationInput>): IsolationInput => ({
  witness: { lastAnswerAt: 0, failedRounds: 0 },
  peer: { lastAnswerAt: 0, failedRounds: 0 },
  startedAt: 0,
  now: 10_000,
  timeoutMs: 2_000,
  ...overrides,
});

describe('judgeIsolation', () => {
  it('both silent past the timeout over two rounds: isolated', () => {
    const j = judgeIsolation(
      input({
        witness: { lastAnswerAt: 7_000, failedRounds: 3 },
        peer: { lastAnswerAt: 7_500, failedRounds: 2 },
      }),
    );
    expect(j.isolated).toBe(true);
    expect(j.reason).toMatch(/neither a witness nor the peer answers/);
  });

  it('the peer alone answering (witness gone) is not isolation', () => {
    expect(judgeIsolation(input({ witness: { lastAnswerAt: 1_000, failedRounds: 9 } })).isolated).toBe(false);
  });

  it('the witness alone answering (peer dead: node loss) is not isolation', () => {
    expect(judgeIsolation(input({ peer: { lastAnswerAt: 1_000, failedRounds: 9 } })).isolated).toBe(false);
  });

  it('one stalled round, even a long one, is not enough', () => {
    expect(
      judgeIsolation(
        input({
          witness: { lastAnswerAt: 1_000, failedRounds: 1 },
          peer: { lastAnswerAt: 1_000, failedRounds: 1 },
        }),
      ).isolated,
    ).toBe(false);
  });

  it('within the timeout it is not yet isolation', () => {
    expect(
      judgeIsolation(
        input({
          witness: { lastAnswerAt: 8_500, failedRounds: 4 },
          peer: { lastAnswerAt: 8_500, failedRounds: 4 },
        }),
      ).isolated,
    ).toBe(false);
  });

  it('a node that never heard anything counts from its start', () => {
    const never = { lastAnswerAt: undefined, failedRounds: 5 };
    expect(judgeIsolation(input({ witness: never, peer: never, startedAt: 9_000 })).isolated).toBe(false);
    expect(judgeIsolation(input({ witness: never, peer: never, startedAt: 7_000 })).isolated).toBe(true);
  });
});
