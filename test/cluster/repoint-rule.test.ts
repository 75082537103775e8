/**
 * Rule 7 (src/cluster/repoint-rule.ts): a standby whose demotion gave up re-pointing is re-pointed
 * by the agent once the peer is writable — and never when it diverged, when the peer is not
 * writable, when it holds VIPs, or when it already replicates.
 */
import { describe, expect, it } from 'vitest';
import { actionLabel } from '../../src/actions/index.js';
import { decide, needsStandbyFacts, repointOf, type Plan } from '../../src/cluster/decide.js';
import type { Lineage } from '../../src/cluster/lineage.js';
import type { Observation, StandbyFacts } from '../../src/cluster/observation.js';
import type { ReplicaFacts } from '../../src/cluster/promotion-guard.js';
import type { Spec } from '../../src/spec/schema.js';
import { ALL, applied, DB, NONE, observation, said, SPLIT, TID } from './support.js';

/** DB's pair in agent mode with a replication account; FAULT demotes too. */
const AGENT: Spec = {
  ...DB,
  agent: { ...DB.agent, enabled: true },
  mysql: { ...DB.mysql!, replication_credentials_file: '/etc/hactl/repl.cnf' },
  actions: { ...DB.actions, fault: [{ type: 'mysql.demote' }] },
};
/** ha1's peer ha2 on the replication network (the first VIP's, inside). */
const PEER = '192.0.2.12:3306';

function replica(overrides: Partial<ReplicaFacts> = {}): ReplicaFacts {
  return {
    io: 'yes',
    sqlRunning: true,
    lastIoErrno: 0,
    lastIoError: '',
    lastSqlErrno: 0,
    lastSqlError: '',
    source: PEER,
    ...overrides,
  };
}

type PeerState = Extract<StandbyFacts, { kind: 'ok' }>['peerState'];

function standby(
  overrides: { readOnly?: boolean; replica?: ReplicaFacts | null; peerState?: Partial<PeerState> } = {},
): StandbyFacts {
  return {
    kind: 'ok',
    readOnly: overrides.readOnly ?? true,
    replica: overrides.replica === undefined ? null : overrides.replica,
    peer: { node: 'ha2', address: PEER },
    peerState: {
      kind: 'ok',
      writable: true,
      position: '0-2-40',
      extraHere: [],
      ...overrides.peerState,
    } as PeerState,
  };
}

const diverged: Lineage = {
  node: 'ha1',
  primary: 'ha2',
  primaryPosition: '0-2-40',
  following: false,
  diverged: ['0-1-12'],
  reason: 'diverged from ha2',
  at: '2026-11-29T09:00:00.000Z',
};

/** ha1 as a BACKUP whose demotion was applied: no VIP, keepalived says BACKUP. */
function backup(overrides: Partial<Observation> = {}): Observation {
  return observation({
    vips: NONE,
    keepalived: said('BACKUP', 'fifo'),
    lastApplied: applied('BACKUP'),
    lineage: { kind: 'none' },
    standby: standby(),
    ...overrides,
  });
}

const labels = (plan: Plan) => plan.actions.map(actionLabel);

describe('decide rule 7: re-point a standby that is not replicating, when safe', () => {
  it.each<[string, StandbyFacts, RegExp]>([
    ['it replicates from nobody', standby(), /it replicates from nobody/],
    [
      'it replicates from another host',
      standby({ replica: replica({ source: '192.0.2.99:3306' }) }),
      /replicates from 192\.0\.2\.99:3306, not from ha2/,
    ],
    [
      'its threads are stopped without a replication error',
      standby({ replica: replica({ io: 'no', sqlRunning: false }) }),
      /replication from 192\.0\.2\.12:3306 is stopped \(both threads, no replication error\)/,
    ],
    [
      'its IO thread gave up on a gone source (2003)',
      standby({
        replica: replica({ io: 'no', sqlRunning: false, lastIoErrno: 2003, lastIoError: "Can't connect" }),
      }),
      /is stopped/,
    ],
    [
      'its IO thread stopped on an error in transit (1595, the SQL thread still running)',
      standby({
        replica: replica({
          io: 'no',
          lastIoErrno: 1595,
          lastIoError: 'Relay log write failure: could not queue event from master',
        }),
      }),
      /IO thread stopped on error 1595 in transit/,
    ],
  ])('%s: runs BACKUP’s mysql.demote only, with the tick’s id', (_, facts, why) => {
    const plan = decide(backup({ standby: facts }), AGENT, {});
    expect(plan.target).toBe('BACKUP');
    expect(labels(plan)).toEqual(['mysql.demote']);
    expect(plan.transitionId).toBe(TID);
    expect(plan.reason).toMatch(why);
    expect(plan.reason).toMatch(/ha2 is writable and holds everything this node logged: re-pointing/);
    expect(repointOf(plan)?.allow).toBe(true);
  });

  it('a FAULT node re-points with its FAULT list’s mysql.demote', () => {
    const plan = decide(
      backup({ keepalived: said('FAULT', 'fifo'), lastApplied: applied('FAULT') }),
      AGENT,
      {},
    );
    expect(plan.target).toBe('FAULT');
    expect(labels(plan)).toEqual(['mysql.demote']);
  });
});

