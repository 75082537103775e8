/**
 * The decision core as Patroni's tests treat `_run_cycle`: build what the node sees with small
 * helpers, decide, and assert the plan and the sentence that explains it.
 */
import { describe, expect, it } from 'vitest';
import { actionLabel } from '../../src/actions/index.js';
import {
  decide,
  needsPromotionFacts,
  promotionOf,
  type Intent,
  type Plan,
} from '../../src/cluster/decide.js';
import type { LeaseFact, Observation, VrrpState } from '../../src/cluster/observation.js';
import type { Spec } from '../../src/spec/schema.js';
import { ALLOWED, lineage, REFUSED } from './guard-cases.js';
import {
  applied,
  database,
  DB,
  fromGuardFacts,
  NONE,
  observation,
  PLAIN,
  said,
  SPLIT,
  TID,
} from './support.js';

const labels = (plan: Plan) => plan.actions.map(actionLabel);

describe('decide: act on the present, not on the event (plain spec)', () => {
  it.each<[string, Partial<Observation>, Intent, VrrpState | undefined, string]>([
    ['MASTER with all VIPs', {}, {}, 'MASTER', 'holds all 2 VIPs'],
    [
      'BACKUP that arrives after MASTER while all VIPs are held',
      { keepalived: said('BACKUP') },
      {},
      'MASTER',
      'event says BACKUP but this node holds all 2 VIPs: it is MASTER now',
    ],
    [
      'the same from the FIFO',
      { keepalived: said('BACKUP', 'fifo') },
      {},
      'MASTER',
      'keepalived says BACKUP but this node holds all 2 VIPs: it is MASTER now',
    ],
    [
      'stale MASTER without VIPs',
      { vips: NONE, lastApplied: applied('BACKUP') },
      {},
      undefined,
      'stale MASTER event: this node holds none of the 2 VIPs',
    ],
    [
      'stale MASTER without VIPs at boot',
      { vips: NONE },
      {},
      undefined,
      'stale MASTER event: this node holds none of the 2 VIPs',
    ],
    [
      'a stale MASTER stays stale under --force (force repeats a state, it never invents one)',
      { vips: NONE },
      { force: true },
      undefined,
      'stale MASTER event: this node holds none of the 2 VIPs',
    ],
    [
      'MASTER without VIPs when MASTER was applied last: demote',
      { vips: NONE, lastApplied: applied('MASTER') },
      {},
      'BACKUP',
      'MASTER event, but this node holds none of the 2 VIPs while MASTER was applied last: demoting',
    ],
    [
      'BACKUP without VIPs',
      { vips: NONE, keepalived: said('BACKUP'), lastApplied: applied('MASTER') },
      {},
      'BACKUP',
      'holds none of the 2 VIPs',
    ],
    [
      'FAULT without VIPs',
      { vips: NONE, keepalived: said('FAULT') },
      {},
      'FAULT',
      'holds none of the 2 VIPs',
    ],
    [
      'STOP without VIPs',
      { vips: NONE, keepalived: said('STOP'), lastApplied: applied('BACKUP') },
      {},
      'STOP',
      'holds none of the 2 VIPs',
    ],
    [
      'split with a MASTER event: the safe side',
      { vips: SPLIT },
      {},
      'BACKUP',
      'split: holds 192.0.2.50 but not 198.51.100.50; applying BACKUP (a node without every VIP must not be primary)',
    ],
    [
      'split with a FAULT event',
      { vips: SPLIT, keepalived: said('FAULT') },
      {},
      'FAULT',
      'split: holds 192.0.2.50 but not 198.51.100.50; applying FAULT (a node without every VIP must not be primary)',
    ],
    [
      'split with a MASTER event that was applied as MASTER: still the safe side',
      { vips: SPLIT, lastApplied: applied('MASTER') },
      {},
      'BACKUP',
      'split: holds 192.0.2.50 but not 198.51.100.50; applying BACKUP (a node without every VIP must not be primary)',
    ],
    [
      'repeat of an applied MASTER',
      { lastApplied: applied('MASTER') },
      {},
      undefined,
      'MASTER is already applied (at then); holds all 2 VIPs; use --force to run its actions again',
    ],
    [
      'repeat of an applied BACKUP',
      { vips: NONE, keepalived: said('BACKUP'), lastApplied: applied('BACKUP') },
      {},
      undefined,
      'BACKUP is already applied (at then); holds none of the 2 VIPs; use --force to run its actions again',
    ],
    [
      'repeat of a MASTER whose run failed: retried',
      { lastApplied: applied('MASTER', false) },
      {},
      'MASTER',
      'holds all 2 VIPs',
    ],
    [
      '--force runs an applied state again',
      { lastApplied: applied('MASTER') },
      { force: true },
      'MASTER',
      'holds all 2 VIPs',
    ],
    [
      "keepalived's state unknown (an agent without a FIFO yet), all VIPs",
      { keepalived: undefined },
      {},
      'MASTER',
      'holds all 2 VIPs',
    ],
    [
      "keepalived's state unknown, no VIPs, MASTER applied last: demote",
      { keepalived: undefined, vips: NONE, lastApplied: applied('MASTER') },
      {},
      'BACKUP',
      'holds none of the 2 VIPs while MASTER was applied last: demoting',
    ],
    [
      "keepalived's state unknown, no VIPs, BACKUP applied last: nothing to do",
      { keepalived: undefined, vips: NONE, lastApplied: applied('BACKUP') },
      {},
      undefined,
      "holds none of the 2 VIPs and keepalived's state is unknown: nothing to change",
    ],
  ])('%s', (_title, seen, intent, target, reason) => {
    const plan = decide(observation(seen), PLAIN, intent);
    expect(plan.target).toBe(target);
    expect(plan.reason).toBe(reason);
    expect(plan.transitionId).toBe(TID);
    expect(plan.guards).toEqual([]);
    const expected = target === undefined ? [] : PLAIN.actions[target.toLowerCase() as keyof Spec['actions']];
    expect(plan.actions).toEqual(expected);
  });

  it('the plan is frozen and never aliases the spec', () => {
    const plan = decide(observation(), PLAIN, {});
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.actions)).toBe(true);
    expect(plan.actions).not.toBe(PLAIN.actions.master);
    expect(Object.isFrozen(PLAIN.actions.master)).toBe(false);
  });

  it('the same observation gives the same plan', () => {
    const seen = observation({ vips: SPLIT, lastApplied: applied('MASTER') });
    expect(decide(seen, PLAIN, {})).toEqual(decide(seen, PLAIN, {}));
  });
});

