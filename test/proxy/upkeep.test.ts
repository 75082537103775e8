/**
 * Proxy upkeep (spec `proxy:`): the pure helpers of rule 6 (src/cluster/proxy-rule.ts; the rule
 * through decide() is test/proxy/proxy-rule.test.ts), and each driver against its proxy — Atlas
 * and ProxySQL against the protocol-level stand-in (test/actions/fake-admin.ts), HAProxy for real —
 * read, then the steps applied as apply() does (src/proxy/apply.ts), twice: the second changes
 * nothing. The lab test (test/e2e/proxy.test.ts) runs the agent's loop through a failover.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, stopProcess, waitFor, type Daemon } from '../../src/lab/processes.js';
import {
  proxiesOn,
  proxyAddresses,
  stepsTo,
  wantedBackends,
  type BackendSet,
  type ProxyStep,
  type ProxyView,
  type Step,
} from '../../src/cluster/proxy-rule.js';
import type { Logger } from '../../src/log.js';
import { applyProxySteps } from '../../src/proxy/apply.js';
import { driverFor, haproxyServers, type ProxyDriver } from '../../src/proxy/drivers.js';
import { findNode, parseSpecText } from '../../src/spec/load.js';
import type { ProxyEntry } from '../../src/spec/proxy-schema.js';
import type { Spec } from '../../src/spec/schema.js';
import { baseSpecYaml, never } from '../actions/context.js';
import { startFakeAdmin, type FakeAdmin } from '../actions/fake-admin.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const PASSWORD = 'adm1n-Pa55-xyz';
const VIP = '192.0.2.50:3306';
const HA1 = '192.0.2.11:3306';
const HA2 = '192.0.2.12:3306';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-proxy-'));
  writeFileSync(join(dir, 'admin.cnf'), `[client]\nuser=admin\npassword=${PASSWORD}\n`, { mode: 0o600 });
  chmodSync(join(dir, 'admin.cnf'), 0o600);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MYSQL_AGENT = `mysql: { credentials_file: /etc/hactl/mysql.cnf }
agent: { enabled: true }
`;

/** A spec with a proxy block (parsed by the real schema, defaults and all). */
function specWith(proxyYaml: string): Spec {
  return parseSpecText(baseSpecYaml(MYSQL_AGENT + proxyYaml), 'proxy.yaml');
}

function entry(proxyYaml: string): ProxyEntry {
  return specWith(proxyYaml).proxy!.proxies[0]!;
}

const view = (over: Partial<ProxyView>): ProxyView => ({
  holds: 'all',
  self: { host: '192.0.2.11', port: 3306 },
  peer: { host: '192.0.2.12', port: 3306 },
  vip: { host: '192.0.2.50', port: 3306 },
  standbyCaughtUp: { ok: true, detail: 'caught up' },
  ...over,
});