describe('decide rule 7: never re-points when it is not safe', () => {
  it.each<[string, Partial<Observation>, RegExp]>([
    [
      'the lineage record says it diverged',
      { lineage: { kind: 'ok', lineage: diverged } },
      /it diverged from ha2 .*0-1-12.*not re-pointed, a human must reconcile/,
    ],
    [
      'it holds transactions the writable peer lacks',
      { standby: standby({ peerState: { extraHere: ['0-1-12 (peer has 0-1-11)'] } }) },
      /holds 0-1-12 \(peer has 0-1-11\), which ha2 lacks: diverged, not re-pointed/,
    ],
    [
      'the lineage record cannot be read',
      { lineage: { kind: 'unreadable', problem: 'bad json' } },
      /lineage record cannot be read \(bad json\): not re-pointed/,
    ],
    [
      'the peer is read-only',
      { standby: standby({ peerState: { writable: false } }) },
      /ha2 is read-only, not a primary yet: waiting/,
    ],
    [
      'the peer cannot be read',
      { standby: standby({ peerState: { kind: 'unreachable', problem: 'ECONNREFUSED' } }) },
      /ha2 cannot be read \(ECONNREFUSED\): waiting/,
    ],
    [
      'its replication stopped on a GTID error (1236)',
      {
        standby: standby({
          replica: replica({ io: 'no', lastIoErrno: 1236, lastIoError: 'could not find GTID state' }),
        }),
      },
      /IO thread reports error 1236.*not re-pointed \(a human must look/,
    ],
    [
      'its SQL thread stopped with an error',
      {
        standby: standby({
          replica: replica({ sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'dup' }),
        }),
      },
      /SQL thread stopped with error 1062/,
    ],
    [
      'its own database is writable',
      { standby: standby({ readOnly: false }) },
      /the local database is writable although this node is a standby/,
    ],
  ])('%s: nothing applied, the reason said', (_, overrides, why) => {
    const plan = decide(backup(overrides), AGENT, {});
    expect(plan.target).toBeUndefined();
    expect(plan.actions).toEqual([]);
    expect(plan.reason).toMatch(why);
    expect(repointOf(plan)?.allow).toBe(false);
  });

  it.each<[string, ReplicaFacts]>([
    ['both threads running', replica()],
    ['IO thread reconnecting to a restarting peer', replica({ io: 'connecting', lastIoErrno: 2003 })],
    ['only its SQL thread held (STOP SLAVE SQL_THREAD)', replica({ sqlRunning: false })],
    ['only its IO thread held (STOP SLAVE IO_THREAD)', replica({ io: 'no' })],
  ])(
    'replicating from the peer, or one thread held on purpose (%s): nothing to do, nothing said',
    (_, facts) => {
      const plan = decide(backup({ standby: standby({ replica: facts }) }), AGENT, {});
      expect(plan.target).toBeUndefined();
      expect(repointOf(plan)).toBeUndefined();
      expect(plan.reason).toMatch(/BACKUP is already applied/);
    },
  );

  it('a node holding VIPs is never re-pointed (some: split, all: it is MASTER)', () => {
    const split = backup({ vips: SPLIT });
    expect(needsStandbyFacts(split, AGENT, {})).toBe(false);
    const plan = decide(split, AGENT, {});
    expect(plan.target).toBeUndefined();
    expect(repointOf(plan)).toBeUndefined();
    const master = decide(backup({ vips: ALL }), AGENT, {});
    expect(master.target).toBe('MASTER');
    expect(repointOf(master)).toBeUndefined();
  });

  it('script mode, a failed demotion (retried by rule 3), and an unobserved standby are left alone', () => {
    const script: Spec = { ...AGENT, agent: { ...AGENT.agent, enabled: false } };
    expect(needsStandbyFacts(backup(), script, {})).toBe(false);
    expect(decide(backup(), script, {}).target).toBeUndefined();
    const failed = backup({ lastApplied: applied('BACKUP', false) });
    expect(needsStandbyFacts(failed, AGENT, {})).toBe(false);
    // The whole BACKUP list runs again: the ordinary retry, not this rule.
    expect(labels(decide(failed, AGENT, {}))).toEqual(['mysql.demote', 'service stop app']);
    const unseen = decide(backup({ standby: undefined }), AGENT, {});
    expect(unseen.target).toBeUndefined();
    expect(repointOf(unseen)).toBeUndefined();
    expect(needsStandbyFacts(backup(), AGENT, {})).toBe(true);
  });
  describe('under strict semi-sync (the agent judges a rejoin by rebuild)', () => {
    const STRICT: Spec = { ...AGENT, mysql: { ...AGENT.mysql!, semi_sync: 'strict' } };
    const stopped = replica({ io: 'no', sqlRunning: false });

    it('a divergence no demotion recorded: mysql.demote again, which records it', () => {
      const plan = decide(
        backup({
          standby: standby({ replica: stopped, peerState: { extraHere: ['0-1-12 (peer has 0-1-11)'] } }),
        }),
        STRICT,
        {},
      );
      expect(labels(plan)).toEqual(['mysql.demote']);
      expect(repointOf(plan)?.allow).toBe(true);
      expect(plan.reason).toMatch(
        /no demotion recorded that: BACKUP's mysql.demote again, which records the divergence/,
      );
    });

    it('a recorded divergence: not re-pointed, flagged for the rejoin, and the sentence says the agent judges it', () => {
      const plan = decide(
        backup({ lineage: { kind: 'ok', lineage: diverged }, standby: standby({ replica: stopped }) }),
        STRICT,
        {},
      );
      expect(plan.target).toBeUndefined();
      expect(repointOf(plan)).toMatchObject({ allow: false, diverged: true });
      expect(plan.reason).toMatch(/not re-pointed; strict semi-sync: the agent judges a rejoin by rebuild/);
    });

    it('without strict the divergence is flagged too, and left to a human', () => {
      const plan = decide(
        backup({ standby: standby({ replica: stopped, peerState: { extraHere: ['0-1-12'] } }) }),
        AGENT,
        {},
      );
      expect(repointOf(plan)).toMatchObject({ allow: false, diverged: true });
      expect(plan.reason).toMatch(/a human must reconcile \(hactl rebuild\)/);
    });
  });
});