describe('decide: the promotion guard is a rule of the core (DB spec)', () => {
  // strictSemiSync comes from the spec, not from what the node observes.
  const specFor = (facts: { strictSemiSync?: boolean }): Spec =>
    facts.strictSemiSync ? { ...DB, mysql: { ...DB.mysql!, semi_sync: 'strict' } } : DB;

  it.each(ALLOWED)('allows: %s — the whole MASTER list runs', (_name, facts, reason) => {
    const { observation: seen, intent } = fromGuardFacts(facts);
    const plan = decide(seen, specFor(facts), intent);
    expect(plan.target).toBe('MASTER');
    expect(labels(plan)).toEqual(['command /usr/local/bin/fence-peer', 'mysql.promote', 'service start app']);
    expect(plan.reason).toMatch(/^holds all 2 VIPs; may promote: /);
    expect(plan.reason).toMatch(reason);
    expect(promotionOf(plan)?.verdict).toMatchObject({ allow: true, overridden: [] });
  });

  it.each(REFUSED)(
    'refuses: %s — MASTER refused, only mysql.promote runs, to hold read-only',
    (_name, facts, problem) => {
      const { observation: seen, intent } = fromGuardFacts(facts);
      const plan = decide(seen, specFor(facts), intent);
      expect(plan.target).toBe('MASTER');
      expect(labels(plan)).toEqual(['mysql.promote']);
      expect(plan.reason).toMatch(
        /^MASTER refused: stay read-only: this node cannot show it has every write the last primary acknowledged: /,
      );
      expect(plan.reason).toMatch(problem);
      expect(plan.reason).toMatch(/; way out: .*--accept-stale "<reason>"/);
      expect(promotionOf(plan)?.verdict.allow).toBe(false);
    },
  );

  it('the operator override (accept-stale) promotes, and the sentence names what it overrode', () => {
    const { observation: seen } = fromGuardFacts({
      lineage: lineage({ following: false, diverged: ['0-1-101'] }),
    });
    const plan = decide(seen, DB, { force: true, acceptStale: 'ha2 lost for good, ticket 4711' });
    expect(plan.target).toBe('MASTER');
    expect(labels(plan)).toHaveLength(3);
    expect(plan.reason).toMatch(
      /^holds all 2 VIPs; may promote: operator override \(ha2 lost for good, ticket 4711\): promoting although it diverged from ha2/,
    );
    expect(promotionOf(plan)?.verdict).toMatchObject({
      allow: true,
      overridden: [expect.stringMatching(/diverged from ha2/)],
    });
  });

  it('the override is not needed, and not reported, when the node is current', () => {
    const { observation: seen } = fromGuardFacts({});
    const plan = decide(seen, DB, { acceptStale: 'just in case' });
    expect(promotionOf(plan)?.verdict).toMatchObject({ allow: true, overridden: [] });
    expect(plan.reason).not.toMatch(/override/);
  });

  it.each<[string, Partial<Observation>, RegExp]>([
    [
      'an unreachable database',
      { lineage: { kind: 'none' }, database: { kind: 'unreachable', problem: 'connect ECONNREFUSED' } },
      /its database could not be observed \(connect ECONNREFUSED\)/,
    ],
    ['facts that were never observed', {}, /its database and lineage were not observed/],
  ])('%s cannot be judged: refused, and the override does not change that', (_name, seen, problem) => {
    for (const intent of [{}, { acceptStale: 'ticket 1' }]) {
      const plan = decide(observation(seen), DB, intent);
      expect(plan.target).toBe('MASTER');
      expect(labels(plan)).toEqual(['mysql.promote']);
      expect(plan.reason).toMatch(/^MASTER refused: stay read-only: this node cannot judge/);
      expect(plan.reason).toMatch(problem);
      expect(promotionOf(plan)?.verdict.allow).toBe(false);
    }
  });

  it('a node whose rebuild stopped half-way is refused whatever the override; the same node without the marker promotes', () => {
    const current = { lineage: { kind: 'none' as const }, database: database({ readOnly: true }) };
    expect(promotionOf(decide(observation(current), DB, {}))?.verdict.allow).toBe(true);
    const halfRebuilt = { ...current, database: database({ readOnly: true, rebuildUnfinished: true }) };
    for (const intent of [{}, { force: true, acceptStale: 'ticket 3' }]) {
      const plan = decide(observation(halfRebuilt), DB, intent);
      expect(plan.target).toBe('MASTER');
      expect(labels(plan)).toEqual(['mysql.promote']);
      expect(plan.reason).toMatch(
        /^MASTER refused: stay read-only: this node cannot be promoted: a rebuild stopped half-way here .*; way out: resume the rebuild/,
      );
      expect(promotionOf(plan)?.evidence).toMatchObject({ rebuild_unfinished: true });
    }
  });

  it('the evidence the step logs is what was observed', () => {
    const { observation: seen } = fromGuardFacts({
      lineage: lineage({}),
      coverage: { holds: false, missing: '0-2-3000' },
    });
    expect(promotionOf(decide(seen, DB, {}))?.evidence).toEqual({
      lineage: {
        primary: 'ha2',
        primary_position: '0-2-3000',
        following: true,
        diverged: [],
        at: '2026-11-29T10:00:00.000Z',
      },
      coverage: { holds: false, missing: '0-2-3000' },
    });
  });

  it('no guard where nothing is promoted: BACKUP, split, stale MASTER, or a MASTER list without mysql.promote', () => {
    for (const [spec, seen] of [
      [DB, { vips: NONE, keepalived: said('BACKUP') }],
      [DB, { vips: SPLIT }],
      [DB, { vips: NONE }],
      [PLAIN, {}],
    ] as const) {
      const plan = decide(observation(seen), spec, {});
      expect(promotionOf(plan)).toBeUndefined();
      expect(needsPromotionFacts(observation(seen), spec, {})).toBe(false);
    }
  });

  it.each<[string, Partial<Observation>, Intent, boolean]>([
    ['MASTER with every VIP', {}, {}, true],
    ['MASTER already applied', { lastApplied: applied('MASTER') }, {}, false],
    ['MASTER already applied, forced', { lastApplied: applied('MASTER') }, { force: true }, true],
    ['MASTER whose promotion failed last time', { lastApplied: applied('MASTER', false) }, {}, true],
    ['BACKUP event while holding every VIP (it is MASTER now)', { keepalived: said('BACKUP') }, {}, true],
  ])('needs the database and lineage: %s → %s', (_name, seen, intent, needed) => {
    expect(needsPromotionFacts(observation(seen), DB, intent)).toBe(needed);
  });

  it('a refused promotion is retried by the next event: a failed MASTER is not "already applied"', () => {
    const { observation: seen } = fromGuardFacts({ lineage: lineage({ following: false }) });
    const again = observation({ ...seen, lastApplied: applied('MASTER', false) });
    expect(decide(again, DB, {}).reason).toMatch(/^MASTER refused: stay read-only/);
  });

  it('a database that started writable is refused all the same (the step then makes it read-only)', () => {
    const plan = decide(
      observation({ lineage: lineage({ following: false }), database: database({ readOnly: false }) }),
      DB,
      {},
    );
    expect(plan.reason).toMatch(/does not replicate from it/);
    expect(labels(plan)).toEqual(['mysql.promote']);
  });
});

