// `hactl check mysql|replication` through the BUILT CLI against a real MariaDB pair: exit codes,
// one-line reasons, no password in argv or output, and --help texts good enough for a vrrp_script.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHactl } from '../support/cli.js';
import { createReplicatedTable, startPair, type Pair } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

describe('hactl check mysql|replication --help', () => {
  it.each([
    ['mysql', ['--defaults-file', '--host', '--port', '--socket', '--expect-role']],
    [
      'replication',
      ['--defaults-file', '--host', '--port', '--socket', '--max-lag', '--allow-connecting', '--caught-up'],
    ],
  ])('%s --help names its flags, no --password, and shows a vrrp_script block', async (kind, flags) => {
    const run = await runHactl(['check', kind, '--help']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^hactl check ${kind} `));
    for (const flag of [...flags, '--timeout', '--quiet', '--log-file']) expect(run.stdout).toContain(flag);
    expect(run.stdout).not.toMatch(/^\s+--password/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `vrrp_script \\w+ \\{\\n\\s+script "/usr/local/bin/hactl check ${kind} [^"]*--timeout [\\d.]+ --quiet"\\n\\s+interval \\d+\\n\\s+timeout \\d+`,
      ),
    );
  });

  it.each([
    [['mysql'], /needs --defaults-file/],
    [['mysql', '--defaults-file', '/x.cnf', '--password', 'secret'], /Unknown option '--password'/],
    [['mysql', '--defaults-file', '/x.cnf', '--expect-role', 'leader'], /--expect-role "leader"/],
    [['replication', '--defaults-file', '/x.cnf', '--max-lag', 'soon'], /--max-lag "soon"/],
    [
      ['mysql', '--defaults-file', '/nonexistent/hactl.cnf'],
      /cannot read credentials file \/nonexistent\/hactl.cnf/,
    ],
  ])('%j → exit 2', async (args, message) => {
    const run = await runHactl(['check', ...args]);
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

describe.skipIf(missing)(titled('hactl check mysql|replication against real MariaDB', missing), () => {
  let pair: Pair;
  const cmdlines: string[] = [];
  beforeAll(async () => {
    pair = await startPair();
    await createReplicatedTable(pair);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  const check = (kind: string, server: 'primary' | 'replica', extra: string[] = [], defaultsFile?: string) =>
    runHactl(
      [
        'check',
        kind,
        '--defaults-file',
        defaultsFile ?? pair[server].admin.defaultsFile,
        '--host',
        '127.0.0.1',
        '--port',
        String(pair[server].port),
        '--timeout',
        '3',
        ...extra,
      ],
      {
        onSpawn: (pid) => {
          try {
            cmdlines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
          } catch {
            /* exited already */
          }
        },
      },
    );

  it('mysql: up → 0, role mismatch → 1 with the reason on stderr', async () => {
    const up = await check('mysql', 'primary', ['--expect-role', 'primary']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^ok mysql: MariaDB .* is up, read_only=OFF \(primary\)\n$/);
    console.log(`hactl check mysql took ${up.durationMs} ms`);
    const quiet = await check('mysql', 'replica', ['--expect-role', 'replica', '--quiet']);
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stdout).toBe('');
    const wrong = await check('mysql', 'replica', ['--expect-role', 'primary']);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/read-only \(read_only=ON\), expected a writable primary/);
  });

  it('mysql: wrong password → 1, and the password appears nowhere', async () => {
    const wrong = `N0tThe'Pass${process.pid}`;
    const file = join(pair.dir, 'wrong-cli.cnf');
    writeFileSync(file, `[client]\nuser=hactl_admin\npassword="${wrong}"\n`, { mode: 0o600 });
    const run = await check('mysql', 'primary', [], file);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/Access denied for user 'hactl_admin'/);
    expect(run.stderr + run.stdout).not.toContain(wrong);
    for (const secret of pair.secrets) expect(run.stderr + run.stdout).not.toContain(secret);
  });

  it('mysql: a credentials file others can read → 2 with the fix', async () => {
    const file = join(pair.dir, 'readable.cnf');
    writeFileSync(file, readFileSync(pair.primary.admin.defaultsFile), { mode: 0o644 });
    const run = await check('mysql', 'primary', [], file);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/chmod 600/);
  });

  it('replication: healthy and caught up → 0; stopped SQL thread → 1; on the primary → 1', async () => {
    const ok = await check('replication', 'replica', ['--max-lag', '10', '--caught-up']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/caught up/);
    console.log(`hactl check replication took ${ok.durationMs} ms`);
    const s = await pair.replica.session();
    try {
      await s.query('STOP SLAVE SQL_THREAD');
      const stopped = await check('replication', 'replica');
      expect(stopped.exitCode).toBe(1);
      expect(stopped.stderr).toMatch(/SQL thread is stopped/);
    } finally {
      await s.query('START SLAVE SQL_THREAD');
      await s.close();
    }
    const primary = await check('replication', 'primary');
    expect(primary.exitCode).toBe(1);
    expect(primary.stderr).toMatch(/not a replica/);
  });

  it('mysql: server down → 1 within the budget', async () => {
    await pair.primary.stop();
    try {
      const run = await check('mysql', 'primary');
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toMatch(/connection refused/);
      expect(run.durationMs).toBeLessThan(3000);
      const repl = await check('replication', 'replica', ['--allow-connecting']);
      expect(repl.exitCode, repl.stderr).toBe(0);
    } finally {
      await pair.primary.start();
    }
  });

  it('no password in the argv of the checks we ran', () => {
    expect(cmdlines.length).toBeGreaterThan(0);
    for (const cmdline of cmdlines) for (const secret of pair.secrets) expect(cmdline).not.toContain(secret);
  });
});
