// A failing check leaves its reason and duration in the log file — as keepalived runs it (--quiet,
// stderr discarded) — one JSON line in the shape of hactl's pino lines, rate-limited per check
// across processes, and a log that cannot be written never changes the check's verdict.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BURST, failureLine, REFILL_MS, takeToken } from '../../src/checks/failure-log.js';
import { createLogger } from '../../src/log.js';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { startFakePeer } from './fake-peers.js';

describe('takeToken: a burst, then one line per REFILL_MS, counting what was left out', () => {
  it('logs BURST failures, suppresses the rest, and carries the count into the next line', () => {
    let state = undefined as ReturnType<typeof takeToken>['next'] | undefined;
    const logged: number[] = [];
    const t0 = 1_000_000;
    for (let i = 0; i < BURST + 4; i++) {
      const decision = takeToken(state, t0 + i * 1000);
      if (decision.log) logged.push(i);
      state = decision.next;
    }
    expect(logged).toEqual([0, 1, 2].slice(0, BURST));
    expect(state!.suppressed).toBe(4);
    const later = takeToken(state, t0 + (BURST + 3) * 1000 + REFILL_MS);
    expect(later).toMatchObject({ log: true, suppressed: 4 });
    expect(later.next.suppressed).toBe(0);
    // Refilled by one token only: the next failure right after is suppressed again.
    expect(takeToken(later.next, t0 + (BURST + 3) * 1000 + REFILL_MS + 1).log).toBe(false);
  });
});

