/**
 * Gathering an observation: a frozen snapshot, every source bounded in time, and the facts that
 * cost a round trip (database, lineage) asked for only when a promotion is in view.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appliedStatePath } from '../../src/cluster/applied-state.js';
import { decide } from '../../src/cluster/decide.js';
import type { LineageRead } from '../../src/cluster/lineage.js';
import type { DatabaseFacts, LeaseFact } from '../../src/cluster/observation.js';
import {
  DEFAULT_BUDGETS,
  localSources,
  newTransitionId,
  observe,
  type ObservationSources,
} from '../../src/cluster/observe.js';
import { vipHolding } from '../../src/cluster/vips.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';
import { applied, database, DB, PLAIN, said } from './support.js';

const node = DB.nodes[0]!;
const BOTH = new Set(['192.0.2.50', '198.51.100.50']);
const never = <T>() => new Promise<T>(() => undefined);

interface Calls {
  database: number;
  lineage: number;
  lineageSeenByDatabase: LineageRead[];
}

function fakeSources(
  overrides: Partial<ObservationSources> & { addresses?: () => ReadonlySet<string> } = {},
): ObservationSources & { calls: Calls } {
  const calls: Calls = { database: 0, lineage: 0, lineageSeenByDatabase: [] };
  return {
    calls,
    addresses: () => BOTH,
    appliedState: () => Promise.resolve(undefined),
    lineage: () => {
      calls.lineage++;
      return Promise.resolve({ kind: 'none' });
    },
    database: (_spec, _node, lineage) => {
      calls.database++;
      calls.lineageSeenByDatabase.push(lineage);
      return Promise.resolve(database());
    },
    ...overrides,
  };
}

const request = (state: 'MASTER' | 'BACKUP' = 'MASTER', intent = {}) => ({
  transitionId: 't-1',
  keepalived: said(state),
  intent,
});

describe('observe', () => {
  it('returns a deeply frozen snapshot', async () => {
    const seen = await observe(DB, node, request(), fakeSources());
    expect(Object.isFrozen(seen)).toBe(true);
    expect(Object.isFrozen(seen.vips.held)).toBe(true);
    expect(Object.isFrozen(seen.keepalived)).toBe(true);
    expect(Object.isFrozen(seen.database)).toBe(true);
    expect(() => (seen.vips.held as string[]).push('203.0.113.9')).toThrow(TypeError);
    expect(seen).toMatchObject({ transitionId: 't-1', node: 'ha1', vips: { held: [...BOTH], missing: [] } });
  });

  it('asks the database (after the lineage, which it passes on) only when the plan would promote', async () => {
    const promoting = fakeSources({
      lineage: () => Promise.resolve({ kind: 'unreadable', problem: 'x' }),
    });
    const seen = await observe(DB, node, request(), promoting);
    expect(promoting.calls.database).toBe(1);
    expect(promoting.calls.lineageSeenByDatabase).toEqual([{ kind: 'unreadable', problem: 'x' }]);
    expect(seen.database).toEqual(database());

    for (const [spec, state, sources] of [
      [DB, 'BACKUP', fakeSources({ addresses: () => new Set<string>() })],
      [DB, 'MASTER', fakeSources({ addresses: () => new Set(['192.0.2.50']) })],
      [DB, 'MASTER', fakeSources({ appliedState: () => Promise.resolve(applied('MASTER')) })],
      [PLAIN, 'MASTER', fakeSources()],
    ] as const) {
      const quiet = await observe(spec, node, request(state), sources);
      expect(sources.calls).toMatchObject({ database: 0, lineage: 0 });
      expect(quiet.database).toBeUndefined();
      expect(quiet.lineage).toBeUndefined();
    }
  });

  it("'always' gathers the promotion facts even when nothing would be promoted (for a status report)", async () => {
    const sources = fakeSources({ addresses: () => new Set<string>() });
    await observe(DB, node, { ...request('BACKUP'), promotionFacts: 'always' }, sources);
    expect(sources.calls).toMatchObject({ database: 1, lineage: 1 });
  });

  it('a source that never answers costs its budget, not a hang, and counts as unknown', async () => {
    const budgets = { appliedStateMs: 100, lineageMs: 100, databaseMs: 150, leaseMs: 100 };
    const hanging = fakeSources({
      appliedState: () => never(),
      lineage: () => never(),
      database: () => never(),
      lease: () => never(),
    });
    const t0 = performance.now();
    const seen = await observe(DB, node, request(), hanging, budgets);
    const took = performance.now() - t0;
    // Applied state and lease in parallel; upper bounds leave room for a loaded machine.
    expect(took).toBeGreaterThanOrEqual(95);
    expect(took).toBeLessThan(2_000);
    expect(seen.lastApplied).toBeUndefined();
    expect(seen.lease).toEqual({
      holder: null,
      validForMs: 0,
      store: 'the lease store (unknown: no answer within 100 ms)',
    });
    // Nobody holds the lease, so no promotion is in view: lineage and database are not asked.
    expect(seen.database).toBeUndefined();

    const noLease = { ...hanging, lease: undefined };
    const t1 = performance.now();
    const promoting = await observe(DB, node, request(), noLease, budgets);
    const tookAll = performance.now() - t1;
    // Applied state, then lineage, then database: each costs its own budget and no more.
    expect(tookAll).toBeGreaterThanOrEqual(340);
    expect(tookAll).toBeLessThan(3_000);
    expect(promoting.lineage).toEqual({
      kind: 'unreadable',
      problem: 'the lineage record was not read: no answer within 100 ms',
    });
    expect(promoting.database).toEqual({ kind: 'unreachable', problem: 'no answer within 150 ms' });
    expect(decide(promoting, DB, {}).reason).toMatch(
      /^MASTER refused: stay read-only: .*its database could not be observed \(no answer within 150 ms\)/,
    );
  }, 10_000);

  it('a source that fails is unknown with its reason; the signal it was given aborts at its budget', async () => {
    let aborted: AbortSignal | undefined;
    const sources = fakeSources({
      database: (_s, _n, _l, signal) => {
        aborted = signal;
        return never<DatabaseFacts>();
      },
      lineage: () => Promise.reject(new Error('EACCES: permission denied')),
    });
    const seen = await observe(DB, node, request(), sources, { ...DEFAULT_BUDGETS, databaseMs: 50 });
    expect(seen.lineage).toEqual({
      kind: 'unreadable',
      problem: 'the lineage record was not read: EACCES: permission denied',
    });
    expect(aborted?.aborted).toBe(true);
  }, 10_000);

  it('a lease source is one more observation: present, it reaches the rules', async () => {
    const lease: LeaseFact = { holder: 'ha2', validForMs: 3000, store: 'etcd test' };
    const sources = fakeSources({ lease: () => Promise.resolve(lease) });
    const seen = await observe(DB, node, request(), sources);
    expect(seen.lease).toEqual(lease);
    expect(sources.calls.database).toBe(0);
    expect(decide(seen, DB, {}).target).toBe('BACKUP');
  });

  it('newTransitionId: node, UTC second, 4 hex digits; two ids in the same second differ (almost always)', () => {
    const at = new Date('2026-11-29T10:00:00.123Z');
    expect(newTransitionId('ha1', at)).toMatch(/^ha1-20261129T100000Z-[0-9a-f]{4}$/);
    const ids = new Set(Array.from({ length: 20 }, () => newTransitionId('ha1', at)));
    expect(ids.size).toBeGreaterThan(15);
  });
});

describe('the local sources', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('read the applied-state record from the runtime dir, and nothing from a missing one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-observe-'));
    const spec = parseSpecText(
      baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }\n`),
      't.yaml',
    );
    const self = spec.nodes[0]!;
    const signal = AbortSignal.timeout(5000);
    expect(await localSources.appliedState(spec, self, signal)).toBeUndefined();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'run'));
    writeFileSync(
      appliedStatePath(join(dir, 'run'), 'ha1'),
      JSON.stringify({ state: 'BACKUP', ok: true, at: 'x', event: 'backup', transition_id: 'ha1-1' }),
    );
    expect(await localSources.appliedState(spec, self, signal)).toEqual({
      state: 'BACKUP',
      ok: true,
      at: 'x',
      event: 'backup',
      transitionId: 'ha1-1',
    });
    writeFileSync(appliedStatePath(join(dir, 'run'), 'ha1'), '{"state":"PRIMARY","ok":true}');
    expect(await localSources.appliedState(spec, self, signal)).toBeUndefined();
  });

  it('refuse a runtime dir under /proc without touching it', async () => {
    const spec = parseSpecText(baseSpecYaml('paths: { runtime_dir: /proc/self/hactl }\n'), 't.yaml');
    expect(await localSources.appliedState(spec, spec.nodes[0]!, AbortSignal.timeout(5000))).toBeUndefined();
  });

  it('vipHolding compares the VIP addresses without prefix against the local ones', () => {
    const spec = parseSpecText(baseSpecYaml(), 't.yaml');
    expect(vipHolding(spec, new Set(['127.0.0.1', '192.0.2.50']))).toEqual({
      held: ['192.0.2.50'],
      missing: [],
    });
    expect(vipHolding(spec, new Set(['192.0.2.5']))).toEqual({ held: [], missing: ['192.0.2.50'] });
  });
});

describe('observe: the standby facts of rule 7', () => {
  const AGENT = {
    ...DB,
    agent: { ...DB.agent, enabled: true },
    mysql: { ...DB.mysql!, replication_credentials_file: '/etc/hactl/repl.cnf' },
  };
  const standbySources = (standby: ObservationSources['standby']) => {
    let asked = 0;
    const sources = fakeSources({
      addresses: () => new Set<string>(),
      appliedState: () => Promise.resolve(applied('BACKUP')),
      standby: (...args) => {
        asked++;
        return standby!(...args);
      },
    });
    return { sources, asked: () => asked };
  };
  const facts = () => Promise.resolve({ kind: 'unreachable' as const, problem: 'test' });
  const backup = { transitionId: 't-2', keepalived: said('BACKUP', 'fifo'), intent: {} };

  it('are read (with the lineage) only when the agent asks and a demotion is applied', async () => {
    const asked = standbySources(facts);
    const seen = await observe(AGENT, node, { ...backup, standby: true }, asked.sources);
    expect(asked.asked()).toBe(1);
    expect(asked.sources.calls.lineage).toBe(1);
    expect(asked.sources.calls.database).toBe(0);
    expect(seen.standby).toEqual({ kind: 'unreachable', problem: 'test' });
    const notAsked = standbySources(facts);
    expect((await observe(AGENT, node, backup, notAsked.sources)).standby).toBeUndefined();
    const script = standbySources(facts);
    await observe(DB, node, { ...backup, standby: true }, script.sources);
    expect(notAsked.asked() + script.asked()).toBe(0);
  });

  it('a standby source that does not answer is "unreachable" within its budget', async () => {
    const slow = standbySources(() => never());
    const seen = await observe(AGENT, node, { ...backup, standby: true }, slow.sources, {
      ...DEFAULT_BUDGETS,
      standbyMs: 50,
    });
    expect(seen.standby).toEqual({ kind: 'unreachable', problem: 'no answer within 50 ms' });
  });
});
