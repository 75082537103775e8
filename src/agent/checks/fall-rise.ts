/**
 * keepalived's fall/rise rule for a vrrp_script, as a pure function so the agent's checks mean the
 * same as the scripts they replace: the first result decides (no `init_fail`); after that an OK
 * check turns KO after `fall` failures in a row and a KO check turns OK after `rise` successes in
 * a row. A result against the trend resets the other count.
 */

export interface FallRiseState {
  /** After fall/rise; null until the first result. */
  ok: boolean | null;
  /** Successes in a row (0 after a failure). */
  successes: number;
  /** Failures in a row (0 after a success). */
  failures: number;
}

export const INITIAL: FallRiseState = { ok: null, successes: 0, failures: 0 };

export function nextState(
  state: FallRiseState,
  healthy: boolean,
  rule: { fall: number; rise: number },
): FallRiseState {
  const successes = healthy ? state.successes + 1 : 0;
  const failures = healthy ? 0 : state.failures + 1;
  let ok = state.ok;
  if (ok === null) ok = healthy;
  else if (ok && failures >= rule.fall) ok = false;
  else if (!ok && successes >= rule.rise) ok = true;
  return { ok, successes, failures };
}
