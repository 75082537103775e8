/**
 * The agent's sync scheduler (src/sync/schedule.ts) in-process, against a stand-in rsync that
 * runs longer than the interval: with 127.0.0.1 as the "VIP" this machine holds it, so the
 * applied state decides. Applied MASTER: pushes, one at a time, the overdue one said in the log.
 * Applied BACKUP: no push at all.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedStatePath } from '../../src/cluster/applied-state.js';
import { isAlive, waitFor } from '../../src/lab/processes.js';
import { findNode, parseSpecText } from '../../src/spec/load.js';
import { startSyncScheduler } from '../../src/sync/schedule.js';

let dir = '';
let savedPath: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-sync-schedule-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'run'));
  writeFileSync(join(dir, 'bin', 'rsync'), `#!/bin/sh\necho $$ >> "${dir}/pids"\nsleep 2.5\n`);
  chmodSync(join(dir, 'bin', 'rsync'), 0o755);
  savedPath = process.env.PATH;
  process.env.PATH = `${join(dir, 'bin')}:${process.env.PATH ?? ''}`;
});
afterAll(() => {
  process.env.PATH = savedPath;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const spec = () =>
  parseSpecText(
    `version: 1
cluster: t
nodes:
  - { name: ha1, priority: 150, networks: { lo: { interface: lo, address: 127.0.0.2 } } }
  - { name: ha2, priority: 120, networks: { lo: { interface: lo, address: 127.0.0.3 } } }
vips:
  - { name: v, address: 127.0.0.1/8, network: lo, virtual_router_id: 51 }
agent: { enabled: true }
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
sync: { network: lo, interval: 1, timeout: 30, paths: [{ source: /srv/www, module: www }] }
`,
    'schedule.yaml',
  );

function applied(state: string) {
  writeFileSync(
    appliedStatePath(join(dir, 'run'), 'ha1'),
    JSON.stringify({ state, ok: true, at: new Date(Date.now() - 60_000).toISOString(), event: 'test' }),
  );
}

const pids = () =>
  existsSync(join(dir, 'pids'))
    ? readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').filter(Boolean).map(Number)
    : [];

function recorder() {
  const lines: Record<string, unknown>[] = [];
  const push = (fields: Record<string, unknown>) => lines.push(fields);
  return { lines, log: { info: push, warn: push, error: push } };
}

describe('startSyncScheduler', () => {
  it('on the active node: pushes that outlive the interval run one at a time', async () => {
    rmSync(join(dir, 'pids'), { force: true });
    applied('MASTER');
    const s = spec();
    const { lines, log } = recorder();
    const runner = startSyncScheduler({
      spec: s,
      node: findNode(s, 'ha1'),
      log,
      heard: () => undefined,
      everyMs: 100,
    });
    let most = 0;
    // Taken when the second push has ended: stop() below may abort a third one already started.
    let statusAfterTwo: ReturnType<typeof runner.status>;
    try {
      await waitFor(
        'two pushes to end',
        () => {
          most = Math.max(most, pids().filter((pid) => isAlive(pid)).length);
          if (lines.filter((l) => l.event === 'sync.push_finished').length < 2) return false;
          statusAfterTwo = runner.status();
          return true;
        },
        { timeoutMs: 20_000, everyMs: 50 },
      );
    } finally {
      await runner.stop();
    }
    expect(most).toBe(1);
    const pushes = lines.filter((l) => l.event === 'sync.push_started' || l.event === 'sync.push_finished');
    pushes.forEach((l, i) => expect(l.event).toBe(i % 2 === 0 ? 'sync.push_started' : 'sync.push_finished'));
    expect(lines.some((l) => l.event === 'sync.skip' && /still running/.test(String(l.reason)))).toBe(true);
    expect(statusAfterTwo).toMatchObject({ interval_s: 1, last: { ok: true } });
  });

  it('on a node whose last applied state is BACKUP: no push', async () => {
    rmSync(join(dir, 'pids'), { force: true });
    applied('BACKUP');
    const s = spec();
    const { lines, log } = recorder();
    const runner = startSyncScheduler({
      spec: s,
      node: findNode(s, 'ha1'),
      log,
      heard: () => undefined,
      everyMs: 100,
    });
    try {
      await waitFor('the skip to be logged', () => lines.some((l) => l.event === 'sync.skip'), {
        timeoutMs: 10_000,
        everyMs: 50,
      });
      // Several judgements later, still nothing.
      const judged = Date.now();
      await waitFor('two seconds of judgements', () => Date.now() - judged > 2_000, {
        timeoutMs: 5_000,
        everyMs: 100,
      });
    } finally {
      await runner.stop();
    }
    expect(pids()).toEqual([]);
    expect(lines.find((l) => l.event === 'sync.skip')?.reason).toBe(
      'not pushing: a transition is in progress (last applied BACKUP)',
    );
    expect(runner.status()?.last).toBeNull();
  });
});
