/**
 * When is a node cut off? A pure rule over what the witness monitor saw: a node that has heard
 * from neither any witness nor its peer for isolation_timeout, over at least two probe rounds
 * (one stalled round on a busy machine must not demote a healthy primary), is isolated. Any
 * answer from either ends it.
 */
export interface TargetHistory {
  /** When a target of this kind last answered (ms); undefined: not since the monitor started. */
  lastAnswerAt: number | undefined;
  /** Probe rounds in a row in which no target of this kind answered. */
  failedRounds: number;
}

export interface IsolationInput {
  witness: TargetHistory;
  peer: TargetHistory;
  /** When the monitor started (a node that never heard anything counts from there). */
  startedAt: number;
  now: number;
  timeoutMs: number;
}

export interface IsolationJudgement {
  isolated: boolean;
  reason: string;
}

export const MIN_FAILED_ROUNDS = 2;

const silentFor = (history: TargetHistory, input: IsolationInput) =>
  input.now - (history.lastAnswerAt ?? input.startedAt);

export function judgeIsolation(input: IsolationInput): IsolationJudgement {
  const answering = (['witness', 'peer'] as const).filter(
    (kind) => input[kind].failedRounds === 0 && input[kind].lastAnswerAt !== undefined,
  );
  if (answering.length > 0)
    return { isolated: false, reason: `the ${answering.join(' and the ')} answer(s)` };
  const lost = (['witness', 'peer'] as const).every(
    (kind) =>
      input[kind].failedRounds >= MIN_FAILED_ROUNDS && silentFor(input[kind], input) >= input.timeoutMs,
  );
  const silent = `witness silent ${silentFor(input.witness, input)} ms (${input.witness.failedRounds} rounds), peer silent ${silentFor(input.peer, input)} ms (${input.peer.failedRounds} rounds)`;
  return lost
    ? {
        isolated: true,
        reason: `neither a witness nor the peer answers: ${silent}, past ${input.timeoutMs} ms`,
      }
    : { isolated: false, reason: `not yet: ${silent}` };
}
