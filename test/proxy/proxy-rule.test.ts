/**
 * Rule 6 of the decision core (src/cluster/proxy-rule.ts) through decide(): every branch, the
 * safe order (add before remove: no proxy is ever left without a writable backend), and
 * idempotence (deciding again on what the steps produced gives no step). Also observe(): the
 * proxies are read only on the agent's ticks that apply no state.
 */
import { describe, expect, it } from 'vitest';
import { decide, needsProxyFacts, type Plan } from '../../src/cluster/decide.js';
import type { Observation, ProxyFacts, ProxyRead } from '../../src/cluster/observation.js';
import { observe, type ObservationSources } from '../../src/cluster/observe.js';
import { stepText, type BackendSet, type ProxyStep } from '../../src/cluster/proxy-rule.js';
import type { Spec } from '../../src/spec/schema.js';
import { ALL, applied, NONE, observation, pairSpec, said, SPLIT } from '../cluster/support.js';

const VIP = '192.0.2.50:3306';
const HA1 = '192.0.2.11:3306';
const HA2 = '192.0.2.12:3306';

const SPEC: Spec = pairSpec(
  `mysql: { credentials_file: /etc/hactl/mysql.cnf }
agent: { enabled: true }
actions:
  master: [{ type: mysql.promote }]
  backup: [{ type: mysql.demote }]
  fault: [{ type: mysql.demote }]
proxy:
  network: inside
  proxies:
    - { type: atlas, writer: vip, credentials_file: /etc/hactl/atlas.cnf }
    - { type: haproxy, writer: node, nodes: [ha2], socket: /run/ha2.sock, write_backend: be_rw, read_backend: be_ro }
    - { type: haproxy, writer: node, nodes: [ha1], socket: /run/ha1.sock, write_backend: be_rw, read_backend: be_ro }
`,
  'proxy.yaml',
);

const ATLAS = 'atlas 127.0.0.1:2345';
const HAPROXY = 'haproxy /run/ha1.sock';

const read = (proxy: number, label: string, backends: BackendSet | undefined, problem?: string): ProxyRead =>
  backends
    ? { proxy, label, backends }
    : { proxy, label, backends: undefined, ...(problem ? { problem } : {}) };

/** ha1 with BACKUP applied (or MASTER when it holds the VIPs): the state rules change nothing. */
function seen(
  vips: Observation['vips'],
  atlas: BackendSet | undefined,
  haproxy: BackendSet | undefined,
  standbyCaughtUp: ProxyFacts['standbyCaughtUp'] = { ok: true, detail: 'caught up' },
): Observation {
  const state = vips.missing.length === 0 ? 'MASTER' : 'BACKUP';
  return observation({
    vips,
    keepalived: said(state, 'fifo'),
    lastApplied: applied(state),
    proxy: {
      standbyCaughtUp,
      proxies: [read(0, ATLAS, atlas, 'connect ECONNREFUSED'), read(2, HAPROXY, haproxy, 'no socket')],
    },
  });
}

const texts = (plan: Plan) => plan.proxy.map((s) => `${s.label} ${stepText(s)}`);

/** What a proxy lists after the plan's steps for it, checking after every step that it has a writer. */
function after(plan: Plan, proxy: number, from: BackendSet): BackendSet {
  const now = { rw: [...from.rw], ro: [...from.ro] };
  for (const step of plan.proxy.filter((s: ProxyStep) => s.proxy === proxy)) {
    now[step.kind] =
      step.op === 'add'
        ? [...now[step.kind], step.address]
        : now[step.kind].filter((a) => a !== step.address);
    if (from.rw.length > 0) expect(now.rw.length, `after ${stepText(step)}`).toBeGreaterThan(0);
  }
  return now;
}