describe('the rule (pure)', () => {
  it('writer vip: the VIP is the read-write backend on the primary and on the standby, whatever happens', () => {
    for (const holds of ['all', 'none'] as const) {
      for (const ok of [true, false]) {
        const wanted = wantedBackends(view({ holds, standbyCaughtUp: { ok, detail: 'x' } }), 'vip');
        expect('rw' in wanted && wanted.rw).toEqual([VIP]);
      }
    }
  });

  it('the standby is the read-only backend only once caught up; the primary reads through the writer', () => {
    expect(wantedBackends(view({ holds: 'all' }), 'vip')).toMatchObject({ ro: [HA2] });
    expect(wantedBackends(view({ holds: 'none' }), 'vip')).toMatchObject({ ro: [HA1] });
    const lagging = wantedBackends(view({ standbyCaughtUp: { ok: false, detail: 'lag 3 s' } }), 'vip');
    expect(lagging).toMatchObject({ ro: [] });
    expect(lagging.reason).toContain('has not caught up (lag 3 s)');
    expect(wantedBackends(view({ standbyCaughtUp: undefined }), 'vip')).toMatchObject({ ro: [] });
  });

  it('writer node: the holder of the VIPs is the read-write backend', () => {
    expect(wantedBackends(view({ holds: 'all' }), 'node')).toMatchObject({ rw: [HA1], ro: [HA2] });
    expect(wantedBackends(view({ holds: 'none' }), 'node')).toMatchObject({ rw: [HA2], ro: [HA1] });
  });

  it('some VIPs but not all: the proxies are left alone', () => {
    expect(wantedBackends(view({ holds: 'some' }), 'vip')).toMatchObject({ leave: true });
  });

  it('the steps add before they remove: a proxy with a writer keeps one after every single step', () => {
    const cases: [BackendSet, BackendSet][] = [
      [
        { rw: [HA1], ro: [HA2] },
        { rw: [HA2], ro: [] },
      ],
      [
        { rw: [VIP], ro: [HA2] },
        { rw: [VIP], ro: [HA1] },
      ],
      [
        { rw: [HA1, HA2], ro: [] },
        { rw: [VIP], ro: [] },
      ],
    ];
    for (const [from, to] of cases) {
      const steps = stepsTo(from, to);
      const rw = new Set(from.rw);
      const ro = new Set(from.ro);
      for (const step of steps) {
        const set = step.kind === 'rw' ? rw : ro;
        if (step.op === 'add') set.add(step.address);
        else set.delete(step.address);
        expect(rw.size, `after ${step.op} ${step.kind} ${step.address}`).toBeGreaterThan(0);
      }
      expect([[...rw].sort(), [...ro].sort()]).toEqual([[...to.rw].sort(), [...to.ro].sort()]);
      expect(stepsTo(to, to)).toEqual([]);
    }
  });

  it('proxy.network picks the addresses and the VIP the proxies use', () => {
    const yaml = `version: 1
cluster: t
nodes:
  - name: ha1
    priority: 150
    networks: { inside: { interface: eth1, address: 192.0.2.11 }, outside: { interface: eth0, address: 198.51.100.11 } }
  - name: ha2
    priority: 120
    networks: { inside: { interface: eth1, address: 192.0.2.12 }, outside: { interface: eth0, address: 198.51.100.12 } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
  - { name: outside, address: 198.51.100.50/24, network: outside, virtual_router_id: 50 }
${MYSQL_AGENT}`;
    const proxies = `  proxies: [{ type: atlas, credentials_file: /etc/hactl/atlas.cnf }]\n`;
    const outside = parseSpecText(`${yaml}proxy:\n  network: outside\n${proxies}`, 'p.yaml');
    expect(proxyAddresses(outside, findNode(outside, 'ha1'))).toEqual({
      self: { host: '198.51.100.11', port: 3306 },
      peer: { host: '198.51.100.12', port: 3306 },
      vip: { host: '198.51.100.50', port: 3306 },
    });
    const inside = parseSpecText(`${yaml}proxy:\n${proxies}`, 'p.yaml');
    expect(proxyAddresses(inside, findNode(inside, 'ha2')).vip).toEqual({ host: '192.0.2.50', port: 3306 });
  });

  it('proxies[].nodes: an entry with nodes is kept only on the nodes it names', () => {
    const spec = specWith(`proxy:
  proxies:
    - { type: haproxy, nodes: [ha1], socket: /run/ha1.sock, write_backend: be_rw, read_backend: be_ro }
    - { type: haproxy, nodes: [ha2], socket: /run/ha2.sock, write_backend: be_rw, read_backend: be_ro }
    - { type: atlas, credentials_file: /etc/hactl/atlas.cnf }
`);
    const on = (name: string) =>
      proxiesOn(spec, findNode(spec, name)).map(({ index, entry: p }) => [
        index,
        'socket' in p ? p.socket : p.type,
      ]);
    expect(on('ha1')).toEqual([
      [0, '/run/ha1.sock'],
      [2, 'atlas'],
    ]);
    expect(on('ha2')).toEqual([
      [1, '/run/ha2.sock'],
      [2, 'atlas'],
    ]);
    expect(() =>
      specWith(
        `proxy:\n  proxies: [{ type: atlas, nodes: [ha3], credentials_file: /etc/hactl/atlas.cnf }]\n`,
      ),
    ).toThrow(/"ha3" is not a node of this spec/);
  });

  it('lint: proxy needs the agent and a VIP on its network for writer vip', () => {
    const proxies = `proxy:\n  proxies: [{ type: atlas, credentials_file: /etc/hactl/atlas.cnf }]\n`;
    expect(() =>
      parseSpecText(baseSpecYaml(`mysql: { credentials_file: /etc/hactl/mysql.cnf }\n${proxies}`), 'p.yaml'),
    ).toThrow(/agent\.enabled: true/);
  });
});

