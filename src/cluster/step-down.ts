/**
 * A planned switchover's rule: while the primary hands over (src/switchover/), it must not be
 * writable although it may still hold every VIP, so MASTER becomes BACKUP — the BACKUP actions
 * (mysql.demote: read-only, every client session ended) run through the same apply as any other
 * transition. Once keepalived has moved the VIPs the intent is lifted and the normal rules judge.
 */
import type { VrrpState } from './observation.js';

export interface StepDownStep<G> {
  target: VrrpState | undefined;
  reason: string;
  guards: G[];
}

export function stepDownRule<G>(step: StepDownStep<G>, stepDown: string | undefined): StepDownStep<G> {
  if (stepDown === undefined || step.target !== 'MASTER') return step;
  return {
    target: 'BACKUP',
    reason: `${stepDown}: applying BACKUP (read-only, sessions ended) although it ${step.reason}`,
    guards: step.guards,
  };
}
