// `hactl check` ends at its budget whatever the peer does and whatever the user passes: peers that
// accept and never answer, greet and stall, trickle or flood (MySQL and HTTP), state paths under
// /proc, a catastrophic regex over a streamed body, and an event loop that is stuck outright.
// Every run goes through the built CLI; wall times include process start and exit.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hactlBin, runHactl, runProgram } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { startFakePeer, type Misbehaviour } from './fake-peers.js';

/** The budget every run gets: large enough that a loaded 2-core machine starts node well within it. */
const BUDGET_S = 2;
const BUDGET_MS = BUDGET_S * 1000;
/** What a run may take beyond its budget on a loaded machine: spawn, exit, the harness's own wait. */
const MARGIN_MS = 1500;
/** The harness kills a run after this long; the old behaviour (10 s and more) ends up here. */
const HARNESS_KILL_MS = 20_000;
const PASSWORD = 'Pw-9f3kQ-distinctive';

let dir: string;
let defaultsFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-bounded-'));
  defaultsFile = join(dir, 'client.cnf');
  writeFileSync(defaultsFile, `[client]\nuser=check\npassword=${PASSWORD}\n`);
  chmodSync(defaultsFile, 0o600);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Most runs here wait out their budget doing nothing (the peer stalls): two at a time halves that
 * wait. Not more, and a run that burns its budget on CPU (the catastrophic regex) takes both
 * slots: each run's wall time, start-up included, is still held to the budget plus MARGIN_MS on
 * a machine with one free core. Bounded: every waiter is a test with its own timeout.
 */
const SLOTS = 2;
let freeSlots = SLOTS;
const waiters: (() => void)[] = [];

async function inSlots<T>(slots: number, work: () => Promise<T>): Promise<T> {
  while (freeSlots < slots) await new Promise<void>((wake) => waiters.push(wake));
  freeSlots -= slots;
  try {
    return await work();
  } finally {
    freeSlots += slots;
    for (const wake of waiters.splice(0)) wake();
  }
}

function expectBounded(run: { exitCode: number; durationMs: number; timedOut: boolean; stderr: string }) {
  expect(run.timedOut, `still running after ${HARNESS_KILL_MS} ms: ${run.stderr}`).toBe(false);
  expect(run.durationMs, run.stderr).toBeLessThanOrEqual(BUDGET_MS + MARGIN_MS);
}

describe.concurrent.each(['mysql', 'replication'])(
  'hactl check %s against a peer that misbehaves',
  (kind) => {
    it.each<[Misbehaviour, RegExp]>([
      ['stall', /MySQL at 127\.0\.0\.1:\d+: aborted (while|before) connecting: check budget of 2 s used up/],
      ['greet', /MySQL at 127\.0\.0\.1:\d+: aborted (while|before) connecting: check budget of 2 s used up/],
      [
        'trickle',
        /MySQL at 127\.0\.0\.1:\d+: aborted (while|before) connecting: check budget of 2 s used up/,
      ],
      ['flood', /MySQL at 127\.0\.0\.1:\d+: the peer sent more than 1048576 bytes/],
    ])('%s → exit 1 within the budget, one line saying why', async (mode, why) => {
      const peer = await startFakePeer('mysql', mode);
      try {
        const run = await inSlots(1, () =>
          runHactl(
            [
              'check',
              kind,
              '--defaults-file',
              defaultsFile,
              '--host',
              '127.0.0.1',
              '--port',
              String(peer.port),
              '--timeout',
              String(BUDGET_S),
            ],
            { timeoutMs: HARNESS_KILL_MS },
          ),
        );
        expectBounded(run);
        expect(run.exitCode, run.stderr).toBe(1);
        expect(run.stderr).toMatch(new RegExp(`^hactl: ${kind}: ${why.source}[^\\n]*\\n$`));
        expect(run.stderr).not.toContain(PASSWORD);
        expect(peer.accepted()).toBe(1);
      } finally {
        await peer.close();
      }
    });
  },
);

