/**
 * How the chaos runner places the ids the writer saw acknowledged (bench/chaos/faults.ts). An id is
 * "vanished" only when both nodes' tables were read and neither holds it: a table that could not be
 * read (the old primary's server killing every client session during a demotion, the runner's
 * included) proves nothing and must not turn async's price into a vanished write.
 */
import { describe, expect, it } from 'vitest';
import { idCounts, idRange, placeAcks } from '../../bench/chaos/faults.js';
import type { WriterAck } from '../../src/lab/writer.js';

const ack = (id: number, serverId = 1): WriterAck => ({
  id,
  sentAt: id,
  ackAt: id + 1,
  serverId,
  gtid: `0-${serverId}-${id}`,
  connectionId: 7,
  seq: id,
  affectedRows: 1,
});
const counts = (...ids: number[]) => new Map(ids.map((id) => [id, 1]));

describe('placing acknowledged ids at the end of a repetition', () => {
  const acks = [ack(1), ack(2), ack(3), ack(4, 2)];

  it('an id on neither of two read tables is vanished; one on the old primary is async’s price', () => {
    const placed = placeAcks(acks, counts(1, 2), counts(1, 2, 3));
    expect(placed.lost.map((a) => a.id)).toEqual([3, 4]);
    expect(placed.onOther.map((a) => a.id)).toEqual([3]);
    expect(placed.vanished.map((a) => a.id)).toEqual([4]);
    expect(placed.unplaced).toEqual([]);
  });

  it('an unreadable old primary leaves its lost ids unplaced, not vanished', () => {
    const placed = placeAcks(acks, counts(1, 2, 4), null);
    expect(placed.lost.map((a) => a.id)).toEqual([3]);
    expect(placed.onOther).toEqual([]);
    expect(placed.vanished).toEqual([]);
    expect(placed.unplaced.map((a) => a.id)).toEqual([3]);
  });

  it('an unreadable primary places what the other node holds and vanishes nothing', () => {
    const placed = placeAcks(acks, null, counts(1, 2, 3));
    expect(placed.lost).toHaveLength(4);
    expect(placed.onOther.map((a) => a.id)).toEqual([1, 2, 3]);
    expect(placed.vanished).toEqual([]);
    expect(placed.unplaced.map((a) => a.id)).toEqual([4]);
  });
});

describe('the id range counted', () => {
  it('covers every acknowledged id even when the sent count lags behind the acks read', () => {
    expect(idRange(100, 3, [ack(100), ack(104)])).toEqual([100, 104]);
    expect(idRange(100, 10, [ack(100)])).toEqual([100, 109]);
    expect(idRange(100, 0, [])).toEqual([100, 100]);
  });
});

describe('reading a node’s table', () => {
  it('tries again after a failed read (a demotion killed the session) and reports the last error', async () => {
    let calls = 0;
    const read = async () => (++calls < 2 ? 'Connection was killed' : counts(5));
    const ok = await idCounts(read, 3);
    expect(calls).toBe(2);
    expect(ok.error).toBeNull();
    expect(ok.failedReads).toEqual(['Connection was killed']);
    expect([...(ok.counts ?? new Map()).keys()]).toEqual([5]);

    calls = 0;
    const never = async () => {
      calls++;
      return 'connect ENOENT';
    };
    const failed = await idCounts(never, 2);
    expect(calls).toBe(2);
    expect(failed).toEqual({
      counts: null,
      error: 'connect ENOENT',
      failedReads: ['connect ENOENT', 'connect ENOENT'],
    });
  });
});