describe('failureLine has the shape of hactl pino lines', () => {
  it('level, time, pid and command come first, as pino writes them; then the check fields', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-pino-'));
    try {
      const file = join(dir, 'pino.log');
      createLogger({ file, base: { command: 'check' } }).warn({ event: 'check', check: 'x' });
      const pinoLine = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const ours = JSON.parse(
        failureLine(
          { file, check: 'db' },
          { kind: 'tcp', detail: 'cannot connect', budgetMs: 750 },
          { time: new Date().toISOString(), durationMs: 12, suppressed: 0 },
        ),
      ) as Record<string, unknown>;
      expect(Object.keys(ours).slice(0, 5)).toEqual(Object.keys(pinoLine).slice(0, 5));
      expect(Object.keys(ours).slice(0, 5)).toEqual(['level', 'time', 'pid', 'command', 'event']);
      for (const key of ['level', 'time', 'pid', 'command', 'event'])
        expect(typeof ours[key], key).toBe(typeof pinoLine[key]);
      expect(ours.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(ours).toMatchObject({
        level: 'warn',
        command: 'check',
        event: 'check',
        check: 'db',
        kind: 'tcp',
        healthy: false,
        detail: 'cannot connect',
        duration_ms: 12,
        budget_ms: 750,
        suppressed: 0,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hactl check --log-file', () => {
  let dir: string;
  let closedPort: number;
  let openPort: number;
  let server: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-faillog-'));
    closedPort = await freePort();
    openPort = await freePort();
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(openPort, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const failing = (logFile: string, extra: string[] = []) =>
    runHactl([
      'check',
      'tcp',
      '--host',
      '127.0.0.1',
      '--port',
      String(closedPort),
      '--check-name',
      'db',
      '--log-file',
      logFile,
      '--timeout',
      '5',
      '--quiet',
      ...extra,
    ]);

  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('a failing check (as keepalived runs it: --quiet) logs its reason and duration', async () => {
    const logFile = join(dir, 'one', 'hactl.log');
    const run = await failing(logFile);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^hactl: db: cannot connect to 127\.0\.0\.1:\d+: connection refused\n$/);
    const [line, ...rest] = lines(logFile);
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      level: 'warn',
      command: 'check',
      event: 'check',
      check: 'db',
      kind: 'tcp',
      healthy: false,
      budget_ms: 5000,
      suppressed: 0,
    });
    expect(line!.detail).toMatch(/cannot connect to 127\.0\.0\.1:\d+: connection refused/);
    expect(line!.duration_ms).toBeGreaterThan(0);
    expect(line!.duration_ms).toBeLessThan(5000);
  });

  it('is rate-limited across processes: a burst, then suppressed, counted in the next line', async () => {
    const logFile = join(dir, 'burst.log');
    for (let i = 0; i < BURST + 2; i++) expect((await failing(logFile)).exitCode).toBe(1);
    expect(lines(logFile)).toHaveLength(BURST);
    const stateFile = `${logFile}.check-db.state`;
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      tokens: number;
      at: number;
      suppressed: number;
    };
    expect(state.suppressed).toBe(2);
    // As if a refill interval had passed since the last failure.
    writeFileSync(stateFile, JSON.stringify({ ...state, at: state.at - REFILL_MS }));
    expect((await failing(logFile)).exitCode).toBe(1);
    const all = lines(logFile);
    expect(all).toHaveLength(BURST + 1);
    expect(all.at(-1)).toMatchObject({ check: 'db', suppressed: 2 });
  });

  it('each check has its own budget of lines', async () => {
    const logFile = join(dir, 'two-checks.log');
    for (let i = 0; i < BURST; i++) await failing(logFile);
    expect((await failing(logFile, ['--check-name', 'other'])).exitCode).toBe(1);
    expect(lines(logFile).map((line) => line.check)).toEqual([...Array<string>(BURST).fill('db'), 'other']);
  });

  it('a check given up at its budget (a peer that never answers) is logged too', async () => {
    const peer = await startFakePeer('http', 'stall');
    try {
      const logFile = join(dir, 'timeout.log');
      const run = await runHactl([
        'check',
        'http',
        '--url',
        `http://127.0.0.1:${peer.port}/`,
        '--check-name',
        'web',
        '--log-file',
        logFile,
        '--timeout',
        '1.5',
        '--quiet',
      ]);
      expect(run.exitCode).toBe(1);
      const [line, ...rest] = lines(logFile);
      expect(rest).toEqual([]);
      expect(line).toMatchObject({ event: 'check', check: 'web', kind: 'http', budget_ms: 1500 });
      expect(line!.detail).toMatch(/no complete answer from .*: check budget of 1\.5 s used up/);
      expect(line!.duration_ms).toBeGreaterThanOrEqual(1300);
    } finally {
      await peer.close();
    }
  });

  it('a healthy check writes nothing', async () => {
    const logFile = join(dir, 'healthy.log');
    const run = await runHactl([
      'check',
      'tcp',
      '--host',
      '127.0.0.1',
      '--port',
      String(openPort),
      '--log-file',
      logFile,
      '--timeout',
      '5',
    ]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(existsSync(logFile)).toBe(false);
  });

  it.each([
    [
      'under /proc',
      () => '/proc/hactl-nothing/check.log',
      /--log-file "\/proc\/hactl-nothing\/check\.log" is under \/proc/,
    ],
    [
      'a directory',
      () => {
        const path = join(dir, 'a-directory');
        mkdirSync(path, { recursive: true });
        return path;
      },
      /cannot log to --log-file .*a-directory.*: EISDIR/,
    ],
    [
      'a FIFO without a reader',
      () => {
        const path = join(dir, `fifo-${process.pid}`);
        rmSync(path, { force: true });
        execFileSync('mkfifo', [path]);
        return path;
      },
      /cannot log to --log-file .*fifo-\d+.*: ENXIO/,
    ],
  ])('a log file %s: warned about, never blocks, never changes the exit code', async (_what, path, why) => {
    const logFile = path();
    const run = await failing(logFile);
    expect(run.exitCode).toBe(1);
    expect(run.timedOut).toBe(false);
    expect(run.durationMs).toBeLessThan(5000);
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toMatch(/^hactl: db: cannot connect/m);
  });

  it('check --spec logs to the spec logging.file with the cluster and node', async () => {
    const logFile = join(dir, 'spec', 'hactl.log');
    const specFile = join(dir, 'hactl.yaml');
    writeFileSync(
      specFile,
      `version: 1
cluster: web
nodes:
  - { name: ha1, priority: 150, networks: { inside: { interface: eth1, address: 192.0.2.11 } } }
  - { name: ha2, priority: 120, networks: { inside: { interface: eth1, address: 192.0.2.12 } } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
logging: { file: ${logFile} }
checks:
  - { name: closed, kind: tcp, interval: 3, params: { host: 127.0.0.1, port: ${closedPort} } }
`,
    );
    const run = await runHactl(['check', '--spec', specFile, '--node', 'ha1', 'closed', '--quiet']);
    expect(run.exitCode).toBe(1);
    expect(lines(logFile)).toEqual([
      expect.objectContaining({
        cluster: 'web',
        node: 'ha1',
        event: 'check',
        check: 'closed',
        kind: 'tcp',
        budget_ms: 2750,
        suppressed: 0,
      }),
    ]);
  });
});
