import { describe, expect, it } from 'vitest';
import { unpromotableGate } from '../../src/cluster/unpromotable-gate.js';

describe('the unpromotable gate: a half-rebuilt node leaves the VIPs to its peer', () => {
  it.each([
    // rebuildUnfinished, holdsAnyVip, raised → value
    [false, false, false, 0],
    [false, true, false, 0],
    [false, true, true, 0],
    [false, false, true, 0],
    [true, false, false, 0],
    [true, true, false, 1],
    [true, false, true, 1],
    [true, true, true, 1],
  ] as const)(
    'unfinished rebuild %s, holds a VIP %s, raised before %s → %i',
    (rebuildUnfinished, holdsAnyVip, raised, value) => {
      const verdict = unpromotableGate({ rebuildUnfinished, holdsAnyVip, raised });
      expect(verdict.value).toBe(value);
      expect(verdict.reason.length).toBeGreaterThan(20);
    },
  );

  it('says why in each case', () => {
    expect(unpromotableGate({ rebuildUnfinished: true, holdsAnyVip: true, raised: false }).reason).toMatch(
      /holds VIPs while a rebuild is unfinished here: .* hands the VIPs to its peer \(FAULT\)/,
    );
    expect(unpromotableGate({ rebuildUnfinished: true, holdsAnyVip: false, raised: true }).reason).toMatch(
      /the VIPs stay with the peer until the rebuild is resumed and done/,
    );
    expect(unpromotableGate({ rebuildUnfinished: true, holdsAnyVip: false, raised: false }).reason).toMatch(
      /holds no VIP: it goes on as a standby/,
    );
  });
});
