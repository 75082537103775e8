/** hactl check mysql|replication through the library API against a real MariaDB pair. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { mysqlCheck } from '../../src/checks/mysql.js';
import { replicationCheck } from '../../src/checks/replication.js';
import type { FlagValues } from '../../src/checks/types.js';
import { argvLeaks, createReplicatedTable, startPair, until, type Pair } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

describe.skipIf(missing)(titled('checks against real MariaDB', missing), () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair();
    await createReplicatedTable(pair);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  const mysql = (flags: FlagValues) => mysqlCheck.run(mysqlCheck.fromFlags(flags), AbortSignal.timeout(5000));
  const repl = (flags: FlagValues) =>
    replicationCheck.run(replicationCheck.fromFlags(flags), AbortSignal.timeout(5000));
  const on = (server: 'primary' | 'replica', extra: FlagValues = {}): FlagValues => ({
    'defaults-file': pair[server].admin.defaultsFile,
    host: '127.0.0.1',
    port: String(pair[server].port),
    ...extra,
  });

  it('mysql: up → healthy, and --expect-role follows read_only', async () => {
    expect(await mysql(on('primary'))).toMatchObject({ healthy: true });
    expect(await mysql(on('primary', { 'expect-role': 'primary' }))).toMatchObject({ healthy: true });
    expect(await mysql(on('replica', { 'expect-role': 'replica' }))).toMatchObject({ healthy: true });
    const wrongP = await mysql(on('primary', { 'expect-role': 'replica' }));
    expect(wrongP.healthy).toBe(false);
    expect(wrongP.detail).toMatch(/writable .*expected a read-only replica/);
    const wrongR = await mysql(on('replica', { 'expect-role': 'primary' }));
    expect(wrongR).toMatchObject({ healthy: false });
    expect(wrongR.detail).toMatch(/read_only=ON/);
    // Over the socket named in the option file too.
    expect(await mysql({ 'defaults-file': pair.primary.app.defaultsFile })).toMatchObject({ healthy: true });
  });

  it('mysql: wrong password → unhealthy, and the message does not contain it', async () => {
    const wrong = `Wr0ng'pass"${Date.now()}`;
    const file = join(pair.dir, 'wrong.cnf');
    writeFileSync(file, `[client]\nuser=hactl_admin\npassword="${wrong.replace(/"/g, '\\"')}"\n`, {
      mode: 0o600,
    });
    const result = await mysql({ 'defaults-file': file, host: '127.0.0.1', port: String(pair.primary.port) });
    expect(result.healthy).toBe(false);
    expect(result.detail).toMatch(/Access denied/);
    expect(result.detail).not.toContain(wrong);
    for (const secret of pair.secrets) expect(result.detail).not.toContain(secret);
  });

  it('mysql: a credentials file others can read is a configuration error', async () => {
    const file = join(pair.dir, 'open.cnf');
    writeFileSync(file, '[client]\nuser=x\npassword=y\n', { mode: 0o644 });
    await expect(mysql({ 'defaults-file': file })).rejects.toThrow(ConfigError);
    expect(() => mysqlCheck.fromFlags({})).toThrow(/needs --defaults-file/);
    expect(mysqlCheck.flags).not.toHaveProperty('password');
    expect(replicationCheck.flags).not.toHaveProperty('password');
  });

  it('replication: healthy, caught up; not a replica on the primary', async () => {
    const r = await repl(on('replica', { 'max-lag': '5', 'caught-up': true }));
    expect(r, r.detail).toMatchObject({ healthy: true });
    expect(r.detail).toMatch(/caught up/);
    const p = await repl(on('primary'));
    expect(p).toMatchObject({ healthy: false });
    expect(p.detail).toMatch(/not a replica/);
  });

  it('replication: stopped SQL thread → unhealthy', async () => {
    const s = await pair.replica.session();
    try {
      await s.query('STOP SLAVE SQL_THREAD');
      const r = await repl(on('replica'));
      expect(r.healthy).toBe(false);
      expect(r.detail).toMatch(/SQL thread is stopped/);
    } finally {
      await s.query('START SLAVE SQL_THREAD');
      await s.close();
    }
    expect(await repl(on('replica'))).toMatchObject({ healthy: true });
  });

  it('replication: real lag with MASTER_DELAY → unhealthy with --max-lag, not caught up; healthy again after', async () => {
    const s = await pair.replica.session();
    const p = await pair.primary.session();
    try {
      await s.query('STOP SLAVE');
      await s.query('CHANGE MASTER TO MASTER_DELAY = 4');
      await s.query('START SLAVE');
      await p.query('INSERT INTO app.t (v) VALUES (1)');
      await until('lag of at least 2 s', async () => {
        const row = (await s.query('SHOW SLAVE STATUS'))[0];
        return Number(row?.Seconds_Behind_Master ?? 0) >= 2;
      });
      const lagging = await repl(on('replica', { 'max-lag': '1' }));
      console.log(`lagging replica: ${lagging.detail}`);
      expect(lagging.healthy).toBe(false);
      expect(lagging.detail).toMatch(/s behind .*more than --max-lag 1/);
      expect(await repl(on('replica', { 'max-lag': '60' }))).toMatchObject({ healthy: true });
      const behind = await repl(on('replica', { 'caught-up': true }));
      expect(behind.healthy).toBe(false);
      expect(behind.detail).toMatch(/not caught up/);
    } finally {
      await s.query('STOP SLAVE');
      await s.query('CHANGE MASTER TO MASTER_DELAY = 0');
      await s.query('START SLAVE');
      await s.close();
      await p.close();
    }
    await until(
      'caught up',
      async () => (await repl(on('replica', { 'caught-up': true, 'max-lag': '0' }))).healthy,
    );
  });

  it('replication: source down → connecting is unhealthy unless --allow-connecting', async () => {
    await pair.primary.stop();
    try {
      await until('IO thread connecting', async () =>
        (await repl(on('replica'))).detail.includes('connecting'),
      );
      expect(await repl(on('replica'))).toMatchObject({ healthy: false });
      expect(await repl(on('replica', { 'allow-connecting': true }))).toMatchObject({ healthy: true });
      const down = await mysql(on('primary'));
      expect(down.healthy).toBe(false);
      expect(down.detail).toMatch(/connection refused/);
    } finally {
      await pair.primary.start();
    }
  });

  it('a check that runs out of budget is unhealthy, promptly', async () => {
    const started = Date.now();
    const r = await mysqlCheck.run(mysqlCheck.fromFlags(on('primary')), AbortSignal.timeout(1));
    expect(r.healthy).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a server error that echoes the SQL does not leak the password in it', async () => {
    const s = await pair.replica.session();
    try {
      const secret = pair.primary.replication.password;
      const error = await s
        .query('CHANGE MASTER TO MASTER_PASSWORD ?', [secret], { secrets: [secret] })
        .catch((e: unknown) => e);
      expect((error as Error).message).toMatch(
        /error in your SQL syntax.*\[redacted\].*\[error 1064\] \(CHANGE MASTER\)/,
      );
      expect((error as Error).message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
      expect(error).not.toHaveProperty('sql');
    } finally {
      await s.close();
    }
  });

  it('no password in any process argv', () => {
    expect(argvLeaks(pair.secrets)).toEqual([]);
  });
});
