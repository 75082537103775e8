/**
 * `hactl lint --keepalived-conf` on the seeds' own keepalived.conf files (fixtures/, trimmed from
 * ../shared/seeds/) and on a synthetic pair carrying the traps the seeds lack: every trap is
 * reported with its file and line, and a clean pair reports nothing.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { keepalivedComplaints } from '../../src/migrate/keepalived-t.js';
import { parseKeepalivedConf } from '../../src/migrate/parse.js';
import { lintConfs } from '../../src/migrate/rules.js';
import { runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const F = 'test/migrate/fixtures';

interface Finding {
  severity: 'error' | 'warning';
  rule: string;
  file: string;
  line: number | null;
  message: string;
}

/** The rules in-process (fast); the CLI tests below spawn the built bin/hactl. */
async function lint(
  files: string[],
  extra: string[] = ['--no-keepalived-t'],
): Promise<{ exitCode: number; findings: Finding[] }> {
  const confs = files.map((f) => {
    const text = readFileSync(`${F}/${f}`, 'utf8');
    return { parsed: parseKeepalivedConf(`${F}/${f}`, text), text };
  });
  const scriptsAt = extra.indexOf('--scripts-dir');
  const findings = await lintConfs(confs, {
    ...(scriptsAt === -1 ? {} : { scriptsDir: extra[scriptsAt + 1]! }),
    ...(extra.includes('--no-keepalived-t') ? {} : { keepalived: keepalivedComplaints }),
  });
  return {
    exitCode: findings.some((f) => f.severity === 'error') ? 1 : 0,
    findings: findings.map((f) => ({ ...f, line: f.line ?? null })),
  };
}

async function lintCli(
  files: string[],
  extra: string[] = ['--no-keepalived-t'],
): Promise<{ exitCode: number; findings: Finding[] }> {
  const result = await runHactl([
    'lint',
    '--json',
    '--keepalived-conf',
    ...files.map((f) => `${F}/${f}`),
    ...extra,
  ]);
  expect(result.stderr).toBe('');
  const report = JSON.parse(result.stdout) as { findings: Finding[]; errors: number };
  expect(report.errors).toBe(report.findings.filter((f) => f.severity === 'error').length);
  return { exitCode: result.exitCode, findings: report.findings };
}

const at = (findings: Finding[], rule: string, file: string, line: number | null) =>
  findings.filter((f) => f.rule === rule && f.file === `${F}/${file}` && f.line === line);

describe('seed 004: the second node spells rrp_sync_group', () => {
  it('names the misspelled block, suggests vrrp_sync_group and says what it costs', async () => {
    const { exitCode, findings } = await lintCli(['seed004-server1.conf', 'seed004-server2.conf']);
    expect(exitCode).toBe(1);
    const [typo] = at(findings, 'unknown-keyword', 'seed004-server2.conf', 1);
    expect(typo?.message).toMatch(/no block "rrp_sync_group": did you mean "vrrp_sync_group"\?/);
    expect(typo?.message).toMatch(/no sync group at all/);
    // …and the nodes now disagree: one has the group, the other none.
    expect(at(findings, 'nodes-disagree', 'seed004-server2.conf', null)[0]?.message).toMatch(
      /has vrrp_sync_group VG_1 \(line 1\) but .*seed004-server2\.conf has none/,
    );
    // The VIP is /24 on server1 and bare (/32) on server2.
    expect(at(findings, 'nodes-disagree', 'seed004-server2.conf', 19)[0]?.message).toMatch(
      /192\.168\.1\.150 is \/24 .* but \/32 here/,
    );
  });
});

describe('seed 002: two stray braces', () => {
  it('reports each extra } with its line', async () => {
    const a = await lint(['seed002-a.conf']);
    expect(at(a.findings, 'syntax', 'seed002-a.conf', 25)[0]?.message).toMatch(/an extra '}'/);
    const scripts = await lint(['seed002-a-scripts.conf']);
    expect(at(scripts.findings, 'syntax', 'seed002-a-scripts.conf', 38)[0]?.message).toMatch(/an extra '}'/);
    expect(a.exitCode).toBe(1);
  });

  it('a block never closed is reported at the line that opened it', async () => {
    const { findings } = await lint(['unclosed.conf']);
    expect(at(findings, 'syntax', 'unclosed.conf', 5)[0]?.message).toMatch(
      /vrrp_instance VI_1 opened here is never closed/,
    );
  });
});

describe('seed 001: the check script always exits 0', () => {
  it('reads the script (found by name under --scripts-dir) and says it can never fail', async () => {
    const { exitCode, findings } = await lint(
      ['seed001-master.conf', 'seed001-backup.conf'],
      ['--no-keepalived-t', '--scripts-dir', `${F}/seed001-scripts`],
    );
    expect(exitCode).toBe(1);
    for (const file of ['seed001-master.conf', 'seed001-backup.conf']) {
      expect(at(findings, 'check-cannot-fail', file, 3)[0]?.message).toMatch(
        /check_nginx_pid\.sh .*never exits with a failing status/,
      );
    }
  });

  it('without the script at hand nothing is claimed about it', async () => {
    const { findings } = await lint(['seed001-master.conf', 'seed001-backup.conf']);
    expect(findings.filter((f) => f.rule === 'check-cannot-fail')).toEqual([]);
  });
});

