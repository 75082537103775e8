// `hactl check http` through the built CLI against a real nginx on 127.0.0.1 (plus a tiny
// node:http server for slow answers, which nginx cannot produce, and for echoing the Host header).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, testLocations, type NginxServer } from '../../src/lab/nginx.js';
import { waitFor } from '../../src/lab/processes.js';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ programs: ['nginx', 'openssl'] });
/** What a run may take beyond its --timeout: process exit and the test's own spawn overhead. */
const MARGIN_MS = 250;
const HUGE_BYTES = 8 * 1024 * 1024;

describe.skipIf(missing)(titled('hactl check http against nginx', missing), () => {
  let dir: string;
  let nginx: NginxServer | undefined;
  let slow: Server | undefined;
  let base: string;
  let tlsBase: string;
  let slowBase: string;
  let closedPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-http-'));
    const [port, tlsPort, slowPort] = [await freePort(), await freePort(), await freePort()];
    closedPort = await freePort();
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    nginx = await startNginx({
      dir: join(dir, 'nginx'),
      listen: `127.0.0.1:${port}`,
      body: '<h1>hello from ha1</h1>\n',
      // The marker sits past the 64 KiB the check reads: only a full download would find it.
      files: { 'huge.bin': Buffer.concat([Buffer.alloc(HUGE_BYTES, 'x'), Buffer.from('END-MARKER')]) },
      serverExtra: testLocations(),
      tls: { listen: `127.0.0.1:${tlsPort}`, cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
    });
    base = `http://127.0.0.1:${port}`;
    tlsBase = `https://127.0.0.1:${tlsPort}`;

    slow = createServer((req, res) => {
      if (req.url === '/host') return res.end(`host=${req.headers.host}\n`);
      if (req.url === '/endless') {
        // A body that never ends: only a client that stops reading after the head can finish.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
        };
        res.on('drain', pump);
        pump();
        return;
      }
      if (req.url === '/slow-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial ');
        const timer = setTimeout(() => res.end('done'), 5000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      const timer = setTimeout(() => res.end('late'), 5000);
      res.on('close', () => clearTimeout(timer));
    });
    await new Promise<void>((resolve) => slow!.listen(slowPort, '127.0.0.1', resolve));
    slowBase = `http://127.0.0.1:${slowPort}`;
  });

  afterAll(async () => {
    slow?.closeAllConnections();
    await new Promise((resolve) => (slow ? slow.close(resolve) : resolve(undefined)));
    await nginx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('200 → exit 0 with one line on stdout', async () => {
    const run = await runHactl(['check', 'http', '--url', `${base}/`]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ok http: HTTP 200 from http:\/\/127\.0\.0\.1:\d+\/ in \d+ ms\n$/);
    expect(run.stderr).toBe('');
  });

  it('--quiet prints nothing when healthy', async () => {
    const run = await runHactl(['check', 'http', '--url', `${base}/`, '--quiet']);
    expect(run).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  it('body substring and /regex/ match → 0, HEAD → 0', async () => {
    for (const body of ['hello from ha1', '/HELLO FROM HA[12]/i']) {
      const run = await runHactl(['check', 'http', '--url', `${base}/`, '--expect-body', body]);
      expect(run.exitCode, run.stderr).toBe(0);
    }
    const head = await runHactl(['check', 'http', '--url', `${base}/`, '--method', 'HEAD', '--timeout', '5']);
    expect(head.exitCode, head.stderr).toBe(0);
    // nginx saw a HEAD request (the access log is written when the request ends).
    const accessLog = join(dir, 'nginx', 'access.log');
    await waitFor(
      'the HEAD request in the access log',
      () => readFileSync(accessLog, 'utf8').includes('"HEAD / HTTP/1.0" 200'),
      { timeoutMs: 5000 },
    );
  });

  it.each([
    ['500', ['/500'], /HTTP 500 from .*\/500; expected 200/],
    ['404', ['/nothing-here'], /HTTP 404/],
    ['wrong body', ['/', '--expect-body', 'ha2'], /does not match "ha2"/],
    [
      'redirect (not followed)',
      ['/redirect'],
      /HTTP 302 .*redirect to http:\/\/127\.0\.0\.1:\d+\/, not followed.*expected 200/,
    ],
    [
      'huge body without the marker in the first 64 KiB',
      ['/huge.bin', '--expect-body', 'END-MARKER'],
      /not found in the first 65536 bytes/,
    ],
  ])('%s → exit 1 within the budget, one line on stderr', async (_name, [path, ...flags], why) => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `${base}${path}`,
      ...flags,
      '--timeout',
      '1',
      '--quiet',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(why);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.durationMs).toBeLessThanOrEqual(1000 + MARGIN_MS);
  });

  it('a 302 listed in --expect-status is healthy', async () => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `${base}/redirect`,
      '--expect-status',
      '200,301-302',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
  });

  it('a body is not read when no --expect-body is asked for (even one that never ends)', async () => {
    const run = await runHactl(['check', 'http', '--url', `${base}/huge.bin`, '--timeout', '1']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.durationMs).toBeLessThanOrEqual(1000 + MARGIN_MS);
    // 8 MiB over loopback downloads within the budget anyway; an endless body only does not (a
    // check that read it would run into its budget and exit 1).
    const endless = await runHactl(['check', 'http', '--url', `${slowBase}/endless`, '--timeout', '5']);
    expect(endless.exitCode, endless.stderr).toBe(0);
    expect(endless.stdout).toMatch(/^ok http: HTTP 200 from /);
    // With --expect-body it stops reading after the first 64 KiB and says so (not cut by the budget).
    const searched = await runHactl([
      'check',
      'http',
      '--url',
      `${slowBase}/endless`,
      '--expect-body',
      'END-MARKER',
      '--timeout',
      '5',
    ]);
    expect(searched.exitCode).toBe(1);
    expect(searched.stderr).toMatch(/not found in the first 65536 bytes/);
  });

  it.each([
    ['headers', '/', []],
    ['body', '/slow-body', ['--expect-body', 'done']],
  ])('slow %s beyond --timeout → exit 1 within the budget', async (_what, path, flags) => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `${slowBase}${path}`,
      ...flags,
      '--timeout',
      '0.6',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/check budget of 0\.6 s used up/);
    expect(run.durationMs).toBeLessThanOrEqual(600 + MARGIN_MS);
  });

  it('connection refused → exit 1 at once', async () => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `http://127.0.0.1:${closedPort}/`,
      '--timeout',
      '1',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe(`hactl: http: connection refused by 127.0.0.1:${closedPort}\n`);
    expect(run.durationMs).toBeLessThanOrEqual(1000 + MARGIN_MS);
  });

  // Whether the certificate is accepted, not how fast: a TLS handshake in a fresh process can use
  // up the default 0.8 s on a loaded 2-core machine (seen in CI), so these runs get 5 s.
  it('self-signed TLS: refused without --insecure, healthy with it', async () => {
    const strict = await runHactl(['check', 'http', '--url', `${tlsBase}/`, '--timeout', '5']);
    expect(strict.exitCode).toBe(1);
    expect(strict.stderr).toMatch(/TLS certificate of 127\.0\.0\.1:\d+ not accepted .*--insecure accepts it/);
    const insecure = await runHactl([
      'check',
      'http',
      '--url',
      `${tlsBase}/`,
      '--insecure',
      '--expect-body',
      'ha1',
      '--timeout',
      '5',
    ]);
    expect(insecure.exitCode, insecure.stderr).toBe(0);
    const named = await runHactl([
      'check',
      'http',
      '--url',
      `https://127.0.0.1:${new URL(tlsBase).port}/health`,
      '--host-header',
      'localhost',
      '--insecure',
      '--expect-body',
      'ok',
      '--timeout',
      '5',
    ]);
    expect(named.exitCode, named.stderr).toBe(0);
  });

  it('--host-header reaches the server', async () => {
    const run = await runHactl([
      'check',
      'http',
      '--url',
      `${slowBase}/host`,
      '--host-header',
      'www.example.test',
      '--expect-body',
      'host=www.example.test',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    const without = await runHactl([
      'check',
      'http',
      '--url',
      `${slowBase}/host`,
      '--expect-body',
      'host=www.example.test',
    ]);
    expect(without.exitCode).toBe(1);
  });

  it('--log-file appends one JSON line with event "check"', async () => {
    const logFile = join(dir, 'check.log');
    const run = await runHactl(['check', 'http', '--url', `${base}/500`, '--log-file', logFile, '--quiet']);
    expect(run.exitCode).toBe(1);
    const line = JSON.parse(readFileSync(logFile, 'utf8').trim().split('\n').pop()!);
    expect(line).toMatchObject({ event: 'check', check: 'http', healthy: false, command: 'check' });
    expect(line.detail).toMatch(/HTTP 500/);
  });
});
