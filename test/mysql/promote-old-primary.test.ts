/**
 * The fenced old primary's final state against this server's (pure): what a promotion would
 * discard. The real-pair refusal runs through the CLI in test/notify/mysql-notify.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { missingFromOldPrimary } from '../../src/mysql/promote.js';

describe('missingFromOldPrimary', () => {
  it('nothing when this server applied as far as the old primary logged', () => {
    expect(
      missingFromOldPrimary({
        oldState: '0-1-900,0-2-1280',
        hereState: '0-1-900,0-2-1280',
        herePosition: '0-2-1280',
        logsReplicated: true,
      }),
    ).toEqual([]);
  });

  it('names the domain position this server has not reached (the lost-writes case: a stale lineage, no replication)', () => {
    expect(
      missingFromOldPrimary({
        oldState: '0-1-12539,0-2-12552',
        hereState: '0-1-12539,0-2-12370',
        herePosition: '0-1-12539',
        logsReplicated: true,
      }),
    ).toEqual(['0-2-12552 (applied here: not that far)']);
  });

  it('without log_slave_updates the binlog state lacks what was replicated: only the position counts', () => {
    expect(
      missingFromOldPrimary({
        oldState: '0-1-500',
        hereState: '0-2-7',
        herePosition: '0-1-500',
        logsReplicated: false,
      }),
    ).toEqual([]);
  });

  it('with log_slave_updates, the same sequence number from another server is not the same transaction', () => {
    const missing = missingFromOldPrimary({
      oldState: '0-1-7',
      hereState: '0-2-7',
      herePosition: '0-2-7',
      logsReplicated: true,
    });
    expect(missing.join(' ')).toContain('0-1-7');
  });
});
