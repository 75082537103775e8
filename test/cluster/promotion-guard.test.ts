import { describe, expect, it } from 'vitest';
import { promotionVerdict, type PromotionFacts } from '../../src/cluster/promotion-guard.js';
import { ALLOWED, lineage, REFUSED } from './guard-cases.js';

function facts(overrides: Partial<PromotionFacts>): PromotionFacts {
  return {
    self: 'ha1',
    lineage: { kind: 'none' },
    replica: null,
    coverage: undefined,
    acceptStale: undefined,
    ...overrides,
  };
}

describe('promotionVerdict', () => {
  it.each(ALLOWED)('allows: %s', (_name, overrides, reason) => {
    const verdict = promotionVerdict(facts(overrides));
    expect(verdict).toMatchObject({ allow: true, overridden: [] });
    expect(verdict.reason).toMatch(reason);
  });

  it.each(REFUSED)('refuses: %s', (_name, overrides, problem) => {
    const verdict = promotionVerdict(facts(overrides));
    expect(verdict.allow).toBe(false);
    if (verdict.allow) return;
    expect(verdict.reason).toMatch(problem);
    expect(verdict.problems.length).toBeGreaterThan(0);
    expect(verdict.wayOut).toMatch(/--accept-stale/);
  });

  it('an explicit operator override promotes and names every problem it overrode', () => {
    const verdict = promotionVerdict(
      facts({
        lineage: lineage({ following: false, diverged: ['0-1-101'] }),
        acceptStale: 'ha2 is gone, ticket 1',
      }),
    );
    expect(verdict.allow).toBe(true);
    expect(verdict.reason).toMatch(
      /^operator override \(ha2 is gone, ticket 1\): promoting although it diverged/,
    );
    expect(verdict).toMatchObject({ overridden: [expect.stringMatching(/diverged from ha2/)] });
  });
});