/** What one agent tick does with a proxy: read it, take the steps to `wanted` (as apply() would). */
async function reconcile(driver: ProxyDriver, wanted: BackendSet) {
  const before = await driver.read(never);
  const steps = stepsTo(before, wanted);
  const applied = steps.length > 0 ? await driver.apply(steps, never) : { changed: [] as boolean[] };
  return { before, steps, ...applied };
}

/** A logger that keeps its lines, as apply() hands it over: already tagged with the transition id. */
function recorder(transitionId: string) {
  const lines: Record<string, unknown>[] = [];
  const make = (bound: Record<string, unknown>): Logger =>
    ({
      info: (fields: Record<string, unknown>) => lines.push({ ...bound, ...fields }),
      warn: (fields: Record<string, unknown>) => lines.push({ ...bound, ...fields }),
      error: (fields: Record<string, unknown>) => lines.push({ ...bound, ...fields, level: 'error' }),
      debug: () => undefined,
      child: (more: Record<string, unknown>) => make({ ...bound, ...more }),
    }) as unknown as Logger;
  return { log: make({ transition_id: transitionId }), lines };
}

let fake: FakeAdmin | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('atlas (stand-in)', () => {
  const atlas = (save: boolean, port: number) =>
    entry(`proxy:
  proxies:
    - { type: atlas, writer: vip, admin_host: 127.0.0.1, admin_port: ${port}, credentials_file: ${join(dir, 'admin.cnf')}, save_config: ${save} }
`);

  it('seed 004 after a failover: the listed read-only backend goes, the VIP stays; SAVE CONFIG when save_config; a second run changes nothing', async () => {
    fake = await startFakeAdmin('atlas', { user: 'admin', password: PASSWORD });
    fake.atlas.backends.push({ address: VIP, type: 'rw' }, { address: HA2, type: 'ro' });
    const driver = driverFor(atlas(true, fake.port));
    const done = await reconcile(driver, { rw: [VIP], ro: [] });
    expect(done.steps).toEqual([{ op: 'remove', kind: 'ro', address: HA2 }]);
    expect(fake.atlas.backends).toEqual([{ address: VIP, type: 'rw' }]);
    expect(fake.atlas.saved).toEqual([{ address: VIP, type: 'rw' }]);
    expect(done.persisted).toBe('SAVE CONFIG');

    // ha1 has caught up: it comes back as ADD SLAVE.
    const back = await reconcile(driver, { rw: [VIP], ro: [HA1] });
    expect(back.steps).toEqual([{ op: 'add', kind: 'ro', address: HA1 }]);
    expect(fake.atlas.backends).toEqual([
      { address: VIP, type: 'rw' },
      { address: HA1, type: 'ro' },
    ]);

    const seen = fake.statements.length;
    const again = await reconcile(driver, { rw: [VIP], ro: [HA1] });
    expect(again.steps).toEqual([]);
    expect(fake.statements.slice(seen)).toEqual(['SELECT * FROM backends']);
  });

  it('apply: the same steps twice change nothing the second time (each step only if still needed), logged with the transition id', async () => {
    fake = await startFakeAdmin('atlas', { user: 'admin', password: PASSWORD });
    fake.atlas.backends.push({ address: VIP, type: 'rw' }, { address: HA2, type: 'ro' });
    const spec = specWith(`proxy:
  proxies:
    - { type: atlas, writer: vip, admin_host: 127.0.0.1, admin_port: ${fake.port}, credentials_file: ${join(dir, 'admin.cnf')}, save_config: true }
`);
    const steps: ProxyStep[] = [
      { proxy: 0, label: 'atlas', op: 'add', kind: 'ro', address: HA1, reason: 'r' },
      { proxy: 0, label: 'atlas', op: 'remove', kind: 'ro', address: HA2, reason: 'r' },
    ];
    const { log, lines } = recorder('t-42');
    expect(await applyProxySteps(steps, spec, log)).toEqual([
      { step: `+ro:${HA1}`, proxy: 'atlas', ok: true, changed: true },
      { step: `-ro:${HA2}`, proxy: 'atlas', ok: true, changed: true },
    ]);
    expect(fake.atlas.backends).toEqual([
      { address: VIP, type: 'rw' },
      { address: HA1, type: 'ro' },
    ]);
    expect(fake.atlas.saved).toEqual(fake.atlas.backends);
    const seen = fake.statements.length;
    expect((await applyProxySteps(steps, spec, log)).map((o) => o.changed)).toEqual([false, false]);
    expect(fake.statements.slice(seen).filter((s) => !s.startsWith('SELECT'))).toEqual([]);
    expect(lines.map((l) => [l.transition_id, l.step ?? l.persisted, l.result])).toEqual([
      ['t-42', `+ro:${HA1}`, 'changed'],
      ['t-42', `-ro:${HA2}`, 'changed'],
      ['t-42', 'SAVE CONFIG', 'persisted'],
      ['t-42', `+ro:${HA1}`, 'already so'],
      ['t-42', `-ro:${HA2}`, 'already so'],
    ]);
  });

  it('save_config: false sends no SAVE CONFIG; removals re-read the renumbered list', async () => {
    fake = await startFakeAdmin('atlas', { user: 'admin', password: PASSWORD });
    fake.atlas.backends.push(
      { address: HA1, type: 'ro' },
      { address: VIP, type: 'rw' },
      { address: HA2, type: 'ro' },
    );
    const done = await reconcile(driverFor(atlas(false, fake.port)), { rw: [VIP], ro: [] });
    expect(done.steps).toHaveLength(2);
    expect(fake.atlas.backends).toEqual([{ address: VIP, type: 'rw' }]);
    expect(fake.statements).not.toContain('SAVE CONFIG');
    expect(fake.statements.filter((s) => s.startsWith('REMOVE'))).toEqual([
      'REMOVE BACKEND 1',
      'REMOVE BACKEND 2',
    ]);
  });
});

