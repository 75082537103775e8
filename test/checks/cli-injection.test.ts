// Check flags that reach a protocol line or a name lookup (--url, --host-header, --host) refuse
// control characters and whitespace (argv cannot carry NUL) with exit 2 before anything is sent — the rule the spec applies
// to the same params — and --check-name, which names a state file, is a plain name.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';

describe('hactl check refuses injection through its flags', () => {
  let server: Server;
  let port: number;
  const requests: string[] = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    port = await freePort();
    server = createServer((socket) => {
      sockets.add(socket);
      let text = '';
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          requests.push(text);
          socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('a legitimate --host-header reaches the server as the Host line (the control case)', async () => {
    requests.length = 0;
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `http://127.0.0.1:${port}/health?x=1`,
      '--host-header',
      'www.example.com:8080',
      '--timeout',
      '5',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^GET \/health\?x=1 HTTP\/1\.0\r\nHost: www\.example\.com:8080\r\n/);
  });

  const url = () => `http://127.0.0.1:${port}/`;
  it.each([
    [
      '--host-header CR LF',
      () => ['http', '--url', url(), '--host-header', 'a.example\r\nX-Injected: 1'],
      /--host-header "a\.example\\r\\nX-Injected: 1" contains a line break/,
    ],
    [
      '--host-header LF',
      () => ['http', '--url', url(), '--host-header', 'a.example\nX: 1'],
      /--host-header .* contains a line break/,
    ],
    [
      '--host-header CR',
      () => ['http', '--url', url(), '--host-header', 'a.example\rX: 1'],
      /--host-header .* contains a line break/,
    ],
    [
      '--host-header TAB',
      () => ['http', '--url', url(), '--host-header', 'a\tb'],
      /--host-header .* contains a control or space character/,
    ],
    [
      '--host-header DEL',
      () => ['http', '--url', url(), '--host-header', 'a\u007fb'],
      /--host-header .* contains a control or space character/,
    ],
    [
      '--host-header space',
      () => ['http', '--url', url(), '--host-header', 'a b'],
      /--host-header "a b" contains a space/,
    ],
    [
      '--host-header U+2028',
      () => ['http', '--url', url(), '--host-header', 'a\u2028b'],
      /--host-header "a[\s\S]b" contains a control or space character/,
    ],
    [
      '--host-header non-ASCII',
      () => ['http', '--url', url(), '--host-header', 'bücher.example'],
      /--host-header "bücher\.example" is not printable ASCII/,
    ],
    [
      '--host-header not a host',
      () => ['http', '--url', url(), '--host-header', 'a/b'],
      /--host-header "a\/b" is not a host name with an optional :port/,
    ],
    ['--url CR LF', () => ['http', '--url', `${url()}x\r\nX-Injected: 1`], /--url .* contains a line break/],
    ['--url TAB', () => ['http', '--url', `${url()}\tx`], /--url .* contains a control or space character/],
    ['--url space', () => ['http', '--url', `${url()}a b`], /--url .* contains a space/],
    [
      'tcp --host LF',
      () => ['tcp', '--host', '127.0.0.1\nx', '--port', String(port)],
      /--host .* contains a line break/,
    ],
    [
      'mysql --host CR',
      () => ['mysql', '--defaults-file', '/nonexistent.cnf', '--host', '127.0.0.1\r'],
      /--host .* contains a line break/,
    ],
    [
      '--check-name path',
      () => ['tcp', '--host', '127.0.0.1', '--port', String(port), '--check-name', '../etc'],
      /--check-name "\.\.\/etc" is not a check name/,
    ],
    [
      '--check-name newline',
      () => ['tcp', '--host', '127.0.0.1', '--port', String(port), '--check-name', 'a\nb'],
      /--check-name "a\\nb" is not a check name/,
    ],
  ])('%s → exit 2, nothing sent', async (_name, args, why) => {
    requests.length = 0;
    const run = await runHactl(['check', ...args(), '--timeout', '5']);
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.stderr).toMatch(why);
    expect(run.stdout).toBe('');
    expect(requests).toEqual([]);
  });

  it('a refused --url never echoes the credentials in it', async () => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `http://admin:Pw-7xq-distinctive@127.0.0.1:${port}/\r\n`,
    ]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/--url "http:\/\/…@127\.0\.0\.1:\d+\/\\r\\n" contains a line break/);
    expect(run.stderr).not.toContain('Pw-7xq-distinctive');
  });
});
