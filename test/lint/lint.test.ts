/**
 * The broken-spec corpus: each file in broken/ carries the exact errors `hactl lint` must print,
 * as `# expect:` lines, and nothing else may be reported as an error.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { effectivePriority, lintSpec } from '../../src/keepalived/lint.js';
import { LAB_CHECKS, labSpecText } from '../../src/lab/spec.js';
import { loadSpec, parseSpecText } from '../../src/spec/load.js';
import { runInProcess } from '../spec/in-process.js';

const run = promisify(execFile);
const HACTL = resolve('bin/hactl');
const corpus = readdirSync('test/lint/broken').filter((file) => file.endsWith('.yaml'));

async function lint(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(HACTL, ['lint', ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

/**
 * `hactl lint` inside this process, through runCommand as bin/hactl runs it: the corpus is about
 * what lint finds, not about the process, and a spawn costs ~0.6 s under CI load. The tests below
 * that use lint() (exit codes, secrets on stderr, the launcher path) go through the built CLI.
 */
async function lintInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { exitCode, stdout, stderr } = await runInProcess('lint', args);
  return { code: exitCode, stdout, stderr };
}

function expectedErrors(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('# expect: '))
    .map((line) => `error: ${line.slice('# expect: '.length)}`);
}

/** The lab's spec with fencing (nginx and mysql checks), as `lab up --fencing` writes it. */
function fencedLabText(options: { dir: string; fast: boolean; mode: 'scripts' | 'agent' }): string {
  return labSpecText({
    ...options,
    hactl: '/usr/local/bin/hactl',
    specPath: '/tmp/hactl-lab-lint/hactl-lab.yaml',
    failback: 'nopreempt',
    checks: ['nginx', 'mysql'],
    mysql: {
      credentialsFile: '/tmp/hactl-lab-lint/mysql.cnf',
      replicationCredentialsFile: '/tmp/hactl-lab-lint/repl.cnf',
    },
    syncSource: '/tmp/hactl-lab-lint/sync-source',
    fencing: true,
  });
}

