/**
 * One push (src/sync/run.ts) against a stand-in rsync on PATH that records its argv and
 * environment and then sleeps or exits as told: the time bound kills it, exit 24 counts as
 * success, no secret of our environment reaches it, and two pushes never run side by side.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, waitFor } from '../../src/lab/processes.js';
import { findNode, parseSpecText } from '../../src/spec/load.js';
import type { Spec, SyncSpec } from '../../src/spec/schema.js';
import { runPush } from '../../src/sync/run.js';
import { baseSpecYaml } from '../actions/context.js';

let dir = '';
let savedPath: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-sync-run-'));
  mkdirSync(join(dir, 'bin'));
  // The stand-in: argv and environment to files, its PID, then sleep / exit as the files say.
  writeFileSync(
    join(dir, 'bin', 'rsync'),
    `#!/bin/sh
printf '%s\\n' "$@" > "${dir}/argv.$$"
env > "${dir}/env.$$"
echo $$ >> "${dir}/pids"
sleep "$(cat "${dir}/sleep" 2>/dev/null || echo 0)"
exit "$(cat "${dir}/code" 2>/dev/null || echo 0)"
`,
  );
  chmodSync(join(dir, 'bin', 'rsync'), 0o755);
  savedPath = process.env.PATH;
  process.env.PATH = `${join(dir, 'bin')}:${process.env.PATH ?? ''}`;
  process.env.MYSQL_PWD = 'not-for-rsync-7f3a';
});
afterAll(() => {
  process.env.PATH = savedPath;
  delete process.env.MYSQL_PWD;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function setUp(sleepSec: number, code: number, sync = '') {
  writeFileSync(join(dir, 'sleep'), String(sleepSec));
  writeFileSync(join(dir, 'code'), String(code));
  rmSync(join(dir, 'pids'), { force: true });
  const spec = parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
sync:
  network: inside
  timeout: 1
  auth: { user: syncer, password_file: ${dir}/rsync.secret }
  paths: [{ source: /srv/www, module: www }]
${sync}`),
    'run.yaml',
  ) as Spec & { sync: SyncSpec };
  return { spec, node: findNode(spec, 'ha1') };
}

const pids = () =>
  existsSync(join(dir, 'pids'))
    ? readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').filter(Boolean).map(Number)
    : [];

describe('runPush', () => {
  it('a push that outlives sync.timeout is killed and recorded failed', async () => {
    const { spec, node } = setUp(30, 0);
    const result = await runPush(spec, node);
    expect(result.ok).toBe(false);
    expect(result.timedOut).toBe(true);
    expect(result.detail).toBe(
      '/srv/www → ha2: rsync did not finish within sync.timeout (1 s) and was stopped',
    );
    expect(result.durationMs).toBeLessThan(10_000);
    const [pid] = pids();
    expect(pid).toBeGreaterThan(0);
    await waitFor('the stand-in rsync to be gone', () => !isAlive(pid!), { timeoutMs: 5_000, everyMs: 50 });
  });

  it('exit 0 and exit 24 (files vanished while copied) succeed; another exit fails with its output', async () => {
    for (const [code, ok] of [
      [0, true],
      [24, true],
      [10, false],
    ] as const) {
      const { spec, node } = setUp(0, code);
      const result = await runPush(spec, node);
      expect(result.ok, `exit ${code}`).toBe(ok);
      expect(result.detail).toBe(ok ? '1 path copied' : `/srv/www → ha2: rsync exited ${code}`);
    }
  });

  it('rsync gets PATH only: no secret of our environment, the password only as a file name', async () => {
    const { spec, node } = setUp(0, 0);
    await runPush(spec, node);
    const [pid] = pids();
    const env = readFileSync(join(dir, `env.${pid}`), 'utf8');
    expect(env).not.toContain('not-for-rsync-7f3a');
    expect(env).not.toMatch(/RSYNC_PASSWORD/);
    expect(readFileSync(join(dir, `argv.${pid}`), 'utf8')).toContain(`--password-file=${dir}/rsync.secret`);
  });

  it('a second push while one runs on this node is not started', async () => {
    const { spec, node } = setUp(2, 0, '');
    const slow = spec as Spec & { sync: SyncSpec };
    slow.sync = { ...slow.sync, timeout: 20 };
    const first = runPush(slow, node);
    await waitFor('the first push to run rsync', () => pids().length === 1, {
      timeoutMs: 10_000,
      everyMs: 20,
    });
    const second = await runPush(slow, node);
    expect(second.busy).toBe(true);
    expect(second.ok).toBe(false);
    expect(second.detail).toMatch(/^another push is running on this node/);
    expect((await first).ok).toBe(true);
    expect(pids()).toHaveLength(1);
  });
});
