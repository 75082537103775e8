// The vrrp_script examples in `hactl check --help` and `hactl check <kind> --help` are what
// render-config writes for the same spec check: the sample checks go through a real spec (zod
// defaults and all) and the real renderer, and each help block must appear in the output verbatim.
import { describe, expect, it } from 'vitest';
import { EXAMPLE_CHECKS } from '../../src/checks/examples.js';
import { EXAMPLE_SPEC } from '../../src/checks/spec-args.js';
import { renderAll } from '../../src/keepalived/render.js';
import { loadSpecBytes } from '../../src/spec/load.js';
import { runHactl } from '../support/cli.js';

const specText = JSON.stringify({
  version: 1,
  cluster: 'web',
  nodes: [
    { name: 'ha1', priority: 150, networks: { inside: { interface: 'eth1', address: '192.0.2.11' } } },
    { name: 'ha2', priority: 120, networks: { inside: { interface: 'eth1', address: '192.0.2.12' } } },
  ],
  vips: [{ name: 'inside', address: '192.0.2.50/24', network: 'inside', virtual_router_id: 51 }],
  // Only what the examples need to differ from the defaults: the rest must match the schema's defaults.
  mysql: { credentials_file: EXAMPLE_SPEC.mysql!.credentials_file },
  logging: { file: EXAMPLE_SPEC.logging.file },
  checks: Object.values(EXAMPLE_CHECKS),
});

const rendered = renderAll(loadSpecBytes(Buffer.from(specText), 'examples.json'))
  .map((node) => node.text)
  .join('\n');

/** The example block of a help text, without the help's two-space indent. */
function exampleOf(help: string): string {
  const match = /\n {2}(vrrp_script \S+ \{\n(?: {6}.*\n)+ {2}\})/.exec(help);
  expect(match, help).not.toBeNull();
  return match![1]!.replace(/\n {2}/g, '\n');
}

describe('help examples are the lines render-config writes', () => {
  it.each(Object.keys(EXAMPLE_CHECKS))('hactl check %s --help', async (kind) => {
    const run = await runHactl(['check', kind, '--help']);
    expect(run.exitCode).toBe(0);
    const block = exampleOf(run.stdout);
    expect(block).toMatch(new RegExp(`script "/usr/local/bin/hactl check ${kind} `));
    expect(rendered).toContain(block);
  });

  it('hactl check --help', async () => {
    const run = await runHactl(['check', '--help']);
    expect(run.exitCode).toBe(0);
    const block = exampleOf(run.stdout);
    expect(block).toContain('--timeout 1.75 --quiet"');
    expect(rendered).toContain(block);
  });

  it('the budgets shown are the ones render-config computes (not the old 1.7 / 0.8 / 2.7 / 1.5)', async () => {
    const budgets: Record<string, string> = {};
    for (const kind of Object.keys(EXAMPLE_CHECKS)) {
      const run = await runHactl(['check', kind, '--help']);
      budgets[kind] = /--timeout ([\d.]+) --quiet"/.exec(run.stdout)![1]!;
    }
    expect(budgets).toEqual({
      http: '1.75',
      tcp: '0.75',
      process: '2.75',
      mysql: '1.75',
      replication: '1.75',
    });
  });
});
