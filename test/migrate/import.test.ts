/**
 * `hactl import` of seed 004's pair: the spec it writes is accepted by `hactl lint`, and the
 * keepalived.conf files rendered from it pass the real `keepalived -t` (in a namespace that has the
 * seed's interfaces). Plus the --out/--force contract.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAll } from '../../src/keepalived/render.js';
import { validateFile } from '../../src/keepalived/validate.js';
import { loadSpec } from '../../src/spec/load.js';
import { runHactl } from '../support/cli.js';
import { createNamespace, deleteNamespace } from '../support/netns.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const F = 'test/migrate/fixtures';
const SEED004 = [`${F}/seed004-server1.conf`, `${F}/seed004-server2.conf`];
const HACTL = resolve('bin/hactl');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-import-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('hactl import of seed 004 (keepalived + mysqlrpladmin + Atlas)', () => {
  it('writes a spec hactl lint accepts, mode 0600, with the guesses marked', async () => {
    const out = join(dir, 'seed004.yaml');
    const written = await runHactl([
      'import',
      ...SEED004,
      '--scripts-dir',
      `${F}/seed004-scripts`,
      '--out',
      out,
    ]);
    expect(written.exitCode, written.stderr).toBe(0);
    expect(written.stdout).toBe(`wrote ${out}; review it, then run \`hactl lint --spec ${out}\`\n`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toMatch(/^ {4}virtual_router_id: 51$/m);
    expect(yaml).toMatch(/^ {4}virtual_router_id: 50$/m);
    expect(yaml).toMatch(/^ {4}address: 192\.168\.1\.150\/24 +# GUESSED: the nodes write \/24 and \/32/m);
    expect(yaml).toMatch(/^failback: nopreempt/m);
    // The notify scripts ran mysqlrpladmin and REMOVE BACKEND: promote/demote and atlas actions.
    expect(yaml).toMatch(
      /- type: mysql\.promote[\s\S]*- type: atlas[\s\S]*backup:\n {4}- type: mysql\.demote/,
    );
    expect(yaml).toMatch(/address: 192\.168\.1\.151 \} +# GUESSED: keepalived\.conf does not say/);
    expect(written.stderr).toMatch(
      /review: node seed004-server1: address on eth1 guessed as 192\.168\.1\.151/,
    );

    const lint = await runHactl(['lint', '--spec', out]);
    expect(lint.stdout, lint.stdout).toBe(`${out}: 0 error(s), 0 warning(s)\n`);
    expect(lint.exitCode).toBe(0);
  });

  it('without the notify scripts at hand, says so instead of guessing actions', async () => {
    const result = await runHactl(['import', ...SEED004]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(
      /# NOT IMPORTED: notify script \/data\/sh\/mysqlfailover-server1\.sh could not be read/,
    );
    expect(result.stdout).not.toMatch(/type: mysql\.promote/);
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const out = join(dir, 'existing.yaml');
    writeFileSync(out, 'keep me\n');
    const refused = await runHactl(['import', ...SEED004, '--out', out]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/--out .*existing\.yaml already exists; pass --force to overwrite it/);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    const forced = await runHactl(['import', ...SEED004, '--out', out, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^version: 1$/m);
  });

  it('needs exactly two files', async () => {
    const one = await runHactl(['import', SEED004[0]!]);
    expect(one.exitCode).toBe(2);
    expect(one.stderr).toMatch(/import needs two keepalived\.conf files, one per node \(got 1\)/);
  });
});

const missing = requirementsMissing({ root: true, programs: ['keepalived', 'ip'] });
const NS = `hactl-imp-${process.pid}`;

describe.skipIf(missing)(
  titled('the imported seed 004 spec renders configs keepalived -t accepts', missing),
  () => {
    beforeAll(() => createNamespace(NS, ['eth0', 'eth1']));
    afterAll(() => deleteNamespace(NS));

    it('keepalived -t exits 0 for both nodes', async () => {
      const out = join(dir, 'seed004-render.yaml');
      const written = await runHactl([
        'import',
        ...SEED004,
        '--scripts-dir',
        `${F}/seed004-scripts`,
        '--out',
        out,
      ]);
      expect(written.exitCode, written.stderr).toBe(0);
      const loaded = loadSpec(out);
      loaded.spec.paths.hactl = HACTL;
      const rendered = renderAll(loaded);
      expect(rendered.map((r) => r.node)).toEqual(['seed004-server1', 'seed004-server2']);
      for (const { node, text } of rendered) {
        // The sync group the second node lost to its typo is back on both.
        expect(text).toMatch(/^vrrp_sync_group /m);
        const path = join(dir, `${node}.conf`);
        writeFileSync(path, text);
        const result = await validateFile(path, { netns: NS });
        expect(result.message, `${node}:\n${result.output}`).toBe('keepalived accepts the configuration');
        expect(result.exitCode).toBe(0);
      }
    });
  },
);
