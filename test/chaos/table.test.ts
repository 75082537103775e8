/**
 * The chaos table's "healthy after" note: a diverged old primary that its agent rebuilt (strict
 * semi-sync) is healthy after the repetition and must not be counted among those left out.
 */
import { describe, expect, it } from 'vitest';
import { divergedNote } from '../../bench/chaos/scenario.js';
import type { RepResult } from '../../bench/chaos/faults.js';

const rep = (healthy: boolean, diverged: string | null) => ({ healthy, diverged }) as RepResult;

describe('chaos table: diverged repetitions', () => {
  it('says nothing when no old primary diverged', () => {
    expect(divergedNote([rep(true, null), rep(false, null)])).toBe('');
  });

  it('separates the old primaries left out from those that rejoined by themselves', () => {
    expect(divergedNote([rep(false, '0-1-9'), rep(true, '0-2-5'), rep(true, '0-1-7'), rep(true, null)])).toBe(
      ' (1 diverged; 2 diverged, rejoined by itself)',
    );
    expect(divergedNote([rep(false, '0-1-9')])).toBe(' (1 diverged)');
  });
});