describe.skipIf(requirementsMissing({ programs: ['time'] }))(
  titled(
    'a flooding MySQL peer costs a bounded amount of memory',
    requirementsMissing({ programs: ['time'] }),
  ),
  () => {
    it('1 GiB offered: at most 1 MiB read, peak RSS well under what buffering it would take', async () => {
      const peer = await startFakePeer('mysql', 'flood');
      try {
        const run = await runProgram(
          [
            '/usr/bin/time',
            '-f',
            'peak-rss-kb %M',
            process.execPath,
            hactlBin,
            'check',
            'mysql',
            '--defaults-file',
            defaultsFile,
            '--host',
            '127.0.0.1',
            '--port',
            String(peer.port),
            '--timeout',
            String(BUDGET_S),
          ],
          { timeoutMs: HARNESS_KILL_MS },
        );
        expectBounded(run);
        const rssKb = Number(/peak-rss-kb (\d+)/.exec(run.stderr)?.[1]);
        expect(rssKb, run.stderr).toBeGreaterThan(0);
        // A check's usual peak is ~50–65 MB; buffering the flood grew past 100 MB within a second.
        expect(rssKb / 1024, run.stderr).toBeLessThan(90);
        expect(run.stderr).toMatch(/the peer sent more than 1048576 bytes/);
      } finally {
        await peer.close();
      }
    });
  },
);

describe('hactl check http against a peer that misbehaves', () => {
  it.concurrent.each<[string, Misbehaviour, { floodHeaders?: boolean }, string[], RegExp]>([
    [
      'stall',
      'stall',
      {},
      [],
      /no complete answer from http:\/\/127\.0\.0\.1:\d+\/: check budget of 2 s used up/,
    ],
    ['greet', 'greet', {}, [], /no complete answer from .*: check budget of 2 s used up/],
    ['trickle', 'trickle', {}, [], /no complete answer from .*: check budget of 2 s used up/],
    ['flood of headers', 'flood', { floodHeaders: true }, [], /sent more than 16384 bytes of headers/],
    [
      'flood of body, substring never found',
      'flood',
      {},
      ['--expect-body', 'MARKER'],
      /"MARKER" not found in the first 65536 bytes of the body/,
    ],
    [
      'flood of x, catastrophic regex',
      'flood',
      {},
      ['--expect-body', '/(x+x+)+y/'],
      /\/\(x\+x\+\)\+y\/ not evaluated over 65536 bytes: gave up after \d+ ms, at the end of the budget/,
    ],
  ])('%s → exit 1 within the budget', async (_name, mode, peerOptions, flags, why) => {
    const peer = await startFakePeer('http', mode, peerOptions);
    try {
      const cpuBound = flags.some((flag) => flag.startsWith('/'));
      const run = await inSlots(cpuBound ? SLOTS : 1, () =>
        runHactl(
          [
            'check',
            'http',
            '--url',
            `http://127.0.0.1:${peer.port}/`,
            ...flags,
            '--timeout',
            String(BUDGET_S),
            '--quiet',
          ],
          { timeoutMs: HARNESS_KILL_MS },
        ),
      );
      expectBounded(run);
      expect(run.exitCode, run.stderr).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^hactl: http: [^\\n]*${why.source}[^\\n]*\\n$`));
    } finally {
      await peer.close();
    }
  });

  describe('a short body that takes a catastrophic regex exponential time', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      // 40 x's: /(x+x+)+y/ needs ~2^40 steps on them.
      server = createServer((_req, res) => res.end('x'.repeat(40)));
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('is given up at the budget (cut off by V8), and a plain regex still matches', async () => {
      const url = `http://127.0.0.1:${port}/`;
      const run = await runHactl(
        ['check', 'http', '--url', url, '--expect-body', '/(x+x+)+y/', '--timeout', String(BUDGET_S)],
        { timeoutMs: HARNESS_KILL_MS },
      );
      expectBounded(run);
      expect(run.exitCode, run.stderr).toBe(1);
      expect(run.stderr).toMatch(
        /not evaluated over 40 bytes: gave up after \d+ ms, at the end of the budget/,
      );
      const plain = await runHactl([
        'check',
        'http',
        '--url',
        url,
        '--expect-body',
        '/^x{40}$/',
        '--timeout',
        '5',
      ]);
      expect(plain.exitCode, plain.stderr).toBe(0);
      expect(plain.stdout).toMatch(/body \(40 bytes\) matches \/\^x\{40\}\$\//);
    });
  });
});

