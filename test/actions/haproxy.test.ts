/** haproxy action against a real HAProxy on loopback with its runtime API socket in a temp dir. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runtimeApi } from '../../src/actions/haproxy.js';
import { startDaemon, stopProcess, waitFor, type Daemon } from '../../src/lab/processes.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { makeContext, never } from './context.js';
import { existsSync } from 'node:fs';

const missing = requirementsMissing({ programs: ['haproxy'] });
let dir = '';
let daemon: Daemon | undefined;
let socket = '';

async function status(server: string): Promise<string> {
  const csv = await runtimeApi(socket, 'show stat', never);
  const header = csv.split('\n')[0]!.replace(/^# /, '').split(',');
  const row = csv
    .split('\n')
    .map((line) => line.split(','))
    .find((cols) => cols[0] === 'be_db' && cols[1] === server);
  return row?.[header.indexOf('status')] ?? 'absent';
}

describe.skipIf(missing)(titled('haproxy action (real HAProxy)', missing), () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-haproxy-'));
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
        'backend be_db',
        '  server ha1 127.0.0.1:1',
        '  server ha2 127.0.0.1:2',
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
    rmSync(dir, { recursive: true, force: true });
  });

  it('drain, disable and enable change the server state HAProxy reports', async () => {
    const ctx = makeContext('BACKUP');
    try {
      const action = (op: 'enable' | 'disable' | 'drain') => ({
        type: 'haproxy' as const,
        socket,
        backend: 'be_db',
        server: 'ha1',
        op,
      });
      expect(await status('ha1')).toBe('no check');
      const drained = await run(action('drain'), ctx.context, never);
      expect(drained.ok, drained.detail).toBe(true);
      expect(await status('ha1')).toBe('DRAIN');
      const disabled = await run(action('disable'), ctx.context, never);
      expect(disabled.ok, disabled.detail).toBe(true);
      expect(await status('ha1')).toBe('MAINT');
      const enabled = await run(action('enable'), ctx.context, never);
      expect(enabled.ok, enabled.detail).toBe(true);
      expect(await status('ha1')).toBe('no check');
      // enable also ends a drain
      await run(action('drain'), ctx.context, never);
      await run(action('enable'), ctx.context, never);
      expect(await status('ha1')).toBe('no check');
      expect(await status('ha2')).toBe('no check');
    } finally {
      ctx.cleanup();
    }
  });

  it('an unknown server is a failure carrying HAProxy’s answer', async () => {
    const ctx = makeContext('MASTER');
    try {
      const result = await run(
        { type: 'haproxy', socket, backend: 'be_db', server: 'nope', op: 'disable' },
        ctx.context,
        never,
      );
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/No such server/);
    } finally {
      ctx.cleanup();
    }
  });

  it('a missing socket is a failure, not a throw', async () => {
    const ctx = makeContext('MASTER');
    try {
      const result = await run(
        { type: 'haproxy', socket: join(dir, 'none.sock'), backend: 'be_db', server: 'ha1', op: 'enable' },
        ctx.context,
        never,
      );
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(/ENOENT/);
    } finally {
      ctx.cleanup();
    }
  });
});
