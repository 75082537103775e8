/**
 * The rsync command lines of a push (src/sync/argv.ts), built from the spec: every sync field's
 * effect on argv, and no secret in it (the daemon password stays in its file).
 */
import { describe, expect, it } from 'vitest';
import { findNode, parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { pushArgv, pushTargets } from '../../src/sync/argv.js';
import { baseSpecYaml } from '../actions/context.js';

const spec = (sync: string): Spec & { sync: NonNullable<Spec['sync']> } =>
  parseSpecText(baseSpecYaml(sync), 'sync.yaml') as Spec & { sync: NonNullable<Spec['sync']> };

function argvOf(sync: string, from = 'ha1', dryRun = false): string[][] {
  const s = spec(sync);
  const node = findNode(s, from);
  return pushTargets(s.sync, node, s.nodes).map((target) => pushArgv(s.sync, node, target, { dryRun }));
}

const SEED000 = `
sync:
  network: inside
  paths:
    - { source: /data0/htdocs, module: data0_htdocs }
    - { source: /usr/local/webserver/php/etc/, module: php_etc }
`;

describe('pushArgv', () => {
  it("seed 000's modules: rsync -a (symlinks as links), each source's contents to its module on the peer's sync.network address", () => {
    expect(argvOf(SEED000)).toEqual([
      ['rsync', '-a', '--timeout=600', '--contimeout=10', '/data0/htdocs/', '192.0.2.12::data0_htdocs/'],
      [
        'rsync',
        '-a',
        '--timeout=600',
        '--contimeout=10',
        '/usr/local/webserver/php/etc/',
        '192.0.2.12::php_etc/',
      ],
    ]);
    // From the other node, to the other peer.
    expect(argvOf(SEED000, 'ha2')[0]!.at(-1)).toBe('192.0.2.11::data0_htdocs/');
  });

  it('interval is not on the command line; timeout, delete, bwlimit, excludes and --dry-run are', () => {
    const [argv] = argvOf(
      `
sync:
  network: inside
  interval: 5
  timeout: 30
  delete: true
  bwlimit: 2048
  excludes: ['*.tmp', cache/]
  paths: [{ source: /srv/www, module: www }]
`,
      'ha1',
      true,
    );
    expect(argv).toEqual([
      'rsync',
      '-a',
      '--timeout=30',
      '--dry-run',
      '--itemize-changes',
      '--delete',
      '--bwlimit=2048',
      '--exclude=*.tmp',
      '--exclude=cache/',
      '--contimeout=10',
      '/srv/www/',
      '192.0.2.12::www/',
    ]);
  });

  it("{node} in source picks this node's own directory", () => {
    const [argv] = argvOf(
      'sync: { network: inside, paths: [{ source: "/lab/{node}/www", module: www }] }',
      'ha2',
    );
    expect(argv!.at(-2)).toBe('/lab/ha2/www/');
  });

  it('auth: the daemon user in the destination and the password only as --password-file', () => {
    const [argv] = argvOf(`
sync:
  network: inside
  auth: { user: syncer, password_file: /etc/hactl/rsync.secret }
  paths: [{ source: /srv/www, module: www }]
`);
    expect(argv).toContain('--password-file=/etc/hactl/rsync.secret');
    expect(argv!.at(-1)).toBe('syncer@192.0.2.12::www/');
    expect(argv!.join(' ')).not.toMatch(/RSYNC_PASSWORD|password=/i);
  });

  it('destination goes over ssh in batch mode, with ssh user, port and identity_file', () => {
    const [plain] = argvOf(
      'sync: { network: inside, paths: [{ source: /etc/nginx, destination: /etc/nginx }] }',
    );
    expect(plain).toEqual([
      'rsync',
      '-a',
      '--timeout=600',
      '-e',
      'ssh -p 22 -o BatchMode=yes -o ConnectTimeout=10',
      '/etc/nginx/',
      'root@192.0.2.12:/etc/nginx/',
    ]);
    const [custom] = argvOf(`
sync:
  network: inside
  ssh: { user: deploy, port: 2222, identity_file: /etc/hactl/sync_ed25519 }
  paths: [{ source: /etc/nginx, destination: /srv/nginx-conf }]
`);
    expect(custom!.slice(3)).toEqual([
      '-e',
      'ssh -p 2222 -o BatchMode=yes -o ConnectTimeout=10 -i /etc/hactl/sync_ed25519',
      '/etc/nginx/',
      'deploy@192.0.2.12:/srv/nginx-conf/',
    ]);
  });
});

describe('the sync section is validated', () => {
  it.each([
    [
      'both module and destination',
      '{ source: /a, module: m, destination: /b }',
      'sync.paths[0]: gives both module and destination',
    ],
    ['neither', '{ source: /a }', 'sync.paths[0]: names no destination'],
    ['a relative source', '{ source: a/b, module: m }', 'sync.paths[0].source'],
    ['braces other than {node}', '{ source: "/a/{host}", module: m }', 'sync.paths[0].source'],
  ])('%s is refused', (_, path, where) => {
    expect(() => spec(`sync: { network: inside, paths: [${path}] }`)).toThrow(where);
  });
});