describe('hactl check with a state path on a pseudo-filesystem', () => {
  it.each([
    ['/proc/x', [], /--state-dir "\/proc\/x" is under \/proc, a pseudo-filesystem/],
    ['/proc/x', ['--restart-cmd', '/bin/true'], /--state-dir "\/proc\/x" is under \/proc/],
    ['/sys/fs/hactl', ['--restart-cmd', '/bin/true'], /--state-dir "\/sys\/fs\/hactl" is under \/sys/],
    ['LINK/x', ['--restart-cmd', '/bin/true'], /leads through a symlink into \/proc/],
  ])(
    '--state-dir %s %j → exit 2 within the budget, naming the flag and the fix',
    async (path, flags, why) => {
      const link = join(dir, `proc-link-${process.pid}`);
      rmSync(link, { force: true });
      symlinkSync('/proc', link);
      const run = await runHactl(
        [
          'check',
          'process',
          '--name',
          `nosuch${process.pid}`,
          ...flags,
          '--state-dir',
          path.replace('LINK', link),
          '--timeout',
          String(BUDGET_S),
        ],
        { timeoutMs: HARNESS_KILL_MS },
      );
      expectBounded(run);
      expect(run.exitCode, run.stderr).toBe(2);
      expect(run.stderr).toMatch(why);
      expect(run.stderr).toMatch(/choose a directory on a real filesystem/);
      expect(run.stderr).toMatch(/hint: .*--state-dir \/run\/hactl/);
    },
  );

  it('--defaults-file under /proc → exit 2 before anything reads it', async () => {
    const run = await runHactl(
      ['check', 'mysql', '--defaults-file', '/proc/self/environ', '--timeout', String(BUDGET_S)],
      { timeoutMs: HARNESS_KILL_MS },
    );
    expectBounded(run);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/--defaults-file "\/proc\/self\/environ" is under \/proc/);
  });
});

describe('the hard stop holds when the event loop is stuck', () => {
  const fixture = new URL('./fixtures/block-loop.cjs', import.meta.url).pathname;

  it('a check whose main thread spins forever is killed shortly after its budget, saying why', async () => {
    const peer = await startFakePeer('http', 'stall');
    const logFile = join(dir, 'stuck.log');
    try {
      const run = await runHactl(
        [
          'check',
          'http',
          '--url',
          `http://127.0.0.1:${peer.port}/`,
          '--check-name',
          'web',
          '--log-file',
          logFile,
          '--timeout',
          String(BUDGET_S),
        ],
        {
          timeoutMs: HARNESS_KILL_MS,
          env: { ...process.env, NODE_OPTIONS: `--require ${fixture}`, HACTL_TEST_BLOCK_AFTER_MS: '100' },
        },
      );
      expectBounded(run);
      expect(run.exitCode, run.stderr).toBe(128 + 9);
      expect(run.stderr).toMatch(
        /^hactl: web: still running \d+ ms after start, past the check budget of 2 s \(event loop or exit blocked\); killed by the hard stop\n$/,
      );
      const line = JSON.parse(readFileSync(logFile, 'utf8').trim()) as Record<string, unknown>;
      expect(line).toMatchObject({
        level: 'warn',
        command: 'check',
        event: 'check',
        check: 'web',
        healthy: false,
      });
      expect(line.detail).toMatch(/killed by the hard stop/);
      expect(line.duration_ms).toBeGreaterThanOrEqual(BUDGET_MS);
    } finally {
      await peer.close();
    }
  });

  it('a healthy check whose exit hangs on a blocked threadpool call is killed all the same', async () => {
    const peer = await startFakePeer('http', 'stall'); // accepts: a tcp check of it is healthy
    const fifo = join(dir, `no-reader-${process.pid}`);
    const logFile = join(dir, 'exit-hang.log');
    execFileSync('mkfifo', [fifo]);
    try {
      const run = await runHactl(
        [
          'check',
          'tcp',
          '--host',
          '127.0.0.1',
          '--port',
          String(peer.port),
          '--check-name',
          'db',
          '--log-file',
          logFile,
          '--timeout',
          String(BUDGET_S),
        ],
        {
          timeoutMs: HARNESS_KILL_MS,
          env: { ...process.env, NODE_OPTIONS: `--require ${fixture}`, HACTL_TEST_BLOCK_FIFO: fifo },
        },
      );
      expectBounded(run);
      // The verdict was printed; the exit that should have followed never completed.
      expect(run.stdout).toMatch(/^ok db: connected to 127\.0\.0\.1:\d+ in \d+ ms\n$/);
      expect(run.exitCode, run.stderr).toBe(128 + 9);
      expect(run.stderr).toMatch(
        /^hactl: db: still running \d+ ms after start, .*killed by the hard stop\n$/,
      );
      const line = JSON.parse(readFileSync(logFile, 'utf8').trim()) as Record<string, unknown>;
      expect(line).toMatchObject({ event: 'check', check: 'db', kind: 'tcp' });
      expect(line.detail).toMatch(/still running \d+ ms after start, .*killed by the hard stop/);
    } finally {
      rmSync(fifo, { force: true });
      await peer.close();
    }
  });
});
