/**
 * `hactl sync` through the built CLI, with a stand-in rsync on PATH: it refuses on a node that
 * does not hold the VIPs (exit 1, naming why and the way out) unless --force, passes --dry-run to
 * rsync, and never puts the daemon password on rsync's command line.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseSpecYaml } from '../actions/context.js';
import { runHactl } from '../support/cli.js';

let dir = '';
let specPath = '';
let env: NodeJS.ProcessEnv = {};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-sync-cli-'));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'bin', 'rsync'),
    `#!/bin/sh\nprintf '%s\\n' "$@" >> "${dir}/argv"\necho '>f+++++++++ page.html'\n`,
  );
  chmodSync(join(dir, 'bin', 'rsync'), 0o755);
  writeFileSync(join(dir, 'rsync.secret'), 'hunter2-sync\n', { mode: 0o600 });
  specPath = join(dir, 'sync.yaml');
  // 192.0.2.50 is on no interface of this machine: ha1 is not the active node.
  writeFileSync(
    specPath,
    baseSpecYaml(`agent: { enabled: true }
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
sync:
  network: inside
  auth: { user: syncer, password_file: ${dir}/rsync.secret }
  paths: [{ source: /srv/www, module: www }]
`),
  );
  env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` };
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const argvSeen = () => {
  try {
    return readFileSync(join(dir, 'argv'), 'utf8');
  } catch {
    return '';
  }
};

describe('hactl sync', () => {
  it('refuses on a node that does not hold the VIPs, without running rsync', async () => {
    const result = await runHactl(['sync', '--spec', specPath, '--node', 'ha1'], { env });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      'ha1 is not the node to push from: this node does not hold 192.0.2.50. Push from the node that holds the VIPs, or add --force',
    );
    expect(argvSeen()).toBe('');
  });

  it('--force --dry-run pushes once with rsync --dry-run; the password stays in its file', async () => {
    const result = await runHactl(['sync', '--spec', specPath, '--node', 'ha1', '--force', '--dry-run'], {
      env,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('ok  /srv/www/ → ha2: >f+++++++++ page.html');
    const argv = argvSeen().split('\n');
    expect(argv).toContain('--dry-run');
    expect(argv).toContain(`--password-file=${dir}/rsync.secret`);
    expect(argv.at(-2)).toBe('syncer@192.0.2.12::www/');
    expect(argvSeen() + result.stdout + result.stderr).not.toContain('hunter2-sync');
  });
});