describe('decide: a lease, when observed, is one more rule', () => {
  const lease = (holder: string | null, validForMs: number): LeaseFact => ({
    holder,
    validForMs,
    store: 'etcd 192.0.2.30:2379 /hactl/t/leader',
  });

  it.each<[string, Partial<Observation>, VrrpState | undefined, string]>([
    [
      'MASTER holding the lease',
      { lease: lease('ha1', 4000) },
      'MASTER',
      'holds all 2 VIPs; holds the lease in etcd 192.0.2.30:2379 /hactl/t/leader (4.0 s left)',
    ],
    [
      'MASTER while the peer holds the lease: the safe side',
      { lease: lease('ha2', 2500) },
      'BACKUP',
      'MASTER refused: ha2 holds the lease in etcd 192.0.2.30:2379 /hactl/t/leader (2.5 s left); applying BACKUP (a node without the lease must not be primary)',
    ],
    [
      'MASTER while nobody holds the lease',
      { lease: lease(null, 0) },
      'BACKUP',
      'MASTER refused: the lease in etcd 192.0.2.30:2379 /hactl/t/leader is free and this node has not taken it; applying BACKUP (a node without the lease must not be primary)',
    ],
    [
      'MASTER on its own expired lease',
      { lease: lease('ha1', 0) },
      'BACKUP',
      'MASTER refused: the lease in etcd 192.0.2.30:2379 /hactl/t/leader expired (last held by ha1) and this node has not taken it; applying BACKUP (a node without the lease must not be primary)',
    ],
    [
      'the peer holds it and BACKUP is already applied: nothing to do',
      { lease: lease('ha2', 2500), lastApplied: applied('BACKUP') },
      undefined,
      'BACKUP is already applied (at then); MASTER refused: ha2 holds the lease in etcd 192.0.2.30:2379 /hactl/t/leader (2.5 s left); applying BACKUP (a node without the lease must not be primary); use --force to run its actions again',
    ],
    [
      'a BACKUP without VIPs is not the lease’s business',
      { lease: lease('ha2', 2500), vips: NONE, keepalived: said('BACKUP') },
      'BACKUP',
      'holds none of the 2 VIPs',
    ],
  ])('%s', (_name, seen, target, reason) => {
    const plan = decide(observation(seen), PLAIN, {});
    expect(plan.target).toBe(target);
    expect(plan.reason).toBe(reason);
  });

  it('without the lease no promotion is even considered: the database is not asked', () => {
    const seen = observation({ lease: lease('ha2', 2500) });
    expect(needsPromotionFacts(seen, DB, {})).toBe(false);
    const plan = decide(seen, DB, { force: true, acceptStale: 'ticket 2' });
    expect(plan.target).toBe('BACKUP');
    expect(labels(plan)).toEqual(['mysql.demote', 'service stop app']);
    expect(plan.guards).toEqual([
      { rule: 'lease', allow: false, reason: expect.stringMatching(/^ha2 holds/) },
    ]);
  });

  it('with the lease, the promotion guard still judges the data', () => {
    const { observation: seen } = fromGuardFacts({
      lineage: lineage({ following: false, diverged: ['0-1-7'] }),
    });
    const plan = decide(observation({ ...seen, lease: lease('ha1', 4000) }), DB, {});
    expect(plan.guards.map((g) => g.rule)).toEqual(['lease', 'promotion']);
    expect(plan.reason).toMatch(/^MASTER refused: stay read-only: .*diverged from ha2/);
  });
});