describe('synthetic pair: the traps the seeds do not carry', () => {
  const files = ['traps-node1.conf', 'traps-node2.conf'];
  let result: { exitCode: number; findings: Finding[] };
  beforeAll(async () => {
    result = await lint(files, ['--no-keepalived-t', '--scripts-dir', `${F}/trap-scripts`]);
  });

  it.each([
    [
      'nopreempt-under-master',
      'traps-node1.conf',
      31,
      /nopreempt under state MASTER .*keepalived ignores nopreempt/,
    ],
    [
      'auth-pass-too-long',
      'traps-node1.conf',
      38,
      /auth_pass is 13 characters; keepalived uses only the first 8/,
    ],
    [
      'sync-group-drops-weight',
      'traps-node1.conf',
      58,
      /in vrrp_sync_group DB .* weight -30: keepalived 2\.2\.7 drops/,
    ],
    ['check-cannot-fail', 'traps-node1.conf', 7, /`\/bin\/true` always exits 0/],
    ['check-cannot-fail', 'traps-node1.conf', 13, /`exit 0` is a shell built-in/],
    ['check-cannot-fail', 'traps-node1.conf', 19, /always-ok\.sh .*ends in `exit 0`/],
    [
      'unknown-keyword',
      'traps-node2.conf',
      22,
      /no keyword "priorty" inside vrrp_instance: did you mean "priority"\?/,
    ],
    ['nodes-disagree', 'traps-node2.conf', 21, /virtual_router_id is 51 on one node and 52 on the other/],
    ['nodes-disagree', 'traps-node2.conf', 29, /disagree on the VIPs .*192\.0\.2\.50.*192\.0\.2\.51/],
    ['nodes-disagree', 'traps-node2.conf', 26, /authentication differs/],
    [
      'weight-cannot-flip',
      'traps-node1.conf',
      44,
      /weight -20, but the priorities are 150 here and 100 .*gap 50/,
    ],
  ] as const)('%s at %s:%i', async (rule, file, line, message) => {
    const { exitCode, findings } = result;
    expect(exitCode).toBe(1);
    const found = at(findings, rule, file, line);
    expect(found, JSON.stringify(findings, null, 2)).toHaveLength(1);
    expect(found[0]!.message).toMatch(message);
  });

  it('no secret reaches the output: the passwords that differ are not printed', async () => {
    const result = await runHactl([
      'lint',
      '--keepalived-conf',
      `${F}/traps-node1.conf`,
      `${F}/traps-node2.conf`,
      '--no-keepalived-t',
    ]);
    expect(result.stdout).not.toMatch(/longpass|otherpw/);
    expect(result.stdout).toMatch(/11 error\(s\), 1 warning\(s\)\n$/);
  });

  it('a script that can fail is not reported', async () => {
    const { findings } = await lint(
      ['real-check.conf'],
      ['--no-keepalived-t', '--scripts-dir', `${F}/trap-scripts`],
    );
    expect(findings).toEqual([]);
  });
});

describe('exit codes and flags', () => {
  it('a missing file exits 2 and names it; --spec with --keepalived-conf is a usage error', async () => {
    const missing = await runHactl(['lint', '--keepalived-conf', `${F}/nope.conf`]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(
      /--keepalived-conf test\/migrate\/fixtures\/nope\.conf cannot be read: it does not exist/,
    );
    const both = await runHactl(['lint', '--spec', 'x.yaml', '--keepalived-conf', `${F}/clean-node1.conf`]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toMatch(/exclude each other/);
  });

  it('warnings alone exit 0, and 1 with --strict', async () => {
    const plain = await runHactl(['lint', '--keepalived-conf', `${F}/long-pass.conf`, '--no-keepalived-t']);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toMatch(/warning: .*long-pass\.conf:\d+: .*auth_pass is 12 characters/);
    const strict = await runHactl([
      'lint',
      '--keepalived-conf',
      `${F}/long-pass.conf`,
      '--no-keepalived-t',
      '--strict',
    ]);
    expect(strict.exitCode).toBe(1);
  });
});

const missing = requirementsMissing({ programs: ['keepalived'] });

describe.skipIf(missing)(titled('with the installed keepalived -t', missing), () => {
  it('seed 002: the options keepalived 2.2.7 rejects are reported with their lines', async () => {
    const { findings } = await lint(['seed002-a.conf', 'seed002-b.conf'], []);
    for (const file of ['seed002-a.conf', 'seed002-b.conf']) {
      expect(at(findings, 'keepalived-rejects', file, 6).map((f) => f.message)).toContain(
        "the installed keepalived says: vrrp_garp_interval '0' is invalid",
      );
      expect(at(findings, 'keepalived-rejects', file, 7).map((f) => f.message)).toContain(
        "the installed keepalived says: vrrp_gna_interval '0' is invalid",
      );
    }
    // The stray } is explained once, by our rule, not again as keepalived's "Unknown keyword '}'".
    expect(
      findings.filter((f) => f.line === 25 && f.file.endsWith('seed002-a.conf')).map((f) => f.rule),
    ).toEqual(['syntax']);
  });

  it('a clean pair reports nothing at all', async () => {
    const { exitCode, findings } = await lint(['clean-node1.conf', 'clean-node2.conf'], []);
    expect(findings).toEqual([]);
    expect(exitCode).toBe(0);
  });
});
