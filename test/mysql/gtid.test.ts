import { describe, expect, it } from 'vitest';
import {
  binlogStateAt,
  describeExtra,
  extraTransactions,
  formatGtidList,
  gtidOfBinlogEvent,
  isExtra,
  parseGtidList,
  positionGaps,
  positionReached,
} from '../../src/mysql/gtid.js';

describe('MariaDB GTID positions', () => {
  it('parses and formats lists, empty and NULL included', () => {
    expect(parseGtidList('0-1-100, 1-2-18446744073709551615')).toEqual([
      { domain: 0, server: 1, seq: 100n },
      { domain: 1, server: 2, seq: 18446744073709551615n },
    ]);
    expect(parseGtidList('')).toEqual([]);
    expect(parseGtidList(null)).toEqual([]);
    expect(formatGtidList(parseGtidList('0-1-5,2-3-9'))).toBe('0-1-5,2-3-9');
    expect(() => parseGtidList('0-1')).toThrow(/not a MariaDB GTID/);
  });

  it('positionReached compares sequence numbers per domain (what MASTER_GTID_WAIT waits for)', () => {
    expect(positionReached(parseGtidList('0-2-105'), parseGtidList('0-1-100'))).toBe(true);
    expect(positionReached(parseGtidList('0-1-99'), parseGtidList('0-1-100'))).toBe(false);
    expect(positionReached(parseGtidList('0-1-100'), parseGtidList('0-1-100,1-1-3'))).toBe(false);
    expect(positionReached(parseGtidList('0-1-100,1-1-3'), parseGtidList(''))).toBe(true);
    expect(positionGaps(parseGtidList('0-1-10,1-1-3'), parseGtidList('0-1-12,1-1-2'))).toEqual([
      { domain: 0, server: 1, seq: 12n },
    ]);
  });

  it('extraTransactions compares binlog states per domain AND server (0-1-7 vs 0-2-7 differ)', () => {
    // Same sequence number, different servers: two different transactions.
    expect(extraTransactions(parseGtidList('0-1-7'), parseGtidList('0-2-7')).map(describeExtra)).toEqual([
      '0-1-7 (peer has nothing from server 1 in domain 0)',
    ]);
    // Crash recovery committed 0-1-101 on the old primary; the new primary only got 0-1-100.
    expect(
      extraTransactions(parseGtidList('0-1-101'), parseGtidList('0-1-100,0-2-150')).map(describeExtra),
    ).toEqual(['0-1-101 (peer has 0-1-100)']);
    // A replica that only ever replicated is contained in its primary.
    expect(extraTransactions(parseGtidList('0-1-100,0-2-40'), parseGtidList('0-1-180,0-2-40'))).toEqual([]);
    // An errant write on the standby (server 2) hidden behind later replicated events.
    expect(extraTransactions(parseGtidList('0-2-8,0-1-9'), parseGtidList('0-1-50'))).toHaveLength(1);
  });
});

describe('binlog events and the extra transactions they hold', () => {
  it('reads the GTID a Gtid event starts, and nothing from other events', () => {
    expect(gtidOfBinlogEvent({ Event_type: 'Gtid', Info: 'BEGIN GTID 0-2-173' })).toEqual({
      domain: 0,
      server: 2,
      seq: 173n,
    });
    expect(gtidOfBinlogEvent({ Event_type: 'Query', Info: 'BEGIN GTID 0-2-173' })).toBeUndefined();
    expect(gtidOfBinlogEvent({ Event_type: 'Gtid', Info: 'BEGIN' })).toBeUndefined();
  });

  it('counts as extra only what lies beyond the peer in the same domain and server', () => {
    const extras = extraTransactions(parseGtidList('0-1-10,0-2-5'), parseGtidList('0-1-8,0-2-5'));
    const at = (text: string) => isExtra(parseGtidList(text)[0]!, extras);
    expect(at('0-1-9')).toBe(true);
    expect(at('0-1-10')).toBe(true);
    expect(at('0-1-8')).toBe(false);
    expect(at('0-1-11')).toBe(false);
    expect(at('0-2-5')).toBe(false);
    expect(at('1-1-9')).toBe(false);
  });
});

describe('binlogStateAt: what a copy taken at a position may claim', () => {
  const at = (state: string, position: string) => {
    const { kept, dropped } = binlogStateAt(parseGtidList(state), parseGtidList(position));
    return { kept: formatGtidList(kept), dropped: formatGtidList(dropped) };
  };

  it('keeps a state the position covers', () => {
    expect(at('0-1-900,0-2-1280', '0-2-1280')).toEqual({ kept: '0-1-900,0-2-1280', dropped: '' });
  });

  it('drops what was logged after the copy (a commit still waiting for its ACK), and domains the copy lacks', () => {
    expect(at('0-2-1280,0-1-1282,5-7-3', '0-2-1280')).toEqual({
      kept: '0-2-1280',
      dropped: '0-1-1282,5-7-3',
    });
  });
});
