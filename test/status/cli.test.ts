// `hactl status` through the built CLI: every example of its --help runs as written (with a spec
// of ours, and --node where the example relies on the hostname) and prints what it promises; the
// flags it refuses exit 2. The spec has no mysql section, so nothing leaves this host.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PairStatus } from '../../src/status/types.js';
import { runHactl } from '../support/cli.js';
import { parseExposition } from './exposition.js';

let dir: string;
let specPath: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), `hactl-status-${process.pid}-`));
  specPath = join(dir, 'pair.yaml');
  writeFileSync(
    specPath,
    `version: 1
cluster: web
nodes:
  - { name: ha1, priority: 150, networks: { lan: { interface: eth0, address: 192.0.2.11 } } }
  - { name: ha2, priority: 120, networks: { lan: { interface: eth0, address: 192.0.2.12 } } }
vips: [{ name: lan, address: 192.0.2.50/24, network: lan, virtual_router_id: 51 }]
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The example commands of the help text, as argv after `hactl`, and where stdout goes. */
function examples(help: string): { argv: string[]; redirect: string | undefined }[] {
  const block = help.slice(help.indexOf('Examples:'), help.indexOf('\n\n', help.indexOf('Examples:')));
  return block
    .split('\n')
    .slice(1)
    .map((line) => {
      const [command, redirect] = line.trim().split(' > ');
      const words = command!.split(/\s+/);
      expect(words.slice(0, 2)).toEqual(['hactl', 'status']);
      return { argv: words.slice(1), redirect };
    });
}

describe('hactl status (CLI)', () => {
  it('every --help example runs and prints its format', async () => {
    const help = await runHactl(['status', '--help']);
    expect(help.exitCode).toBe(0);
    const list = examples(help.stdout);
    expect(list.length).toBeGreaterThanOrEqual(3);
    for (const { argv, redirect } of list) {
      const args = [...argv, '--spec', specPath, ...(argv.includes('--node') ? [] : ['--node', 'ha1'])];
      const run = await runHactl(args);
      expect(run.exitCode, `${args.join(' ')}\n${run.stderr}`).toBe(0);
      if (argv.includes('--json')) {
        const report = JSON.parse(run.stdout) as PairStatus;
        expect(report).toMatchObject({ format: 1, cluster: 'web', verdict: 'healthy' });
        expect(report.observed_from).toBe(argv[argv.indexOf('--node') + 1]);
      } else if (argv.includes('--prometheus')) {
        expect(redirect).toMatch(/\.prom$/);
        expect(parseExposition(run.stdout).find((s) => s.name === 'hactl_pair_healthy')?.value).toBe(1);
      } else {
        expect(run.stdout).toMatch(/^cluster web, seen from ha1 at .*: HEALTHY\n/);
      }
    }
  }, 60_000);

  it.each([
    [['--json', '--prometheus'], /exclude each other/],
    [['--timeout', '61'], /--timeout 61 is not a number of seconds in 0.5..60/],
    [['--timeout', 'soon'], /--timeout soon/],
    [['--node', 'ha9'], /--node "ha9" is not in the spec/],
    [['extra'], /Unexpected argument 'extra'/],
  ])('%j exits 2', async (flags, message) => {
    const run = await runHactl(['status', '--spec', specPath, ...flags]);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });
});