describe('decide, agent mode: a late notify hook never overrides the live agent (rule 0)', () => {
  const AGENT: Spec = { ...PLAIN, agent: { ...PLAIN.agent, enabled: true } };

  it('a FAULT hook is skipped while the agent says it is alive, and acts once the agent is dead or frozen', () => {
    const late = observation({ vips: NONE, keepalived: said('FAULT'), lastApplied: applied('BACKUP') });
    const alive = decide({ ...late, agentAlive: true }, AGENT, {});
    expect(alive.target).toBeUndefined();
    expect(alive.reason).toMatch(/agent is alive and applies keepalived's transitions itself/);
    expect(needsPromotionFacts({ ...late, agentAlive: true }, AGENT, {})).toBe(false);
    expect(decide({ ...late, agentAlive: false }, AGENT, {}).target).toBe('FAULT');
    expect(decide({ ...late, agentAlive: undefined }, AGENT, {}).target).toBe('FAULT');
  });

  it('the agent itself (FIFO lines), an operator --force and script mode are not deferred', () => {
    const fifo = observation({ vips: NONE, keepalived: said('FAULT', 'fifo'), agentAlive: true });
    expect(decide(fifo, AGENT, {}).target).toBe('FAULT');
    const hook = observation({ vips: NONE, keepalived: said('FAULT'), agentAlive: true });
    expect(decide(hook, AGENT, { force: true }).target).toBe('FAULT');
    expect(decide(hook, PLAIN, {}).target).toBe('FAULT');
  });
});