describe('rule 6: the proxies (pure)', () => {
  it('steady state, every proxy right: no step, and the sentence says nothing of proxies', () => {
    const plan = decide(seen(ALL, { rw: [VIP], ro: [HA2] }, { rw: [HA1], ro: [HA2] }), SPEC, {});
    expect(plan.target).toBeUndefined();
    expect(plan.proxy).toEqual([]);
    expect(plan.reason).not.toMatch(/prox/);
  });

  it('failover seen from the new primary: the failed standby goes, writer vip keeps the VIP, writer node adds itself before the old writer goes', () => {
    const atlas = { rw: [VIP], ro: [HA1] };
    const haproxy = { rw: [HA2], ro: [HA1] };
    const plan = decide(seen(ALL, atlas, haproxy, { ok: false, detail: 'connect ECONNREFUSED' }), SPEC, {});
    expect(texts(plan)).toEqual([
      `${ATLAS} -ro:${HA1}`,
      `${HAPROXY} +rw:${HA1}`,
      `${HAPROXY} -ro:${HA1}`,
      `${HAPROXY} -rw:${HA2}`,
    ]);
    expect(plan.proxy[0]!.reason).toBe(
      `read-write ${VIP}; standby ${HA2} has not caught up (connect ECONNREFUSED)`,
    );
    expect(plan.reason).toContain(`proxies: ${ATLAS} -ro:${HA1}`);
    expect(plan.transitionId).toBe(observation().transitionId);
    expect(Object.isFrozen(plan.proxy)).toBe(true);
    expect(after(plan, 0, atlas)).toEqual({ rw: [VIP], ro: [] });
    expect(after(plan, 2, haproxy)).toEqual({ rw: [HA1], ro: [] });
  });

  it('running twice changes nothing: deciding on what the steps produced gives no step', () => {
    const atlas = { rw: [VIP], ro: [] };
    const haproxy = { rw: [HA2], ro: [] };
    const first = decide(seen(ALL, atlas, haproxy), SPEC, {});
    expect(texts(first)).toEqual([
      `${ATLAS} +ro:${HA2}`,
      `${HAPROXY} +rw:${HA1}`,
      `${HAPROXY} +ro:${HA2}`,
      `${HAPROXY} -rw:${HA2}`,
    ]);
    const second = decide(seen(ALL, after(first, 0, atlas), after(first, 2, haproxy)), SPEC, {});
    expect(second.proxy).toEqual([]);
  });

  it('the standby (this node) is the read-only backend only once it has caught up', () => {
    const right = { rw: [VIP], ro: [HA1] };
    const caught = decide(seen(NONE, right, { rw: [HA2], ro: [HA1] }), SPEC, {});
    expect(caught.proxy).toEqual([]);
    const lagging = decide(
      seen(NONE, right, { rw: [HA2], ro: [HA1] }, { ok: false, detail: 'lag 3 s' }),
      SPEC,
      {},
    );
    expect(texts(lagging)).toEqual([`${ATLAS} -ro:${HA1}`, `${HAPROXY} -ro:${HA1}`]);
    expect(lagging.proxy[0]!.reason).toContain('has not caught up (lag 3 s)');
    const unjudged = decide(
      {
        ...seen(NONE, right, { rw: [HA2], ro: [] }),
        proxy: { standbyCaughtUp: undefined, proxies: [read(0, ATLAS, right)] },
      },
      SPEC,
      {},
    );
    expect(texts(unjudged)).toEqual([`${ATLAS} -ro:${HA1}`]);
    expect(unjudged.proxy[0]!.reason).toContain('not judged yet');
    const back = decide(seen(NONE, { rw: [VIP], ro: [] }, { rw: [HA2], ro: [] }), SPEC, {});
    expect(texts(back)).toEqual([`${ATLAS} +ro:${HA1}`, `${HAPROXY} +ro:${HA1}`]);
  });

  it('a proxy with no writer at all gets one (and nothing is removed before it)', () => {
    const plan = decide(seen(ALL, { rw: [], ro: [HA1, HA2] }, { rw: [], ro: [] }), SPEC, {});
    expect(texts(plan)).toEqual([
      `${ATLAS} +rw:${VIP}`,
      `${ATLAS} -ro:${HA1}`,
      `${HAPROXY} +rw:${HA1}`,
      `${HAPROXY} +ro:${HA2}`,
    ]);
  });

  it('some VIPs but not all (a transition under way): every proxy is left as it is', () => {
    const plan = decide(
      observation({
        vips: SPLIT,
        keepalived: said('BACKUP', 'fifo'),
        lastApplied: applied('BACKUP'),
        proxy: { standbyCaughtUp: undefined, proxies: [read(0, ATLAS, { rw: [], ro: [] })] },
      }),
      SPEC,
      {},
    );
    expect(plan.target).toBeUndefined();
    expect(plan.proxy).toEqual([]);
    expect(plan.reason).toContain(`${ATLAS} left as it is: this node holds some but not all VIPs`);
  });

  it('a proxy that could not be read is an observed fact: no step for it, the others go on', () => {
    const plan = decide(seen(ALL, undefined, { rw: [HA2], ro: [] }), SPEC, {});
    expect(texts(plan)).toEqual([`${HAPROXY} +rw:${HA1}`, `${HAPROXY} +ro:${HA2}`, `${HAPROXY} -rw:${HA2}`]);
    expect(plan.reason).toContain(`${ATLAS} not read (connect ECONNREFUSED): left as it is`);
  });

  it('no proxy facts (notify, status, a transition tick), no proxy section, or the agent deferred to: no step', () => {
    const right = seen(ALL, { rw: [], ro: [] }, { rw: [], ro: [] });
    expect(decide({ ...right, proxy: undefined }, SPEC, {}).proxy).toEqual([]);
    const { proxy: _, ...withoutProxy } = SPEC;
    expect(decide(right, withoutProxy as Spec, {}).proxy).toEqual([]);
    // A notify hook while the agent is alive: the agent acts, the hook changes nothing.
    const hook = decide({ ...right, keepalived: said('MASTER', 'event'), agentAlive: true }, SPEC, {});
    expect(hook.proxy).toEqual([]);
    expect(hook.reason).toMatch(/^agent mode/);
  });

  it('an entry that slipped out of the spec (a reload) or a node the spec lacks: no step', () => {
    const stale = observation({
      vips: ALL,
      lastApplied: applied('MASTER'),
      proxy: { standbyCaughtUp: { ok: true, detail: '' }, proxies: [read(7, 'gone', { rw: [], ro: [] })] },
    });
    expect(decide(stale, SPEC, {}).proxy).toEqual([]);
    expect(decide({ ...stale, node: 'ha9' }, SPEC, {}).proxy).toEqual([]);
  });

  it('the proxies are read on a tick that applies no state or retries a failed one; never on a first transition nor a promotion', () => {
    const steady = observation({
      vips: ALL,
      keepalived: said('MASTER', 'fifo'),
      lastApplied: applied('MASTER'),
    });
    expect(needsProxyFacts(steady, SPEC, {})).toBe(true);
    const demoting = observation({
      vips: NONE,
      keepalived: said('BACKUP', 'fifo'),
      lastApplied: applied('MASTER'),
    });
    expect(decide(demoting, SPEC, {}).target).toBe('BACKUP');
    expect(needsProxyFacts(demoting, SPEC, {})).toBe(false);
    const failing = observation({
      vips: NONE,
      keepalived: said('FAULT', 'fifo'),
      lastApplied: applied('FAULT', false),
    });
    expect(decide(failing, SPEC, {}).target).toBe('FAULT');
    expect(needsProxyFacts(failing, SPEC, {})).toBe(true);
    const promoting = { ...steady, lastApplied: applied('BACKUP') };
    expect(decide(promoting, SPEC, {}).target).toBe('MASTER');
    expect(needsProxyFacts(promoting, SPEC, {})).toBe(false);
    const promotionRetry = { ...steady, lastApplied: applied('MASTER', false) };
    expect(decide(promotionRetry, SPEC, {}).target).toBe('MASTER');
    expect(needsProxyFacts(promotionRetry, SPEC, {})).toBe(false);
    expect(needsProxyFacts(steady, { ...SPEC, proxy: undefined }, {})).toBe(false);
    expect(needsProxyFacts({ ...steady, keepalived: said('MASTER'), agentAlive: true }, SPEC, {})).toBe(
      false,
    );
  });

  it('a demotion plan carries its actions and the proxy steps together', () => {
    const plan = decide(
      observation({
        vips: NONE,
        keepalived: said('BACKUP', 'fifo'),
        lastApplied: applied('MASTER'),
        proxy: {
          standbyCaughtUp: { ok: false, detail: 'replication stopped' },
          proxies: [read(0, ATLAS, { rw: [VIP], ro: [HA2] }), read(2, HAPROXY, { rw: [HA1], ro: [HA2] })],
        },
      }),
      SPEC,
      {},
    );
    expect(plan.target).toBe('BACKUP');
    expect(plan.actions.map((a) => a.type)).toEqual(['mysql.demote']);
    expect(texts(plan)).toEqual([
      `${ATLAS} -ro:${HA2}`,
      `${HAPROXY} +rw:${HA2}`,
      `${HAPROXY} -ro:${HA2}`,
      `${HAPROXY} -rw:${HA1}`,
    ]);
  });
});

