// Which servers count as strict semi-sync: pure rules over the variables a server reports.
import { describe, expect, it } from 'vitest';
import { strictSemiSyncProblems } from '../../src/mysql/semi-sync.js';
import { strictPrimary } from '../support/semi-sync.js';

describe('strictSemiSyncProblems', () => {
  it('a strict primary and an acknowledging replica have none', () => {
    expect(strictSemiSyncProblems(strictPrimary(), 'primary')).toEqual([]);
    const replica = strictPrimary({ sourceEnabled: false, sourceActive: false, replicaActive: true });
    expect(strictSemiSyncProblems(replica, 'replica')).toEqual([]);
  });

  it("names MariaDB's AFTER_COMMIT default, a short timeout and a silent async fallback", () => {
    const problems = strictSemiSyncProblems(
      strictPrimary({ waitPoint: 'AFTER_COMMIT', timeoutMs: 10_000, sourceActive: false }),
      'primary',
    );
    expect(problems).toEqual([
      expect.stringContaining('wait_point is AFTER_COMMIT'),
      expect.stringContaining('timeout is 10000 ms'),
      expect.stringContaining('fallen back to async'),
    ]);
  });

  it('a primary that does not wait at all, or goes async with no replica', () => {
    expect(
      strictSemiSyncProblems(strictPrimary({ sourceEnabled: false, sourceActive: false }), 'primary'),
    ).toEqual([expect.stringContaining('rpl_semi_sync_master_enabled is OFF')]);
    expect(strictSemiSyncProblems(strictPrimary({ waitNoReplica: false }), 'primary')).toEqual([
      expect.stringContaining('wait_no_slave is OFF'),
    ]);
  });

  it('a standby still a semi-sync source, whose SQL thread would wait for ACKs nobody sends (issue 12)', () => {
    const replica = strictPrimary({ replicaActive: true });
    expect(strictSemiSyncProblems(replica, 'replica')).toEqual([
      expect.stringContaining('rpl_semi_sync_master_enabled is ON on a standby'),
    ]);
  });

  it('a replica that does not acknowledge, and any node that would not restart as a replica', () => {
    expect(
      strictSemiSyncProblems(strictPrimary({ replicaActive: false, sourceEnabled: false }), 'replica'),
    ).toEqual([expect.stringContaining('does not acknowledge')]);
    expect(strictSemiSyncProblems(strictPrimary({ replicaEnabled: false }), 'primary')).toEqual([
      expect.stringContaining('init_rpl_role=SLAVE'),
    ]);
  });
});
