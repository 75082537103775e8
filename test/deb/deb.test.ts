/**
 * The Debian package (issue 13 item 2): `npm run build:deb` builds it, and test/deb/in-overlay.sh
 * installs it with `dpkg -i` into a clean root — this machine's / through an overlay whose
 * writable layer is a tmpfs in a private mount namespace, so the host's /usr, /etc and /var never
 * change — renders and validates the example spec there with the packaged hactl (its scripts pass
 * keepalived's script security, and a packaged program writable by others is refused), then
 * removes it: /usr/bin/hactl goes, the operator's /etc/hactl stays (conffiles) until purge.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { requirementsMissing, titled } from '../support/requirements.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const deb = join(root, 'dist-deb', `hactl_${pkg.version}_all.deb`);

const missing = requirementsMissing({
  root: true,
  programs: ['dpkg', 'dpkg-deb', 'unshare', 'chroot', 'timeout', 'gzip', 'ip', 'keepalived'],
});
if (missing) process.stdout.write(`test/deb: skipped, ${missing}\n`);

interface Run {
  output: string;
  steps: Map<string, number>;
  facts: Map<string, string>;
}

/** "@@ step NAME RC MSms" and "@@ fact NAME VALUE" lines of in-overlay.sh. */
function parse(output: string): Run {
  const steps = new Map<string, number>();
  const facts = new Map<string, string>();
  for (const line of output.split('\n')) {
    const step = /^@@ step (\S+) (\d+) /.exec(line);
    if (step) steps.set(step[1]!, Number(step[2]));
    const fact = /^@@ fact (\S+) ?(.*)$/.exec(line);
    if (fact) facts.set(fact[1]!, fact[2]!);
  }
  return { output, steps, facts };
}

describe.skipIf(missing)(titled('the .deb installs, validates and removes in a clean root', missing), () => {
  let run: Run;

  beforeAll(async () => {
    const build = await execa(process.execPath, ['scripts/build-deb.mjs', '--no-lintian'], {
      cwd: root,
      timeout: 120_000,
      reject: false,
      all: true,
    });
    expect(build.exitCode, String(build.all)).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), `hactl-deb-${process.pid}-`));
    try {
      // The namespaces (and the tmpfs, overlay and mounts in them) end with this process.
      const result = await execa(
        'unshare',
        [
          '--mount',
          '--net',
          '--propagation',
          'private',
          '--',
          'bash',
          join(root, 'test/deb/in-overlay.sh'),
          deb,
          dir,
        ],
        { timeout: 150_000, reject: false, all: true, stdin: 'ignore', env: { STEP_SECONDS: '40' } },
      );
      run = parse(String(result.all));
      expect(result.exitCode, run.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("keeps keepalived's spawned check and notify as lean as dist/: the same bundles", async () => {
    const dir = mkdtempSync(join(tmpdir(), `hactl-deb-x-${process.pid}-`));
    try {
      const extract = await execa('dpkg-deb', ['-x', deb, dir], {
        timeout: 60_000,
        reject: false,
        all: true,
      });
      expect(extract.exitCode, String(extract.all)).toBe(0);
      for (const name of ['check.cjs', 'notify.cjs']) {
        const packaged = readFileSync(join(dir, 'usr/lib/hactl/dist', name), 'utf8');
        // Only where a package kept outside the bundle is loaded from differs (on first use, both).
        const unvendored = packaged.replace(/require\("\.\/vendor-([a-z0-9-]+)\.cjs"\)/g, 'require("$1")');
        expect(unvendored !== packaged, `${name} loads no vendor bundle`).toBe(true);
        expect(
          unvendored === readFileSync(join(root, 'dist', name), 'utf8'),
          `${name} differs from dist/ (stale? npm run build)`,
        ).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const step = (name: string): number | undefined => run.steps.get(name);
  const fact = (name: string): string | undefined => run.facts.get(name);

  it('installs with dpkg -i into a root that had no hactl', () => {
    expect(fact('installed-before'), run.output).toBe('no');
    expect(fact('etc-before')).toBe('no');
    expect(step('install'), run.output).toBe(0);
    expect(fact('status-installed')).toBe('install ok installed');
    expect(fact('hactl-resolves')).toBe('/usr/lib/hactl/bin/hactl');
    expect(step('version'), run.output).toBe(0);
    expect(run.output).toContain(`\n${pkg.version}\n`);
  });

  it('runs on Node alone: no node_modules in the package or above it', () => {
    expect(fact('node-modules')).toBe('0');
  });

  it('ships /etc/hactl as conffiles, the credential files mode 0600', () => {
    expect(fact('conffiles')).toBe('/etc/hactl/hactl.yaml,/etc/hactl/mysql.cnf,/etc/hactl/replication.cnf,');
    expect(fact('mode:/etc/hactl/mysql.cnf')).toBe('600:root:root');
    expect(fact('mode:/etc/hactl/replication.cnf')).toBe('600:root:root');
    expect(fact('mode:/etc/hactl/hactl.yaml')).toBe('640:root:root');
    expect(fact('mode:/var/lib/hactl')).toBe('750:root:root');
  });

  it('lints the example spec: its public VRRP password is refused until the operator changes it', () => {
    expect(step('lint-example'), run.output).toBe(1);
    expect(run.output).toContain(
      "election.authentication.password: is still the password of hactl's example",
    );
    expect(step('lint'), run.output).toBe(0);
  });

  it('render-config --validate passes keepalived -t and its script security as installed', () => {
    expect(step('validate'), run.output).toBe(0);
    expect(fact('rendered-script')).toBe('2');
    // The same render with the packaged program writable by others: keepalived refuses the script.
    expect(step('validate-insecure'), run.output).toBe(1);
    expect(run.output).toMatch(/Disabling track script chk_\w+ due to insecure/);
  });

  it("runs keepalived's notify hook from the package (its vendor bundles load)", () => {
    expect(step('notify-dry-run'), run.output).toBe(0);
    expect(run.output).toMatch(/hactl notify ha1 \[master\]: dry run: would /);
  });

  it('dpkg -r removes /usr/bin/hactl and keeps the edited /etc/hactl; purge removes it', () => {
    expect(step('remove'), run.output).toBe(0);
    expect(fact('status-removed')).toBe('deinstall ok config-files');
    expect(fact('bin-after-remove')).toBe('gone');
    expect(fact('lib-after-remove')).toBe('gone');
    expect(fact('kept:/etc/hactl/hactl.yaml')).toBe('yes');
    expect(fact('kept:/etc/hactl/mysql.cnf')).toBe('yes');
    expect(fact('kept:/etc/hactl/replication.cnf')).toBe('yes');
    expect(fact('spec-edit-kept')).toBe('# edited by the operator');
    expect(step('purge'), run.output).toBe(0);
    expect(fact('etc-after-purge')).toBe('gone');
  });
});
