/**
 * The migration guides stay true: the spec in each guide lints clean and renders keepalived.conf
 * files that the real keepalived -t accepts, and the lint output quoted in the seed 004 guide is
 * what `hactl lint --keepalived-conf` prints on seed 004's files.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAll } from '../../src/keepalived/render.js';
import { validateFile } from '../../src/keepalived/validate.js';
import { loadSpec } from '../../src/spec/load.js';
import { runHactl } from '../support/cli.js';
import { createNamespace, deleteNamespace } from '../support/netns.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const GUIDES = [
  'docs/migrate-from-failover-sh.md',
  'docs/migrate-from-mysqlrpladmin-atlas.md',
  'docs/migrate-from-single-active-scripts.md',
];
const HACTL = resolve('bin/hactl');

/** The bodies of the fenced blocks whose info string is `language` ('' for a bare fence). */
function fenced(doc: string, language: string): string[] {
  const blocks: string[] = [];
  let open: { language: string; lines: string[] } | undefined;
  for (const line of readFileSync(doc, 'utf8').split('\n')) {
    if (line.startsWith('```')) {
      if (open) {
        if (open.language === language) blocks.push(open.lines.join('\n') + '\n');
        open = undefined;
      } else {
        open = { language: line.slice(3).trim(), lines: [] };
      }
    } else if (open) {
      open.lines.push(line);
    }
  }
  return blocks;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-docs-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(GUIDES)('%s', (doc) => {
  it('has exactly one spec, and hactl lint accepts it without a warning', async () => {
    const specs = fenced(doc, 'yaml');
    expect(specs).toHaveLength(1);
    const path = join(dir, `${doc.replaceAll('/', '_')}.yaml`);
    writeFileSync(path, specs[0]!);
    const lint = await runHactl(['lint', '--spec', path]);
    expect(lint.stdout).toBe(`${path}: 0 error(s), 0 warning(s)\n`);
    expect(lint.exitCode).toBe(0);
  });

  it('its commands use only hactl commands and flags that exist', async () => {
    const commands = fenced(doc, 'sh')
      .join('\n')
      .split('\n')
      .filter((line) => line.startsWith('hactl '));
    expect(commands.length).toBeGreaterThan(0);
    for (const line of commands) {
      const [, command] = line.split(/\s+/);
      const help = await runHactl([command!, '--help']);
      expect(help.exitCode, line).toBe(0);
      for (const flag of line.replace(/\s+#.*$/, '').match(/--[a-z-]+/g) ?? []) {
        expect(help.stdout, `${line}: ${flag}`).toContain(flag);
      }
    }
  });
});

describe('the seed 004 guide quotes what lint really prints', () => {
  it('every quoted finding line appears in the output on seed 004 copied as server1/ and server2/', async () => {
    const work = join(dir, 'seed004');
    for (const node of ['server1', 'server2']) {
      mkdirSync(join(work, node), { recursive: true });
      copyFileSync(`test/migrate/fixtures/seed004-${node}.conf`, join(work, node, 'keepalived.conf'));
    }
    const result = await runHactl(
      [
        'lint',
        '--keepalived-conf',
        'server1/keepalived.conf',
        'server2/keepalived.conf',
        '--no-keepalived-t',
      ],
      { cwd: work },
    );
    expect(result.exitCode).toBe(1);
    const quoted = fenced('docs/migrate-from-mysqlrpladmin-atlas.md', '')
      .join('\n')
      .split('\n')
      .filter((line) => /^(error|warning): /.test(line));
    expect(quoted.length).toBeGreaterThan(0);
    for (const line of quoted) {
      const prefix = line.replace(/ …$/, '');
      expect(
        result.stdout.split('\n').some((out) => out.startsWith(prefix)),
        `${line}\n---\n${result.stdout}`,
      ).toBe(true);
    }
  });
});

const missing = requirementsMissing({ root: true, programs: ['keepalived', 'ip'] });
const NS = `hactl-docs-${process.pid}`;

describe.skipIf(missing)(titled("the guides' specs render configs keepalived -t accepts", missing), () => {
  beforeAll(() => createNamespace(NS, ['eth0', 'eth1']));
  afterAll(() => deleteNamespace(NS));

  it.each(GUIDES)('%s: keepalived -t exits 0 for every node', async (doc) => {
    const path = join(dir, `${doc.replaceAll('/', '_')}.render.yaml`);
    writeFileSync(path, fenced(doc, 'yaml')[0]!);
    const loaded = loadSpec(path);
    loaded.spec.paths.hactl = HACTL;
    const rendered = renderAll(loaded);
    expect(rendered).toHaveLength(2);
    for (const { node, text } of rendered) {
      const conf = join(dir, `${node}.conf`);
      writeFileSync(conf, text);
      const result = await validateFile(conf, { netns: NS });
      expect(result.message, `${doc} ${node}:\n${result.output}`).toBe(
        'keepalived accepts the configuration',
      );
      expect(result.exitCode).toBe(0);
    }
  });
});
