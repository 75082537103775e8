// `hactl check mysql|replication` through the BUILT CLI against a real MariaDB pair: exit codes,
// one-line reasons, no password in argv or output, and --help texts good enough for a vrrp_script.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/processes.js';
import { runHactl } from '../support/cli.js';
import { argvLeaks, createReplicatedTable, startPair, type Pair } from '../support/mariadb-pair.js';
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
  beforeAll(async () => {
    pair = await startPair();
    await createReplicatedTable(pair);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  const check = (
    kind: string,
    server: 'primary' | 'replica',
    extra: string[] = [],
    defaultsFile?: string,
    options: { port?: number; onSpawn?: (pid: number) => void } = {},
  ) =>
    runHactl(
      [
        'check',
        kind,
        '--defaults-file',
        defaultsFile ?? pair[server].admin.defaultsFile,
        '--host',
        '127.0.0.1',
        '--port',
        String(options.port ?? pair[server].port),
        '--timeout',
        '3',
        ...extra,
      ],
      options.onSpawn ? { onSpawn: options.onSpawn } : {},
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

  it('no password in the argv of a check, or of anything it starts, sampled while it works', async () => {
    // A relay in front of the primary holds the server greeting until the sampler has seen the
    // check process (after exec, with its credentials read) several times; then it passes the
    // bytes through, so the check really logs in with the password from the file.
    const samples: string[] = [];
    let checkPid = 0;
    const seenWorking = () => samples.filter((s) => s.includes(' check mysql ')).length >= 5;
    const relay = createServer((client) => {
      void waitFor('samples of the running check', seenWorking, { timeoutMs: 10_000, everyMs: 20 }).then(
        () => {
          const upstream = connect(pair.primary.port, '127.0.0.1');
          client.pipe(upstream).pipe(client);
          upstream.on('error', () => client.destroy());
          client.on('error', () => upstream.destroy());
        },
        () => client.destroy(),
      );
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    // Its own tree (children of a check stay in it), and every process on the machine for one that
    // was started detached.
    const leaks = new Set<string>();
    const sampler = setInterval(() => {
      if (checkPid === 0) return;
      samples.push(...processTree(checkPid).map(({ cmdline }) => cmdline));
      for (const leak of argvLeaks(pair.secrets)) leaks.add(leak);
    }, 10);
    try {
      const run = await check('mysql', 'primary', ['--expect-role', 'primary'], undefined, {
        port: (relay.address() as AddressInfo).port,
        onSpawn: (pid) => (checkPid = pid),
      });
      expect(run.exitCode, run.stderr).toBe(0);
    } finally {
      clearInterval(sampler);
      relay.close();
    }
    expect(seenWorking()).toBe(true);
    expect([...leaks]).toEqual([]);
    for (const sample of samples) for (const secret of pair.secrets) expect(sample).not.toContain(secret);

    // The sampler does see a password in a child's argv: a stand-in process that carries one.
    const secret = pair.primary.admin.password;
    const leaky = spawn('/bin/sh', ['-c', 'sleep 30', 'sh', secret], { stdio: 'ignore', detached: true });
    try {
      await waitFor('the stand-in to run', () => processTree(leaky.pid!).length > 0, { timeoutMs: 5000 });
      expect(processTree(leaky.pid!).some(({ cmdline }) => cmdline.includes(secret))).toBe(true);
    } finally {
      process.kill(-leaky.pid!, 'SIGKILL');
    }
  });
});

/** `root` and every process descended from it, with their command lines (NUL → space). */
function processTree(root: number): { pid: number; cmdline: string }[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      /* gone */
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parents.get(p) ?? 0, hops++)
      if (p === root) return true;
    return false;
  };
  const found: { pid: number; cmdline: string }[] = [];
  for (const pid of parents.keys()) {
    if (!inTree(pid)) continue;
    try {
      found.push({ pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ') });
    } catch {
      /* gone */
    }
  }
  return found;
}