describe('observe(): proxy facts', () => {
  const node = SPEC.nodes[0]!;
  const facts: ProxyFacts = { standbyCaughtUp: { ok: true, detail: 'ok' }, proxies: [] };
  const sources = (
    state: 'MASTER' | 'BACKUP',
    calls: string[],
    proxies = async () => facts,
    held = ['192.0.2.50', '198.51.100.50'],
    ok = true,
  ): ObservationSources => ({
    addresses: () => new Set(held),
    appliedState: async () => applied(state, ok),
    lineage: async () => ({ kind: 'none' }),
    database: async () => ({ kind: 'unreachable', problem: 'not asked' }),
    proxies: async (_spec, _node, holds) => {
      calls.push(holds);
      return proxies();
    },
  });
  const request = (proxies: boolean, state: 'MASTER' | 'BACKUP' = 'MASTER') => ({
    transitionId: 't',
    keepalived: said(state, 'fifo'),
    intent: {},
    proxies,
  });

  it('reads them on a tick that applies no state, with what this node holds', async () => {
    const calls: string[] = [];
    const seenNow = await observe(SPEC, node, request(true), sources('MASTER', calls));
    expect(calls).toEqual(['all']);
    expect(seenNow.proxy).toEqual(facts);
  });

  it('also on a tick that retries a failed demotion (holding no VIP: this node is the standby)', async () => {
    const calls: string[] = [];
    const seenNow = await observe(
      SPEC,
      node,
      request(true, 'BACKUP'),
      sources('BACKUP', calls, undefined, [], false),
    );
    expect(decide(seenNow, SPEC, {}).target).toBe('BACKUP');
    expect(calls).toEqual(['none']);
    expect(seenNow.proxy).toEqual(facts);
  });

  it('not on a first demotion (its actions run at once)', async () => {
    const calls: string[] = [];
    const seenNow = await observe(SPEC, node, request(true), sources('MASTER', calls, undefined, []));
    expect(decide(seenNow, SPEC, {}).target).toBe('BACKUP');
    expect(calls).toEqual([]);
  });

  it('not when a promotion may be decided, and not unless asked (notify, status)', async () => {
    const calls: string[] = [];
    expect((await observe(SPEC, node, request(true), sources('BACKUP', calls))).proxy).toBeUndefined();
    expect((await observe(SPEC, node, request(false), sources('MASTER', calls))).proxy).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('a source that does not answer in time is "not read", never a hang', async () => {
    const hang = () => new Promise<ProxyFacts>(() => undefined);
    const started = performance.now();
    const budgets = { appliedStateMs: 100, lineageMs: 100, databaseMs: 100, leaseMs: 100, proxiesMs: 100 };
    const seenNow = await observe(SPEC, node, request(true), sources('MASTER', [], hang), budgets);
    expect(seenNow.proxy).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
