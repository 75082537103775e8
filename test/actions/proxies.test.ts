/**
 * ProxySQL and Atlas do not install here: these run against test/actions/fake-admin.ts, a
 * MySQL-protocol stand-in that accepts only their documented admin statements (docs/proxies.md).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run as runAtlas } from '../../src/actions/atlas.js';
import { run as runProxysql } from '../../src/actions/proxysql.js';
import type { ActionOf } from '../../src/actions/types.js';
import { startFakeAdmin, type FakeAdmin } from './fake-admin.js';
import { makeContext, never, type TestContext } from './context.js';

const PASSWORD = 'adm1n-Pa55-xyz';
let fake: FakeAdmin | undefined;
let ctx: TestContext | undefined;

afterEach(async () => {
  await fake?.close();
  ctx?.cleanup();
  fake = undefined;
  ctx = undefined;
});

function credentials(dir: string, password = PASSWORD): string {
  const file = join(dir, 'admin.cnf');
  writeFileSync(file, `[client]\nuser=admin\npassword=${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

describe('proxysql action (against the protocol-level stand-in)', () => {
  const action = (dir: string, port: number): ActionOf<'proxysql'> => ({
    type: 'proxysql',
    admin_host: '127.0.0.1',
    admin_port: port,
    credentials_file: credentials(dir),
    writer_hostgroup: 10,
    reader_hostgroup: 20,
  });

  it('MASTER makes this node the only writer, drops the peer from the readers, loads and saves', async () => {
    fake = await startFakeAdmin('proxysql', { user: 'admin', password: PASSWORD });
    fake.proxysql.memory.push(
      { hostgroup_id: 10, hostname: '192.0.2.12', port: 3306 },
      { hostgroup_id: 20, hostname: '192.0.2.11', port: 3306 },
      { hostgroup_id: 20, hostname: '192.0.2.12', port: 3306 },
      { hostgroup_id: 30, hostname: '192.0.2.99', port: 3306 },
    );
    ctx = makeContext('MASTER', { extraYaml: 'mysql: { credentials_file: /etc/hactl/mysql.cnf }\n' });
    const result = await runProxysql(action(ctx.dir, fake.port), ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    const sorted = (rows: FakeAdmin['proxysql']['runtime']) =>
      [...rows].sort((a, b) => a.hostgroup_id - b.hostgroup_id || a.hostname.localeCompare(b.hostname));
    expect(sorted(fake.proxysql.runtime)).toEqual([
      { hostgroup_id: 10, hostname: '192.0.2.11', port: 3306 },
      { hostgroup_id: 20, hostname: '192.0.2.11', port: 3306 },
      { hostgroup_id: 30, hostname: '192.0.2.99', port: 3306 },
    ]);
    expect(fake.proxysql.disk).toEqual(fake.proxysql.runtime);
    expect(fake.logins).toEqual(['admin']);
    expect(fake.statements.slice(-2)).toEqual([
      'LOAD MYSQL SERVERS TO RUNTIME',
      'SAVE MYSQL SERVERS TO DISK',
    ]);

    // Idempotent: a second run changes nothing (no INSERT or DELETE, same servers).
    const runtime = structuredClone(fake.proxysql.runtime);
    const seen = fake.statements.length;
    const again = await runProxysql(action(ctx.dir, fake.port), ctx.context, never);
    expect(again.ok, again.detail).toBe(true);
    expect(again.detail).toContain('already right');
    expect(fake.statements.slice(seen).filter((s) => /^(INSERT|DELETE)/i.test(s))).toEqual([]);
    expect(fake.proxysql.runtime).toEqual(runtime);
  });

  it('BACKUP removes this node from the writer hostgroup only', async () => {
    fake = await startFakeAdmin('proxysql', { user: 'admin', password: PASSWORD });
    fake.proxysql.memory.push(
      { hostgroup_id: 10, hostname: '192.0.2.11', port: 3306 },
      { hostgroup_id: 20, hostname: '192.0.2.11', port: 3306 },
    );
    ctx = makeContext('BACKUP');
    const result = await runProxysql(action(ctx.dir, fake.port), ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    expect(fake.proxysql.runtime).toEqual([{ hostgroup_id: 20, hostname: '192.0.2.11', port: 3306 }]);
  });

  it('a wrong password fails with a message that does not contain it', async () => {
    fake = await startFakeAdmin('proxysql', { user: 'admin', password: 'something-else' });
    ctx = makeContext('MASTER');
    const result = await runProxysql(action(ctx.dir, fake.port), ctx.context, never);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/Access denied/);
    expect(result.detail).not.toContain(PASSWORD);
  });

  it('an unreachable admin port fails fast', async () => {
    ctx = makeContext('MASTER');
    const result = await runProxysql(action(ctx.dir, 1), ctx.context, never);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/refused/);
  });
});

describe('atlas action (against the protocol-level stand-in)', () => {
  const action = (dir: string, port: number): ActionOf<'atlas'> => ({
    type: 'atlas',
    admin_host: '127.0.0.1',
    admin_port: port,
    credentials_file: credentials(dir),
  });

  it('MASTER: removes the peer (re-reading indexes after each removal) and adds this node as rw', async () => {
    fake = await startFakeAdmin('atlas', { user: 'admin', password: PASSWORD });
    fake.atlas.backends.push(
      { address: '192.0.2.12:3306', type: 'rw' },
      { address: '192.0.2.11:3306', type: 'ro' },
      { address: '192.0.2.12:3306', type: 'ro' },
    );
    ctx = makeContext('MASTER');
    const result = await runAtlas(action(ctx.dir, fake.port), ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    expect(fake.atlas.backends).toEqual([{ address: '192.0.2.11:3306', type: 'rw' }]);
    expect(fake.statements.filter((s) => s.startsWith('REMOVE'))).toEqual([
      'REMOVE BACKEND 1',
      'REMOVE BACKEND 1',
      'REMOVE BACKEND 1',
    ]);
    const seen = fake.statements.length;
    const again = await runAtlas(action(ctx.dir, fake.port), ctx.context, never);
    expect(again.ok, again.detail).toBe(true);
    expect(again.detail).toContain('already right');
    expect(fake.statements.slice(seen).filter((s) => /^(REMOVE|ADD)/i.test(s))).toEqual([]);
    expect(fake.atlas.backends).toEqual([{ address: '192.0.2.11:3306', type: 'rw' }]);
  });

  it('BACKUP removes only this node as rw backend', async () => {
    fake = await startFakeAdmin('atlas', { user: 'admin', password: PASSWORD });
    fake.atlas.backends.push(
      { address: '192.0.2.12:3306', type: 'ro' },
      { address: '192.0.2.11:3306', type: 'rw' },
    );
    ctx = makeContext('BACKUP');
    const result = await runAtlas(action(ctx.dir, fake.port), ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    expect(fake.atlas.backends).toEqual([{ address: '192.0.2.12:3306', type: 'ro' }]);
  });
});
