/**
 * only_on_master (issue 11 item 3, seed 002): a check of an application that only the MASTER runs
 * counts only once this node's applied-state record says MASTER; elsewhere it is not run and
 * reports healthy. Through the built CLI (flags mode, as keepalived runs it) and the spec.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedStatePath } from '../../src/cluster/applied-state.js';
import { renderAll } from '../../src/keepalived/render.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';

let dir = '';
let closedPort = 0;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-master-only-'));
  closedPort = await freePort();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function applied(state: string): string {
  const file = join(dir, `applied-${state}.json`);
  writeFileSync(
    file,
    JSON.stringify({ state, ok: true, at: new Date().toISOString(), event: 'test' }) + '\n',
  );
  return file;
}

const refusedTcp = (stateFile: string) =>
  runHactl([
    'check',
    'tcp',
    '--host',
    '127.0.0.1',
    '--port',
    String(closedPort),
    '--timeout',
    '5',
    '--only-while-master',
    stateFile,
  ]);

describe('--only-while-master (flags mode, as keepalived runs it)', () => {
  it.each(['BACKUP', 'FAULT', 'STOP'])('applied %s: not run, healthy, saying why', async (state) => {
    const run = await refusedTcp(applied(state));
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `ok tcp: not counted: this node's last applied state is ${state}, and the check counts only on the MASTER\n`,
    );
  });

  it('no record yet: not run, healthy', async () => {
    const run = await refusedTcp(join(dir, 'none.json'));
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/not counted: no transition has been applied here yet/);
  });

  it('applied MASTER: the check runs and its failure counts', async () => {
    const run = await refusedTcp(applied('MASTER'));
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/connection refused/);
  });
});

describe('checks[].only_on_master in the spec', () => {
  const yaml = (flag: string) =>
    baseSpecYaml(
      `paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }\n` +
        `checks:\n  - { name: app, kind: tcp, params: { host: 127.0.0.1, port: ${closedPort} }, weight: 0${flag} }\n`,
    );

  it("renders --only-while-master with the node's own applied-state record, and nothing without it", () => {
    const spec = parseSpecText(yaml(', only_on_master: true'), 'spec.yaml');
    const [ha1] = renderAll({ spec, path: 'spec.yaml', hash: '000000000000' }, 'ha1');
    expect(ha1!.text).toContain(`--only-while-master ${appliedStatePath(`${dir}/run`, 'ha1')}`);
    const plain = parseSpecText(yaml(''), 'spec.yaml');
    const [again] = renderAll({ spec: plain, path: 'spec.yaml', hash: '000000000000' }, 'ha1');
    expect(again!.text).not.toContain('--only-while-master');
  });

  it('hactl check --spec honours it: healthy on a BACKUP, the failure counts on the MASTER', async () => {
    const specPath = join(dir, 'spec.yaml');
    writeFileSync(specPath, yaml(', only_on_master: true'));
    const record = appliedStatePath(`${dir}/run`, 'ha1');
    mkdirSync(`${dir}/run`, { recursive: true });
    writeFileSync(record, JSON.stringify({ state: 'BACKUP', ok: true, at: 'now', event: 'test' }));
    const backup = await runHactl(['check', '--spec', specPath, '--node', 'ha1', 'app', '--timeout', '5']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^ok app: not counted: this node's last applied state is BACKUP/);
    writeFileSync(record, JSON.stringify({ state: 'MASTER', ok: true, at: 'now', event: 'test' }));
    const master = await runHactl(['check', '--spec', specPath, '--node', 'ha1', 'app', '--timeout', '5']);
    expect(master.exitCode).toBe(1);
    expect(master.stderr).toMatch(/app: .*connection refused/);
  });

  it("lint accepts seed 002's single-active check once it is marked, and still refuses it unmarked", async () => {
    const broken = readFileSync('test/lint/broken/single-active-weight0.yaml', 'utf8');
    const marked = join(dir, 'single-active-marked.yaml');
    writeFileSync(marked, broken.replace('weight: 0 }', 'weight: 0, only_on_master: true }'));
    const clean = await runHactl(['lint', '--spec', marked]);
    expect(clean.stdout).not.toMatch(/checks\[0\]/);
    expect(clean.exitCode, clean.stdout).toBe(0);
    const refused = await runHactl(['lint', '--spec', 'test/lint/broken/single-active-weight0.yaml']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toMatch(/checks\[0\]: check "app" watches the application app/);
  });
});
