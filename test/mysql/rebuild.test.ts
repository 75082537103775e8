/**
 * `hactl rebuild` through the built CLI against two real MariaDB servers (127.0.0.2 = ha1, the
 * primary; 127.0.0.3 = ha2, the standby) that replicate with GTIDs: the standby is made to diverge
 * on purpose (a write while its replication is stopped), then every refusal is shown to change
 * nothing, and the confirmed rebuild ends with the standby replicating, holding every row of the
 * primary and not the diverged one, the diverged transaction in the saved binlogs, and no password
 * in any argv, output or log line. Run through the lab lock (it starts MariaDB).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initMariadb, startReplication, type MariadbServer } from '../../src/lab/mariadb.js';
import { connectWith, type MysqlSession } from '../../src/mysql/connection.js';
import { renderClientSection } from '../../src/mysql/option-file.js';
import { runHactl } from '../support/cli.js';
import { argvLeaks, freePort, until } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

/** The rebuilt node is ha2: its marker, named like its lineage record. */
const MARKER = 'ha2.rebuild-in-progress.json';

const missing = requirementsMissing({
  root: true,
  programs: ['mariadbd', 'mariadb-install-db', 'mariadb-dump', 'mariadb', 'mariadb-binlog'],
});

describe.skipIf(missing)(titled('hactl rebuild against real MariaDB', missing), () => {
  let dir: string;
  let stateDir: string;
  const servers: MariadbServer[] = [];
  const sessions: MysqlSession[] = [];
  let primary: MariadbServer;
  let standby: MariadbServer;
  let p: MysqlSession;
  let s: MysqlSession;
  let adminPassword: string;
  let secrets: string[] = [];
  let specPath: string;
  let vipSpecPath: string;
  let diverged: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `hactl-rebuild-${process.pid}-`));
    stateDir = join(dir, 'state');
    // One port for both (the spec has one mysql.port), two loopback addresses for two nodes.
    const port = await freePort();
    primary = await initMariadb({
      dir: join(dir, 'a'),
      port,
      serverId: 1,
      readOnly: false,
      bindAddress: '127.0.0.2',
    });
    servers.push(primary);
    standby = await initMariadb({
      dir: join(dir, 'b'),
      port,
      serverId: 2,
      readOnly: true,
      bindAddress: '127.0.0.3',
    });
    servers.push(standby);
    await startReplication(standby, { host: primary.host, port, account: primary.replication });
    // The spec's admin account is the same on both nodes, as in a real pair.
    adminPassword = primary.admin.password;
    const root = await connectWith({ user: 'root', socket: standby.socket }, { timeoutMs: 5000 });
    await root.query('SET SESSION sql_log_bin = 0');
    await root.query("ALTER USER 'hactl_admin'@'%' IDENTIFIED BY ?", [adminPassword], {
      secrets: [adminPassword],
    });
    await root.close();
    secrets = [primary, standby].flatMap((m) => [m.admin.password, m.replication.password, m.app.password]);

    const admin = join(dir, 'admin.cnf');
    const repl = join(dir, 'repl.cnf');
    writeFileSync(admin, renderClientSection({ user: 'hactl_admin', password: adminPassword }), {
      mode: 0o600,
    });
    writeFileSync(
      repl,
      renderClientSection({ user: primary.replication.user, password: primary.replication.password }),
      { mode: 0o600 },
    );
    const spec = (vip: string) => `version: 1
cluster: rb
nodes:
  - { name: ha1, priority: 150, networks: { lan: { interface: lo, address: 127.0.0.2 } } }
  - { name: ha2, priority: 120, networks: { lan: { interface: lo, address: 127.0.0.3 } } }
vips: [{ name: lan, address: ${vip}, network: lan, virtual_router_id: 51 }]
paths: { runtime_dir: ${dir}/run, state_dir: ${stateDir} }
mysql: { credentials_file: ${admin}, socket: ${standby.socket}, port: ${port}, replication_credentials_file: ${repl} }
`;
    specPath = join(dir, 'pair.yaml');
    writeFileSync(specPath, spec('192.0.2.50/24'));
    // 127.0.0.1 is on this machine's lo: with it as the VIP, this node "holds" it.
    vipSpecPath = join(dir, 'vip-here.yaml');
    writeFileSync(vipSpecPath, spec('127.0.0.1/8'));
    mkdirSync(stateDir, { recursive: true });

    p = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: primary.socket },
      { timeoutMs: 5000 },
    );
    s = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: standby.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(p, s);
    await p.query('CREATE TABLE app.t (id INT PRIMARY KEY, v INT)');
    await p.query('INSERT INTO app.t VALUES (1, 1), (2, 2), (3, 3)');
    await p.query('CREATE EVENT app.e ON SCHEDULE EVERY 1 DAY DO DELETE FROM app.t WHERE id < 0');
    await until(
      'rows replicated',
      async () =>
        Number((await s.query('SELECT COUNT(*) AS n FROM app.t').catch(() => [{ n: 0 }]))[0]?.n) === 3,
    );
    // Divergence on purpose: a write on the standby while its replication is stopped.
    await s.query('STOP SLAVE');
    await s.query('SET GLOBAL read_only = 0');
    await s.query('INSERT INTO app.t VALUES (1000, -1)');
    await s.query('SET GLOBAL read_only = 1');
    diverged = String((await s.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    expect(diverged).toMatch(/^0-2-\d+$/);
    await p.query('INSERT INTO app.t VALUES (4, 4), (5, 5)');
  }, 120_000);

  afterAll(async () => {
    for (const x of sessions) await x.close().catch(() => undefined);
    for (const m of servers) await m.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What a refused or dry run must leave exactly as it was. */
  async function standbyState(): Promise<string> {
    const g = (
      await s.query(
        'SELECT @@GLOBAL.gtid_binlog_state AS b, @@GLOBAL.gtid_slave_pos AS sp, @@GLOBAL.read_only AS ro',
      )
    )[0];
    const rows = (await s.query('SELECT id FROM app.t ORDER BY id')).map((r) => Number(r.id));
    const io = (await s.query('SHOW SLAVE STATUS'))[0]?.Slave_SQL_Running;
    return JSON.stringify({ g, rows, io });
  }

  function noSecretIn(text: string): void {
    for (const secret of secrets) expect(text.includes(secret), 'a password leaked').toBe(false);
  }

  it.each([
    ['this node holds a VIP', ['--discard', 'X'], true, /holds the VIP\(s\) 127\.0\.0\.1/],
    ['--discard is missing', [], false, /--discard is missing/],
    ['--discard names another GTID', ['--discard', '0-2-999'], false, /is not what this node holds/],
    ['--discard lists one too many', ['--discard', 'DIVERGED,0-1-1'], false, /is not what this node holds/],
  ])('refuses when %s, prints the actual list, changes nothing', async (_what, flags, vip, reason) => {
    const before = await standbyState();
    const args = flags.map((f) => f.replace('DIVERGED', diverged).replace(/^X$/, diverged));
    const run = await runHactl(
      ['rebuild', '--spec', vip ? vipSpecPath : specPath, '--node', 'ha2', ...args],
      {
        timeoutMs: 30_000,
      },
    );
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/nothing changed/);
    if (!vip) expect(run.stderr).toContain(`--discard ${diverged}`);
    noSecretIn(run.stdout + run.stderr);
    expect(await standbyState()).toBe(before);
    expect(readdirSync(stateDir).filter((f) => f.startsWith('discarded-'))).toEqual([]);
  });

  it('--dry-run prints the plan and what it would discard, and changes nothing', async () => {
    const before = await standbyState();
    const run = await runHactl(
      ['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', diverged, '--dry-run'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`discarding 1 transaction(s): ${diverged}`);
    expect(run.stdout).toMatch(/dry run: nothing changed/);
    expect(await standbyState()).toBe(before);
    expect(readdirSync(stateDir).filter((f) => f.startsWith('discarded-'))).toEqual([]);
  });

  it('rebuilds: replicating, every primary row, the diverged row gone, its GTID saved, no password anywhere', async () => {
    const primaryPosition = String((await p.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    let running = true;
    const leaks: string[] = [];
    const runPromise = runHactl(
      ['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', diverged, '--json', '--timeout', '120'],
      { timeoutMs: 150_000 },
    ).finally(() => (running = false));
    // Sample every process's argv while the rebuild's children (mariadb-dump, mariadb) run.
    for (let i = 0; i < 6000 && running; i++) {
      leaks.push(...argvLeaks(secrets));
      await sleep(25);
    }
    const run = await runPromise;
    expect(run.exitCode, run.stderr).toBe(0);
    expect(leaks).toEqual([]);
    noSecretIn(run.stdout + run.stderr);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
      result: string;
      discarded: string[];
      savedBinlogDir: string;
      savedFiles: string[];
      bytesCopied: number;
      dumpPosition: string;
      spawned: string[][];
      replication: { io: string; sql: boolean } | null;
    };
    expect(report.result).toBe('rebuilt');
    expect(report.discarded).toEqual([diverged]);
    expect(report.bytesCopied).toBeGreaterThan(1000);
    // The copy carried the primary's position and set gtid_slave_pos to it.
    expect(report.dumpPosition).toBe(primaryPosition);
    expect(readdirSync(stateDir)).not.toContain(MARKER);
    expect(report.spawned.map((a) => a[0])).toEqual(['mariadb-dump', 'mariadb']);
    noSecretIn(JSON.stringify(report.spawned));
    expect(report.spawned.every((argv) => argv[1]!.startsWith('--defaults-file='))).toBe(true);

    // The re-point ends every client session of the standby (demote()): this test's too.
    s = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: standby.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(s);
    // Replicating from the primary, without error, still read-only.
    await until('both threads run', async () => {
      const row = (await s.query('SHOW SLAVE STATUS'))[0];
      return row?.Slave_IO_Running === 'Yes' && row?.Slave_SQL_Running === 'Yes';
    });
    const status = (await s.query('SHOW SLAVE STATUS'))[0]!;
    expect(Number(status.Last_IO_Errno)).toBe(0);
    expect(Number(status.Last_SQL_Errno)).toBe(0);
    expect(String(status.Master_Host)).toBe('127.0.0.2');
    expect(String(status.Using_Gtid)).toBe('Slave_Pos');
    expect(Number((await s.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    // The load logged nothing of its own (sql_log_bin=0): no GTID of this server (id 2) is left.
    const state = String((await s.query('SELECT @@GLOBAL.gtid_binlog_state AS b'))[0]?.b);
    expect(state.split(',').filter((g) => /^\d+-2-/.test(g))).toEqual([]);
    // The primary's event came with the copy, but does not run on a replica.
    expect(
      (await s.query("SELECT STATUS AS st FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'app'")).map(
        (r) => r.st,
      ),
    ).toEqual(['SLAVESIDE_DISABLED']);
    // The lineage record no longer says diverged: a later promotion of this node is judged afresh.
    const lineage = JSON.parse(readFileSync(join(stateDir, 'ha2.lineage.json'), 'utf8')) as {
      primary: string;
      following: boolean;
      diverged: string[];
    };
    expect(lineage).toMatchObject({ primary: 'ha1', following: true, diverged: [] });
    // Every row of the primary, the diverged one gone; a new write arrives too (strict mode holds).
    await p.query('INSERT INTO app.t VALUES (6, 6)');
    const want = (await p.query('SELECT id FROM app.t ORDER BY id')).map((r) => Number(r.id));
    expect(want).toEqual([1, 2, 3, 4, 5, 6]);
    await until(
      'new write replicated',
      async () =>
        JSON.stringify((await s.query('SELECT id FROM app.t ORDER BY id')).map((r) => Number(r.id))) ===
        JSON.stringify(want),
    );
    // The diverged transaction is in the saved binlogs, readable with mariadb-binlog.
    expect(report.savedFiles.length).toBeGreaterThan(0);
    const shown = await execa(
      'mariadb-binlog',
      report.savedFiles.map((f) => join(report.savedBinlogDir, f)),
      { timeout: 30_000 },
    );
    expect(shown.stdout).toContain(`GTID ${diverged}`);
    expect(readdirSync(report.savedBinlogDir)).toContain('DISCARDED.txt');
    // A second run finds nothing to discard and refuses.
    const again = await runHactl(['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', diverged], {
      timeoutMs: 30_000,
    });
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(/nothing has diverged/);
  }, 180_000);

  it('a step that fails says which, leaves the node read-only, and a second run resumes it', async () => {
    await s.query('STOP SLAVE');
    await s.query('SET GLOBAL read_only = 0');
    await s.query('INSERT INTO app.t VALUES (2000, -2)');
    await s.query('SET GLOBAL read_only = 1');
    const second = String((await s.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    await p.query('INSERT INTO app.t VALUES (7, 7)');
    // A wrong replication password: everything up to the re-point works, the re-point cannot.
    const badRepl = join(dir, 'bad-repl.cnf');
    writeFileSync(
      badRepl,
      renderClientSection({ user: primary.replication.user, password: 'wrong-password' }),
      {
        mode: 0o600,
      },
    );
    const badSpec = join(dir, 'bad.yaml');
    writeFileSync(
      badSpec,
      readFileSync(specPath, 'utf8').replace(
        /replication_credentials_file: [^ }]+/,
        `replication_credentials_file: ${badRepl}`,
      ),
    );
    const failed = await runHactl(['rebuild', '--spec', badSpec, '--node', 'ha2', '--discard', second], {
      timeoutMs: 120_000,
    });
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(/rebuild failed at step repoint/);
    expect(failed.stderr).toMatch(/State: read-only, data copied from the primary/);
    noSecretIn(failed.stdout + failed.stderr);
    s = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: standby.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(s);
    expect(Number((await s.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    expect(readdirSync(stateDir)).toContain(MARKER);
    // The binlog state no longer shows the discarded GTID; the marker does, and the run resumes.
    const resumed = await runHactl(['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', second], {
      timeoutMs: 120_000,
    });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming the rebuild/);
    s = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: standby.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(s);
    const want = (await p.query('SELECT id FROM app.t ORDER BY id')).map((r) => Number(r.id));
    await until(
      'rows equal the primary',
      async () =>
        JSON.stringify((await s.query('SELECT id FROM app.t ORDER BY id')).map((r) => Number(r.id))) ===
        JSON.stringify(want),
    );
    expect(want).not.toContain(2000);
    expect(readdirSync(stateDir)).not.toContain(MARKER);
  }, 240_000);

  it('a copy that outlives --timeout is killed, named, and a second run resumes', async () => {
    await s.query('STOP SLAVE');
    await s.query('SET GLOBAL read_only = 0');
    await s.query('INSERT INTO app.t VALUES (3000, -3)');
    await s.query('SET GLOBAL read_only = 1');
    const third = String((await s.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    // A table lock on the primary holds mariadb-dump at app.t for as long as it is kept.
    const locker = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: primary.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(locker);
    await locker.query('LOCK TABLES app.t WRITE');
    const slow = await runHactl(
      ['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', third, '--timeout', '10'],
      { timeoutMs: 60_000 },
    );
    await locker.query('UNLOCK TABLES');
    expect(slow.exitCode, slow.stderr).toBe(1);
    expect(slow.stderr).toMatch(
      /rebuild failed at step copy-primary: mariadb-dump failed: killed at the --timeout budget/,
    );
    expect(slow.stderr).toMatch(/State: read-only, replication stopped/);
    expect(slow.durationMs).toBeLessThan(30_000);
    // Neither child outlived the command.
    expect(argvLeaks(['--single-transaction', '--init-command=SET SESSION sql_log_bin=0'])).toEqual([]);
    s = await connectWith(
      { user: 'hactl_admin', password: adminPassword, socket: standby.socket },
      { timeoutMs: 5000 },
    );
    sessions.push(s);
    expect(Number((await s.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    const resumed = await runHactl(['rebuild', '--spec', specPath, '--node', 'ha2', '--discard', third], {
      timeoutMs: 120_000,
    });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming the rebuild/);
  }, 180_000);
});
