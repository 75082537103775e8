/**
 * Rule 6 in the agent's loop (src/agent/loop.ts): the proxies are kept by the same ticks that
 * apply states — also while a failed state waits for its retry (the failed node of a failover,
 * whose demotion cannot reach its database), and with one look right after a transition. The
 * proxy is the Atlas admin stand-in (test/actions/fake-admin.ts); the standby's verdict is given.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReconcileLoop, type TickRecord } from '../../src/agent/loop.js';
import { localSources, type ObservationSources } from '../../src/cluster/observe.js';
import { waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { driverFor } from '../../src/proxy/drivers.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';
import { startFakeAdmin, type FakeAdmin } from '../actions/fake-admin.js';
import { hasProgram } from '../support/requirements.js';

const VIP = '192.0.2.50:3306';
const HA2 = '192.0.2.12:3306';

let dir = '';
let loop: ReconcileLoop | undefined;
let fake: FakeAdmin | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-proxy-loop-'));
  writeFileSync(join(dir, 'admin.cnf'), '[client]\nuser=admin\npassword=adm1n-Pa55\n', { mode: 0o600 });
  chmodSync(join(dir, 'admin.cnf'), 0o600);
});

afterEach(async () => {
  await loop?.stop(10_000);
  loop = undefined;
  await fake?.close();
  fake = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function run(masterAction: string) {
  fake = await startFakeAdmin('atlas', { user: 'admin', password: 'adm1n-Pa55' });
  fake.atlas.backends.push({ address: VIP, type: 'rw' }, { address: HA2, type: 'ro' });
  const spec = parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
mysql: { credentials_file: /etc/hactl/mysql.cnf }
agent: { enabled: true }
actions:
  master:
    - { type: command, argv: [${masterAction}] }
proxy:
  proxies:
    - { type: atlas, writer: vip, admin_host: 127.0.0.1, admin_port: ${fake.port}, credentials_file: ${join(dir, 'admin.cnf')} }
`),
    'test.yaml',
  );
  const node = spec.nodes[0]!;
  const driver = driverFor(spec.proxy!.proxies[0]!);
  // This node holds the VIP; its peer (the standby) has not caught up: Atlas must list no reader.
  const sources: ObservationSources = {
    ...localSources,
    addresses: () => new Set(['192.0.2.50']),
    proxies: async (_spec, _node, _holds, signal) => ({
      standbyCaughtUp: { ok: false, detail: 'its replication is stopped' },
      proxies: [{ proxy: 0, label: driver.label, backends: await driver.read(signal) }],
    }),
  };
  const ticks: TickRecord[] = [];
  loop = new ReconcileLoop({
    current: () => ({ spec, node }),
    log: createLogger({ level: 'silent' }),
    periodMs: 50,
    sources,
    onTick: (record) => ticks.push(record),
  });
  loop.start();
  return { ticks, fake };
}

describe.skipIf(!hasProgram('flock'))('rule 6 in the loop', () => {
  it('a failing state waits for its retry, the proxies do not: a reader that appears is removed on a backoff tick', async () => {
    const { ticks, fake } = await run('/bin/false');
    await waitFor('the first apply', () => ticks.some((t) => t.result === 'apply'), { timeoutMs: 15_000 });
    expect(ticks.find((t) => t.result === 'apply')!.outcome?.ok).toBe(false);
    await waitFor('Atlas without the lagging reader', () => fake.atlas.backends.length === 1, {
      timeoutMs: 15_000,
    });
    expect(fake.atlas.backends).toEqual([{ address: VIP, type: 'rw' }]);
    // Someone adds the reader back by hand; only backoff ticks run now.
    await waitFor('a backoff tick', () => ticks.at(-1)?.result === 'backoff', { timeoutMs: 15_000 });
    fake.atlas.backends.push({ address: HA2, type: 'ro' });
    const from = ticks.length;
    let retriedMeanwhile: boolean | undefined;
    await waitFor(
      'the reader removed again',
      () => {
        if (fake.atlas.backends.length !== 1) return false;
        // Seen at the moment of removal: no tick applied the state again (its backoff is ≥ 5 s).
        retriedMeanwhile = ticks.slice(from).some((t) => t.result === 'apply');
        return true;
      },
      { timeoutMs: 15_000, everyMs: 5 },
    );
    expect(retriedMeanwhile).toBe(false);
    expect(ticks.slice(from).some((t) => t.result === 'backoff')).toBe(true);
  });

  it('right after a transition applied, the loop looks at the proxies again (woken by proxy)', async () => {
    const { ticks, fake } = await run('/bin/true');
    await waitFor(
      'the transition and the look after it',
      () => ticks.some((t) => t.wokenBy.includes('proxy')),
      {
        timeoutMs: 15_000,
      },
    );
    const applied = ticks.findIndex((t) => t.target === 'MASTER');
    expect(ticks[applied]!.outcome?.ok).toBe(true);
    expect(ticks.slice(0, applied).every((t) => t.result !== 'apply')).toBe(true);
    expect(ticks[applied + 1]!.wokenBy).toContain('proxy');
    // The transition tick ran its actions at once; the look after it took the proxy step.
    expect(ticks[applied]!.outcome?.proxy).toEqual([]);
    expect(ticks[applied + 1]!.result).toBe('apply');
    expect(fake.atlas.backends).toEqual([{ address: VIP, type: 'rw' }]);
    const removals = fake.statements.filter((s) => s.startsWith('REMOVE'));
    expect(removals).toEqual(['REMOVE BACKEND 2']);
  });
});