describe('proxysql (stand-in)', () => {
  const proxysql = (port: number) =>
    entry(`proxy:
  proxies:
    - type: proxysql
      writer: node
      admin_host: 127.0.0.1
      admin_port: ${port}
      credentials_file: ${join(dir, 'admin.cnf')}
      writer_hostgroup: 10
      reader_hostgroup: 20
`);

  it('writer node on failover: the new writer row is inserted before the old one is deleted; loaded and saved once; idempotent', async () => {
    fake = await startFakeAdmin('proxysql', { user: 'admin', password: PASSWORD });
    fake.proxysql.memory.push(
      { hostgroup_id: 10, hostname: '192.0.2.11', port: 3306 },
      { hostgroup_id: 20, hostname: '192.0.2.12', port: 3306 },
      { hostgroup_id: 30, hostname: '192.0.2.99', port: 3306 },
    );
    const driver = driverFor(proxysql(fake.port));
    const done = await reconcile(driver, { rw: [HA2], ro: [] });
    expect(done.steps.map((s) => `${s.op} ${s.kind} ${s.address}`)).toEqual([
      `add rw ${HA2}`,
      `remove ro ${HA2}`,
      `remove rw ${HA1}`,
    ]);
    const changes = fake.statements.filter((s) => /^(INSERT|DELETE|LOAD|SAVE)/.test(s));
    expect(changes[0]).toMatch(/^INSERT .*\(10, '192\.0\.2\.12', 3306\)/);
    expect(changes.slice(-2)).toEqual(['LOAD MYSQL SERVERS TO RUNTIME', 'SAVE MYSQL SERVERS TO DISK']);
    expect(fake.proxysql.runtime).toEqual([
      { hostgroup_id: 30, hostname: '192.0.2.99', port: 3306 },
      { hostgroup_id: 10, hostname: '192.0.2.12', port: 3306 },
    ]);
    expect(fake.proxysql.disk).toEqual(fake.proxysql.runtime);

    const seen = fake.statements.length;
    expect((await reconcile(driver, { rw: [HA2], ro: [] })).steps).toEqual([]);
    expect(fake.statements.slice(seen).filter((s) => !s.startsWith('SELECT'))).toEqual([]);
  });
});

const missing = requirementsMissing({ programs: ['haproxy'] });

