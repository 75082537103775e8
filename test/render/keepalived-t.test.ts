/**
 * The real keepalived judges our output: every rendered file must pass `keepalived -t -e` inside a
 * namespace that carries the spec's interfaces (keepalived checks they exist).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAll } from '../../src/keepalived/render.js';
import { validateFile } from '../../src/keepalived/validate.js';
import { loadSpec } from '../../src/spec/load.js';
import { createNamespace, deleteNamespace } from '../support/netns.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['keepalived', 'ip', 'unshare'] });
const NS = `hactl-kt-${process.pid}`;
const HACTL = resolve('bin/hactl');
const specs = readdirSync('test/render/specs').filter((file) => file.endsWith('.yaml'));

describe.skipIf(missing)(titled('keepalived -t accepts what render-config writes', missing), () => {
  let dir: string;
  beforeAll(() => {
    createNamespace(NS, ['eth0', 'eth1']);
    dir = mkdtempSync(join(tmpdir(), 'hactl-kt-'));
  });
  afterAll(() => {
    deleteNamespace(NS);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(specs)('%s: keepalived -t exits 0 for every node', async (file) => {
    const loaded = loadSpec(`test/render/specs/${file}`);
    // Point the scripts at this checkout's launcher: keepalived refuses scripts that do not exist.
    loaded.spec.paths.hactl = HACTL;
    for (const { node, text } of renderAll(loaded)) {
      const path = join(dir, `${file}.${node}.conf`);
      writeFileSync(path, text);
      const result = await validateFile(path, { netns: NS });
      expect(result.message, `${file} ${node}:\n${result.output}`).toBe(
        'keepalived accepts the configuration',
      );
      expect(result.exitCode).toBe(0);
    }
  });

  it('a missing check script is reported (keepalived would count it healthy)', async () => {
    const loaded = loadSpec('test/render/specs/seed002.yaml');
    loaded.spec.paths.hactl = '/nonexistent/hactl';
    const [first] = renderAll(loaded);
    const path = join(dir, 'missing-script.conf');
    writeFileSync(path, first!.text);
    const result = await validateFile(path, { netns: NS });
    expect(result.exitCode).toBe(5);
    expect(result.message).toMatch(/found errors/);
  });

  it('an interface the node does not have is an error', async () => {
    const loaded = loadSpec('test/render/specs/seed002.yaml');
    loaded.spec.paths.hactl = HACTL;
    loaded.spec.nodes[0]!.networks.lan!.interface = 'eth7';
    const [first] = renderAll(loaded, 'node1');
    const path = join(dir, 'missing-interface.conf');
    writeFileSync(path, first!.text);
    expect((await validateFile(path, { netns: NS })).exitCode).toBe(5);
  });

  it('the bundled example, as `render-config --out-dir` writes it, passes keepalived -t', () => {
    const out = join(dir, 'bundled');
    execFileSync(HACTL, ['render-config', '--out-dir', out], { timeout: 20_000 });
    expect(readdirSync(out).sort()).toEqual(['ha1', 'ha2']);
    for (const node of ['ha1', 'ha2']) {
      // The example runs /usr/local/bin/hactl: provide it in a private mount namespace only.
      const script =
        'mount -t tmpfs -o mode=0755 hactl-bin /usr/local/bin && ln -s "$1" /usr/local/bin/hactl && exec keepalived -t -e -l -f "$2"';
      const conf = join(out, node, 'keepalived.conf');
      expect(() =>
        execFileSync(
          'ip',
          [
            'netns',
            'exec',
            NS,
            'unshare',
            '--mount',
            '--propagation',
            'private',
            'sh',
            '-c',
            script,
            'sh',
            HACTL,
            conf,
          ],
          {
            timeout: 20_000,
            stdio: 'pipe',
          },
        ),
      ).not.toThrow();
    }
  });

  it('render-config --validate runs keepalived -t and says so', () => {
    const spec = join(dir, 'seed001-local.yaml');
    const text = execFileSync('cat', ['test/render/specs/seed001.yaml'], { encoding: 'utf8' });
    writeFileSync(spec, `${text}\npaths:\n  hactl: ${HACTL}\n`);
    const out = execFileSync(
      'ip',
      ['netns', 'exec', NS, HACTL, 'render-config', '--spec', spec, '--validate'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(out).toMatch(/### node web1/);
    const broken = join(dir, 'seed001-no-such-interface.yaml');
    writeFileSync(
      broken,
      `${text.replaceAll('interface: eth0', 'interface: nosuch0')}\npaths:\n  hactl: ${HACTL}\n`,
    );
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(
        'ip',
        ['netns', 'exec', NS, HACTL, 'render-config', '--spec', broken, '--validate', '--node', 'web1'],
        { encoding: 'utf8', stdio: 'pipe', timeout: 20_000 },
      );
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toMatch(/node web1: keepalived found errors/);
  });

  it('render-config --validate writes nothing when keepalived -t rejects any node', () => {
    const text = execFileSync('cat', ['test/render/specs/seed001.yaml'], { encoding: 'utf8' });
    // web2 alone gets an interface the namespace does not have: web1's file must not be written either.
    const spec = join(dir, 'seed001-web2-broken.yaml');
    writeFileSync(
      spec,
      `${text.replace(/(name: web2[\s\S]*?)interface: eth0/, '$1interface: nosuch0')}\npaths:\n  hactl: ${HACTL}\n`,
    );
    const out = join(dir, 'validate-out');
    mkdirSync(join(out, 'web1'), { recursive: true });
    writeFileSync(join(out, 'web1', 'keepalived.conf'), 'previous\n');
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(
        'ip',
        ['netns', 'exec', NS, HACTL, 'render-config', '--spec', spec, '--validate', '--out-dir', out],
        {
          encoding: 'utf8',
          stdio: 'pipe',
          timeout: 20_000,
        },
      );
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(1);
    expect(failure?.stderr).toMatch(/node web2: keepalived found errors[\s\S]*; nothing was written\n$/);
    expect(failure?.stderr).not.toMatch(/node web1:/);
    expect(readdirSync(out)).toEqual(['web1']);
    expect(readFileSync(join(out, 'web1', 'keepalived.conf'), 'utf8')).toBe('previous\n');
  });
});
