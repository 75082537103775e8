// `hactl check` as a command: usage errors (exit 2 with a hint), --help texts that are enough to
// write a vrrp_script line, and named checks from a spec (one, or --all concurrently).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';

describe('hactl check usage', () => {
  it.each([
    [[], /which check\?/, /hactl check --help/],
    [['nosuch'], /unknown check kind "nosuch"/, /kinds: http, tcp, process, mysql, replication/],
    [['http'], /needs --url/, /hactl check http --help/],
    [['http', '--url', 'ftp://x/'], /only http:\/\/ and https:\/\//, /./],
    [
      ['http', '--url', 'http://127.0.0.1/', '--timeout', 'soon'],
      /--timeout "soon" is not a number of seconds/,
      /--timeout 0\.8/,
    ],
    [
      ['http', '--url', 'http://127.0.0.1/', '--expect-status', '2xx'],
      /--expect-status "2xx"/,
      /200,301-302/,
    ],
    [['http', '--url', 'http://127.0.0.1/', '--method', 'POST'], /only GET and HEAD/, /./],
    [
      ['http', '--url', 'http://127.0.0.1/', '--method', 'HEAD', '--expect-body', 'x'],
      /--expect-body needs a body/,
      /./,
    ],
    [
      ['http', '--url', 'http://127.0.0.1/', '--password', 'x'],
      /Unknown option '--password'/,
      /hactl check http --help/,
    ],
    [['tcp', '--host'], /--host/, /hactl check tcp --help/],
    [['--spec'], /--spec/, /usage: hactl check --spec FILE/],
    [['--all'], /which check\? give a kind, or --spec FILE/, /./],
  ])('%j → exit 2', async (args, message, hint) => {
    const run = await runHactl(['check', ...args]);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(hint);
  });
});

describe('hactl check --help', () => {
  it('lists every kind, the common flags, spec mode and a vrrp_script example', async () => {
    const run = await runHactl(['check', '--help']);
    expect(run.exitCode).toBe(0);
    for (const text of [
      'http',
      'tcp',
      'process',
      'mysql',
      'replication',
      '--timeout',
      '--quiet',
      '--log-file',
      '--spec FILE',
      '--all',
      'vrrp_script',
      'Exit status',
    ]) {
      expect(run.stdout).toContain(text);
    }
  });

  it.each([
    ['http', ['--url', '--expect-status', '--expect-body', '--host-header', '--method', '--insecure']],
    ['tcp', ['--host', '--port']],
    [
      'process',
      [
        '--name',
        '--min-count',
        '--restart-cmd',
        '--restart-arg=ARG',
        '--restart-wait',
        '--restart-backoff',
        '--state-dir',
      ],
    ],
  ])('%s --help names its flags and shows a vrrp_script block', async (kind, flags) => {
    const run = await runHactl(['check', kind, '--help']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^hactl check ${kind} `));
    for (const flag of [...flags, '--timeout', '--quiet', '--log-file']) expect(run.stdout).toContain(flag);
    expect(run.stdout).toMatch(
      new RegExp(
        `vrrp_script \\w+ \\{\\n\\s+script "/usr/local/bin/hactl check ${kind} [^"]*--timeout [\\d.]+ --quiet"\\n\\s+interval \\d+\\n\\s+timeout \\d+`,
      ),
    );
  });
});

describe('hactl check --spec', () => {
  let dir: string;
  let server: Server;
  let specFile: string;
  let port: number;
  let closedPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-spec-'));
    port = await freePort();
    closedPort = await freePort();
    server = createServer((req, res) => {
      res.statusCode = req.url === '/down' ? 503 : 200;
      res.end('ha1 up\n');
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    specFile = join(dir, 'hactl.yaml');
    writeFileSync(
      specFile,
      `version: 1
cluster: web
nodes:
  - { name: ha1, priority: 150, networks: { inside: { interface: eth1, address: 192.0.2.11 } } }
  - { name: ha2, priority: 120, networks: { inside: { interface: eth1, address: 192.0.2.12 } } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
checks:
  - { name: web, kind: http, interval: 2, params: { url: "http://127.0.0.1:${port}/", expect_body: "/HA1/i" } }
  - { name: port, kind: tcp, interval: 2, params: { host: 127.0.0.1, port: ${port} } }
  - { name: down, kind: http, nodes: [ha2], params: { url: "http://127.0.0.1:${port}/down" } }
  - { name: closed, kind: tcp, nodes: [ha2], params: { host: 127.0.0.1, port: ${closedPort} } }
`,
    );
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one named check → exit 0 with its name', async () => {
    const run = await runHactl(['check', '--spec', specFile, '--node', 'ha1', 'web']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^ok web: HTTP 200, body contains|^ok web: HTTP 200, body \(\d+ bytes\) matches \/HA1\/i/,
    );
  });

  it('--all on ha1 → every check healthy, one line each', async () => {
    const run = await runHactl(['check', '--spec', specFile, '--node', 'ha1', '--all']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(':')[0]),
    ).toEqual(['ok web', 'ok port']);
  });

  it('--all on ha2 → exit 1 naming every unhealthy check on one line', async () => {
    const run = await runHactl(['check', '--spec', specFile, '--node', 'ha2', '--all', '--quiet']);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^hactl: 2 of 4 checks unhealthy: down: HTTP 503 .*; closed: cannot connect to .*connection refused\n$/,
    );
  });

  it('a check that does not run on the node, an unknown node, a missing spec → exit 2', async () => {
    const other = await runHactl(['check', '--spec', specFile, '--node', 'ha1', 'down']);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toMatch(/node ha1 has no check named "down" .*\(its checks: web, port\)/);
    const node = await runHactl(['check', '--spec', specFile, '--node', 'ha9', '--all']);
    expect(node.exitCode).toBe(2);
    expect(node.stderr).toMatch(/--node "ha9" is not in the spec/);
    const nofile = await runHactl(['check', '--spec', join(dir, 'nope.yaml'), '--node', 'ha1', '--all']);
    expect(nofile.exitCode).toBe(2);
    expect(nofile.stderr).toMatch(/does not exist/);
  });

  it('NAME and --all together → exit 2', async () => {
    const run = await runHactl(['check', '--spec', specFile, '--node', 'ha1', '--all', 'web']);
    expect(run.exitCode).toBe(2);
  });
});