describe.skipIf(missing)(titled('haproxy (real)', missing), () => {
  let daemon: Daemon | undefined;
  let socket = '';
  beforeAll(async () => {
    socket = join(dir, 'admin.sock');
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(
      config,
      [
        'global',
        `  stats socket ${socket} mode 600 level admin`,
        'defaults',
        '  mode tcp',
        '  timeout connect 1s',
        '  timeout client 5s',
        '  timeout server 5s',
        'backend be_rw',
        '  server vip 192.0.2.50:3306',
        '  server ha1 192.0.2.11:3306',
        '  server ha2 192.0.2.12:3306',
        'backend be_ro',
        '  server ha1 192.0.2.11:3306',
        '  server ha2 192.0.2.12:3306',
        '',
      ].join('\n'),
    );
    daemon = startDaemon(['/usr/sbin/haproxy', '-db', '-f', config], {
      logFile: join(dir, 'haproxy.log'),
      pidFile: join(dir, 'haproxy.pid'),
    });
    await waitFor('the HAProxy stats socket', () => existsSync(socket), { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    if (daemon) await stopProcess(daemon.pid, '/usr/sbin/haproxy', { waitMs: 5000 });
  });

  const haproxy = (writer: 'vip' | 'node', read = 'be_ro') =>
    entry(`proxy:
  proxies:
    - { type: haproxy, writer: ${writer}, socket: ${socket}, write_backend: be_rw, read_backend: ${read} }
`);
  const ready = async (backend: string) =>
    (await haproxyServers(socket, backend, never)).filter((s) => s.adminState === 0).map((s) => s.name);

  it('sets servers ready or maint by address (make before break); a second run sends nothing', async () => {
    const node = driverFor(haproxy('node'));
    const first = await reconcile(node, { rw: [HA1], ro: [HA2] });
    expect(first.before).toEqual({ rw: [VIP, HA1, HA2], ro: [HA1, HA2] });
    expect(await ready('be_rw')).toEqual(['ha1']);
    expect(await ready('be_ro')).toEqual(['ha2']);
    const failover = await reconcile(node, { rw: [HA2], ro: [] });
    expect(failover.steps.map((s) => `${s.op} ${s.kind} ${s.address}`)).toEqual([
      `add rw ${HA2}`,
      `remove ro ${HA2}`,
      `remove rw ${HA1}`,
    ]);
    expect(await ready('be_rw')).toEqual(['ha2']);
    expect(await ready('be_ro')).toEqual([]);
    expect((await reconcile(node, { rw: [HA2], ro: [] })).steps).toEqual([]);

    const vip = driverFor(haproxy('vip'));
    await reconcile(vip, { rw: [VIP], ro: [HA1] });
    expect(await ready('be_rw')).toEqual(['vip']);
    expect(await ready('be_ro')).toEqual(['ha1']);
  });

  it('apply: a step that fails stops that proxy (the removal after a failed addition is not taken)', async () => {
    const node = driverFor(haproxy('node'));
    await reconcile(node, { rw: [HA1], ro: [] });
    const spec = specWith(`proxy:
  proxies:
    - { type: haproxy, writer: node, socket: ${socket}, write_backend: be_rw, read_backend: be_ro }
`);
    const step = (op: Step['op'], address: string): ProxyStep => ({
      proxy: 0,
      label: 'haproxy',
      op,
      kind: 'rw',
      address,
      reason: 'r',
    });
    const { log, lines } = recorder('t-7');
    const outcome = await applyProxySteps([step('add', '192.0.2.77:3306'), step('remove', HA1)], spec, log);
    expect(outcome).toEqual([{ step: '+rw:192.0.2.77:3306', proxy: 'haproxy', ok: false, changed: false }]);
    expect(await ready('be_rw')).toEqual(['ha1']);
    expect(lines).toMatchObject([
      { transition_id: 't-7', result: 'failed', step: '+rw:192.0.2.77:3306', not_taken: [`-rw:${HA1}`] },
    ]);
  });

  it('an address without a server, or a backend HAProxy lacks, fails naming it', async () => {
    await expect(
      reconcile(driverFor(haproxy('vip')), { rw: [VIP], ro: ['192.0.2.77:3306'] }),
    ).rejects.toThrow(/backend be_ro has no server at 192\.0\.2\.77:3306: add one to haproxy\.cfg/);
    await expect(reconcile(driverFor(haproxy('vip', 'be_nope')), { rw: [VIP], ro: [] })).rejects.toThrow(
      /no backend "be_nope"/,
    );
  });
});
