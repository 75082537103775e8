/**
 * The promotion guard's cases, shared by its own test (the pure verdict) and the decision core's
 * (the same facts as an observation, judged through decide()).
 */
import type { Lineage } from '../../src/cluster/lineage.js';
import type { PromotionFacts, ReplicaFacts } from '../../src/cluster/promotion-guard.js';

export const AT = '2026-11-29T10:00:00.000Z';

export function lineage(overrides: Partial<Lineage>): PromotionFacts['lineage'] {
  return {
    kind: 'ok',
    lineage: {
      node: 'ha1',
      primary: 'ha2',
      primaryPosition: '0-2-3000',
      following: true,
      diverged: [],
      reason: 'test',
      at: AT,
      ...overrides,
    },
  };
}

export const replicating: ReplicaFacts = {
  io: 'connecting',
  sqlRunning: true,
  lastIoErrno: 2003,
  lastIoError: "Can't connect to MySQL server on '192.0.2.12'",
  lastSqlErrno: 0,
  lastSqlError: '',
  source: '192.0.2.12:3306',
};

export type GuardCase = [name: string, facts: Partial<PromotionFacts>, reason: RegExp];

export const ALLOWED: GuardCase[] = [
  ['first promotion of a new pair', {}, /first promotion of this pair/],
  ['replica whose primary just vanished', { replica: replicating }, /replicating from 192\.0\.2\.12:3306/],
  [
    'follower that holds what the last primary had',
    { lineage: lineage({}), replica: replicating, coverage: { holds: true, missing: '' } },
    /following ha2, and it holds everything ha2 had/,
  ],
  [
    'the last primary itself',
    { lineage: lineage({ primary: 'ha1', following: false }) },
    /was the last primary/,
  ],
  [
    'a retry of its own promotion, interrupted after it drained and stopped replication',
    {
      lineage: lineage({ primary: 'ha1', following: false }),
      replica: { ...replicating, io: 'no', lastIoErrno: 0 },
    },
    /was the last primary/,
  ],
  [
    'IO thread stopped under strict semi-sync (the primary acknowledged nothing it did not send here)',
    { lineage: lineage({}), replica: { ...replicating, io: 'no', lastIoErrno: 0 }, strictSemiSync: true },
    /IO thread is stopped, but under strict semi-sync 192\.0\.2\.12:3306 acknowledged nothing/,
  ],
  [
    'SQL thread held back without an error (drain-first applies the relay log)',
    { replica: { ...replicating, sqlRunning: false } },
    /replicating from/,
  ],
];

export const REFUSED: GuardCase[] = [
  [
    'diverged from the last primary (errant GTID after crash recovery)',
    { lineage: lineage({ following: false, diverged: ['0-1-101'] }) },
    /diverged from ha2 .*holds 0-1-101, which ha2 never had/,
  ],
  [
    'last primary is the peer and this node does not replicate',
    { lineage: lineage({ following: false }) },
    /last knew ha2 as primary .* does not replicate from it/,
  ],
  [
    'replicating but lacking what the last primary had',
    { lineage: lineage({}), replica: replicating, coverage: { holds: false, missing: '0-2-3000' } },
    /lacks 0-2-3000, which ha2 had when last seen/,
  ],
  [
    'replication stopped by hand',
    { replica: { ...replicating, io: 'no', lastIoErrno: 0 } },
    /replication from .* is stopped/,
  ],
  [
    'strict semi-sync does not excuse a broken IO thread',
    { replica: { ...replicating, lastIoErrno: 1236, lastIoError: 'diverged' }, strictSemiSync: true },
    /broken \(IO error 1236: diverged\)/,
  ],
  [
    'IO thread refused by the primary (1236)',
    { replica: { ...replicating, lastIoErrno: 1236, lastIoError: 'could not find next log' } },
    /broken \(IO error 1236: could not find next log\)/,
  ],
  [
    'SQL thread stopped with an error',
    { replica: { ...replicating, sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' } },
    /SQL thread stopped with error 1062/,
  ],
  [
    'an unreadable lineage record',
    { lineage: { kind: 'unreadable', problem: 'not JSON' }, replica: replicating },
    /lineage record cannot be read \(not JSON\)/,
  ],
];
