/**
 * A check of an application that runs only on the MASTER (seed 002: started on promotion, stopped
 * on demotion). On a standby it would fail by construction, so it counts only once this node's
 * last applied state — the record hactl notify and the agent write after a transition's actions —
 * is MASTER: the promotion has run, so the application had its chance to start. Otherwise the check
 * is not run and reports healthy, saying why.
 */
import { readAppliedState } from '../cluster/applied-state.js';
import type { CheckKind, CheckResult } from './types.js';

/** A few bytes from tmpfs; a record not read in time leaves the state unknown (not counted). */
const STATE_READ_MS = 200;

export async function masterOnlyGate(
  stateFile: string,
  signal: AbortSignal,
): Promise<CheckResult | undefined> {
  const applied = await readAppliedState(
    stateFile,
    AbortSignal.any([signal, AbortSignal.timeout(STATE_READ_MS)]),
  );
  if (applied?.state === 'MASTER') return undefined;
  const where = applied
    ? `this node's last applied state is ${applied.state}`
    : 'no transition has been applied here yet';
  return { healthy: true, detail: `not counted: ${where}, and the check counts only on the MASTER` };
}

/** `check`, run only while `stateFile` says MASTER. */
export function onlyWhileMaster<O>(check: CheckKind<O>, stateFile: string): CheckKind<O> {
  return {
    ...check,
    async run(options, signal, abortAtMs) {
      return (await masterOnlyGate(stateFile, signal)) ?? check.run(options, signal, abortAtMs);
    },
  };
}
