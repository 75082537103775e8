// keepalived's fall/rise rule (vrrp_script without init_fail) as the agent applies it.
import { describe, expect, it } from 'vitest';
import { INITIAL, nextState, type FallRiseState } from '../../../src/agent/checks/fall-rise.js';

function replay(results: string, rule: { fall: number; rise: number }): string {
  let state: FallRiseState = INITIAL;
  let seen = '';
  for (const result of results) {
    state = nextState(state, result === '+', rule);
    seen += state.ok ? 'O' : 'K';
  }
  return seen;
}

describe('fall/rise', () => {
  it.each([
    // results (+ ok, - failed) → state after each (O OK, K KO)
    ['+--+---', { fall: 3, rise: 2 }, 'OOOOOOK'],
    ['-++-+++', { fall: 3, rise: 2 }, 'KKOOOOO'],
    ['-+-++', { fall: 1, rise: 2 }, 'KKKKO'],
    ['+-+-', { fall: 1, rise: 1 }, 'OKOK'],
  ])('%s with %o → %s', (results, rule, expected) => {
    expect(replay(results, rule)).toBe(expected);
  });

  it('counts in a row, and a result against the trend resets the other count', () => {
    const a = nextState(INITIAL, true, { fall: 2, rise: 2 });
    const b = nextState(a, false, { fall: 2, rise: 2 });
    expect(b).toEqual({ ok: true, successes: 0, failures: 1 });
    expect(nextState(b, true, { fall: 2, rise: 2 })).toEqual({ ok: true, successes: 1, failures: 0 });
  });
});