describe('hactl lint refuses each trap with the expected message', () => {
  it.each(corpus)('%s', async (file) => {
    const path = `test/lint/broken/${file}`;
    const expected = expectedErrors(path);
    expect(expected.length).toBeGreaterThan(0);
    const { code, stdout } = await lintInProcess(['--spec', path]);
    expect(code).toBe(1);
    const errors = stdout.split('\n').filter((line) => line.startsWith('error: '));
    expect(errors).toEqual(expected);
  });

  it('through the built CLI, a trap prints the same errors and exits 1', async () => {
    const path = `test/lint/broken/${corpus[0]}`;
    const { code, stdout } = await lint(['--spec', path]);
    expect(code).toBe(1);
    expect(stdout.split('\n').filter((line) => line.startsWith('error: '))).toEqual(expectedErrors(path));
    expect(stdout).toBe((await lintInProcess(['--spec', path])).stdout);
  });

  it('every spec under test/render/specs and the bundled example lint clean', async () => {
    for (const file of readdirSync('test/render/specs')) {
      const { code, stdout } = await lintInProcess(['--spec', `test/render/specs/${file}`, '--strict']);
      expect(stdout).toMatch(/0 error\(s\), 0 warning\(s\)/);
      expect(code).toBe(0);
    }
    const bundled = await lint(['--strict']);
    expect(bundled.stdout).toMatch(/example\.yaml: 0 error\(s\), 0 warning\(s\)/);
    expect(bundled.code).toBe(0);
  });

  it('the lab spec lints clean (lab up refuses a spec with lint errors)', () => {
    const text = labSpecText({
      dir: '/tmp/hactl-lab-lint',
      hactl: '/usr/local/bin/hactl',
      specPath: '/tmp/hactl-lab-lint/hactl-lab.yaml',
      failback: 'nopreempt',
      fast: true,
      checks: [...LAB_CHECKS],
      mysql: {
        credentialsFile: '/tmp/hactl-lab-lint/mysql.cnf',
        replicationCredentialsFile: '/tmp/hactl-lab-lint/repl.cnf',
      },
      syncSource: '/tmp/hactl-lab-lint/sync-source',
      // The single-active app as the lab runs it: started by the MASTER, stopped elsewhere.
      app: { start: ['/bin/true'], stop: ['/bin/true'] },
    });
    expect(text).toContain('only_on_master: true');
    for (const failback of ['nopreempt', 'preempt']) {
      const spec = parseSpecText(text.replace('failback: nopreempt', `failback: ${failback}`), 'lab.yaml');
      expect(spec.failback).toBe(failback);
      expect(lintSpec(spec)).toEqual([]);
    }
  });

  // Agent mode with fencing (the witness) is linted by every lab up of test/e2e/fence.test.ts.
  it('the lab spec in script mode with fencing lints clean (chaos --fencing) and demotes on STOP', () => {
    for (const mode of ['scripts'] as const) {
      const text = fencedLabText({ dir: '/tmp/hactl-lab-lint', fast: false, mode });
      const spec = parseSpecText(text, 'lab.yaml');
      expect(spec.fencing?.unreachable).toBe('promote-anyway');
      expect(spec.actions.stop.map((a) => a.type)).toEqual(['mysql.demote']);
      expect(lintSpec(spec)).toEqual([]);
    }
  });

  it('an isolated primary writable beside its promoted peer for over 1 s is a warning, with the fix', () => {
    // Agent mode writes the API token into the lab dir.
    const dir = mkdtempSync(join(tmpdir(), 'hactl-lint-iso-'));
    const labText = (fast: boolean) => fencedLabText({ dir, fast, mode: 'agent' });
    try {
      const isolation = (spec: ReturnType<typeof parseSpecText>) =>
        lintSpec(spec).filter((finding) => finding.path === 'fencing.isolation_timeout');
      // The lab's fast profile (0.1 s adverts, priority 250: takeover 0.3 s; isolation 1 s + 0.1 s).
      const fast = parseSpecText(labText(true), 'lab.yaml');
      expect(fast.fencing?.witness.length).toBeGreaterThan(0);
      expect(isolation(fast)).toEqual([]);
      // Its isolation_timeout before round 14: 1.5 + 0.1 − 0.3 = 1.3 s of overlap.
      const slow = parseSpecText(
        labText(true).replace(/isolation_timeout: 1\b/, 'isolation_timeout: 1.5'),
        'lab.yaml',
      );
      expect(slow.fencing?.isolation_timeout).toBe(1.5);
      const [warning, ...more] = isolation(slow);
      expect(more).toEqual([]);
      expect(warning?.severity).toBe('warning');
      expect(warning?.message).toMatch(
        /up to 1\.6 s after the cut .* after 0\.3 s .* up to 1\.3 s, over 1 s/,
      );
      expect(warning?.message).toMatch(/Lower fencing\.isolation_timeout to 1\.2 or less/);
      // The default profile's 1 s adverts leave 3 s for it.
      expect(isolation(parseSpecText(labText(false), 'lab.yaml'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('strict semi-sync without the witness monitor is a warning: nothing ends a silent peer’s stale dump', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-lint-strict-'));
    const strict = (text: string) => text.replace('mysql:\n', 'mysql:\n  semi_sync: strict\n');
    const wedge = (spec: ReturnType<typeof parseSpecText>) =>
      lintSpec(spec).filter((finding) => finding.path === 'mysql.semi_sync');
    try {
      const scripts = parseSpecText(strict(fencedLabText({ dir, fast: false, mode: 'scripts' })), 'lab.yaml');
      expect(scripts.mysql?.semi_sync).toBe('strict');
      const [warning, ...more] = wedge(scripts);
      expect(more).toEqual([]);
      expect(warning?.severity).toBe('warning');
      expect(warning?.message).toMatch(/wedges MariaDB 10\.11/);
      expect(warning?.message).toMatch(/Set agent\.enabled: true with a fencing\.witness/);
      // The agent with a witness runs the monitor that ends them.
      const agent = parseSpecText(strict(fencedLabText({ dir, fast: false, mode: 'agent' })), 'lab.yaml');
      expect(agent.mysql?.semi_sync).toBe('strict');
      expect(agent.fencing?.witness.length).toBeGreaterThan(0);
      expect(wedge(agent)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('credentials in a check URL and a webhook token never reach the output', async () => {
    for (const file of ['check-params-invalid.yaml', 'webhook-bad-url.yaml']) {
      const { stdout, stderr } = await lint(['--spec', `test/lint/broken/${file}`]);
      expect(stdout).toMatch(/error: /);
      for (const secret of ['hunter2', 'monitor:', 'T0KEN', 's3cr3t']) {
        expect(stdout + stderr).not.toContain(secret);
      }
    }
  });

  it('warnings (here: a real-time VRRP process) exit 0, or 1 with --strict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-lint-'));
    try {
      const spec = join(dir, 'fast.yaml');
      const text = readFileSync('test/lint/broken/advert-not-10ms.yaml', 'utf8').replaceAll(
        'advert_int: 0.015',
        'advert_int: 0.1',
      );
      writeFileSync(spec, text);
      const relaxed = await lint(['--spec', spec]);
      expect(relaxed.stdout).toMatch(/^warning: election.realtime_priority: /m);
      expect(relaxed.code).toBe(0);
      expect((await lint(['--spec', spec, '--strict'])).code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--local reports a hactl path that keepalived script security would refuse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-lint-'));
    try {
      chmodSync(dir, 0o777); // world-writable, not sticky: keepalived refuses scripts below it
      const launcher = join(dir, 'hactl');
      copyFileSync(HACTL, launcher);
      chmodSync(launcher, 0o755);
      const spec = join(dir, 'spec.yaml');
      writeFileSync(
        spec,
        `${readFileSync('test/render/specs/seed001.yaml', 'utf8')}\npaths:\n  hactl: ${launcher}\n`,
      );
      const { code, stdout } = await lint(['--spec', spec, '--local']);
      expect(code).toBe(1);
      expect(stdout).toContain(
        `error: paths.hactl: keepalived's script security would refuse it: ${dir} is writable by group or others (mode 777)`,
      );
      const missing = await lint(['--spec', 'test/render/specs/seed001.yaml', '--local']);
      expect(missing.stdout).toMatch(
        /paths.hactl: .*\/usr\/local\/bin\/hactl does not exist or is not executable/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('priority/weight maths', () => {
  const { spec } = loadSpec('test/render/specs/dual-vip-weighted.yaml');
  const [a, b] = spec.nodes;

  it('adds positive weights while healthy and clamps to 254', () => {
    expect(effectivePriority(spec, a!)).toBe(254); // 200 + 60 clamped
    expect(effectivePriority(spec, b!)).toBe(210);
  });

  it('a failed negative-weight check subtracts, a failed positive one stops adding', () => {
    const web = spec.checks.find((c) => c.name === 'web')!;
    const warm = spec.checks.find((c) => c.name === 'warm')!;
    expect(effectivePriority(spec, a!, web)).toBe(200);
    expect(effectivePriority(spec, a!, warm)).toBe(200);
  });

  it('never goes below 1', () => {
    const low = structuredClone(spec);
    low.nodes[1]!.priority = 10;
    low.checks[0]!.weight = -253;
    expect(effectivePriority(low, low.nodes[1]!, low.checks[0])).toBe(1);
  });

  it('the example specs produce no findings', () => {
    expect(lintSpec(spec)).toEqual([]);
  });
});
