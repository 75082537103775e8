/** command, service and signal actions against real processes. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { run as runCommand } from '../../src/actions/command.js';
import { run as runService } from '../../src/actions/service.js';
import { run as runSignal } from '../../src/actions/signal.js';
import type { ActionOf } from '../../src/actions/types.js';
import { isAlive, readPidFile, stopProcess, waitFor } from '../../src/lab/processes.js';
import { hactlBin, runProgram } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { baseSpecYaml, makeContext, never, timeoutSignal, type TestContext } from './context.js';

let ctx: TestContext | undefined;
const started: { pid: number; marker: string }[] = [];

afterEach(async () => {
  for (const p of started.splice(0)) await stopProcess(p.pid, p.marker, { waitMs: 2000 });
  ctx?.cleanup();
  ctx = undefined;
});

describe('command action', () => {
  it('runs the argv without a shell, with a minimal environment that says what happens', async () => {
    ctx = makeContext('MASTER', { previous: 'BACKUP' });
    const out = join(ctx.dir, 'env.txt');
    process.env.HACTL_TEST_SECRET = 'must-not-leak';
    const action: ActionOf<'command'> = {
      type: 'command',
      argv: ['/bin/sh', '-c', 'env > "$1"', 'sh', out],
      env: { EXTRA: 'a value with spaces' },
    };
    const result = await runCommand(action, ctx.context, never);
    delete process.env.HACTL_TEST_SECRET;
    expect(result.ok, result.detail).toBe(true);
    const env = readFileSync(out, 'utf8');
    expect(env).toContain('HACTL_STATE=MASTER');
    expect(env).toContain('HACTL_PREVIOUS=BACKUP');
    expect(env).toContain('HACTL_NODE=ha1');
    expect(env).toContain('EXTRA=a value with spaces');
    expect(env).not.toContain('HACTL_TEST_SECRET');
  });

  it('reports a non-zero exit with the end of its output', async () => {
    ctx = makeContext('BACKUP');
    const result = await runCommand(
      { type: 'command', argv: ['/bin/sh', '-c', 'echo boom >&2; exit 3'] },
      ctx.context,
      never,
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toBe('/bin/sh exited 3: boom');
  });

  it('a program that does not exist fails without throwing', async () => {
    ctx = makeContext('BACKUP');
    const result = await runCommand({ type: 'command', argv: ['/nonexistent/prog'] }, ctx.context, never);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/could not run.*ENOENT/);
  });

  it('at its timeout the command and everything it started are killed', async () => {
    ctx = makeContext('MASTER');
    const pidFile = join(ctx.dir, 'grandchild.pid');
    const controller = new AbortController();
    const running = runCommand(
      { type: 'command', argv: ['/bin/sh', '-c', 'sleep 60 & echo $! > "$1"; wait', 'sh', pidFile] },
      ctx.context,
      controller.signal,
    );
    // The timeout fires once the command has started its child: on a busy machine a fixed 500 ms
    // could end the shell before it forked anything, and the test would prove nothing.
    await waitFor('the command to start its background sleep', () => readPidFile(pidFile) !== undefined, {
      timeoutMs: 10_000,
    });
    const grandchild = readPidFile(pidFile)!;
    started.push({ pid: grandchild, marker: 'sleep' });
    const abortedAt = Date.now();
    controller.abort();
    const result = await running;
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timed out and was stopped \(SIGTERM\)/);
    expect(Date.now() - abortedAt).toBeLessThan(3000);
    await waitFor('the background sleep to be killed', () => !isAlive(grandchild), { timeoutMs: 3000 });
  });

  it('a command ignoring SIGTERM is killed with SIGKILL after the grace period, with everything it started', async () => {
    ctx = makeContext('MASTER');
    const pidsFile = join(ctx.dir, 'pids');
    const controller = new AbortController();
    // TERM is ignored by the shell and, inherited, by its background sleep: only SIGKILL ends them.
    const running = runCommand(
      {
        type: 'command',
        argv: [
          '/bin/sh',
          '-c',
          'trap "" TERM; sleep 30 & echo "$$ $!" > "$1.tmp"; mv "$1.tmp" "$1"; wait',
          'sh',
          pidsFile,
        ],
      },
      ctx.context,
      controller.signal,
    );
    await waitFor('the command to record its pids', () => existsSync(pidsFile), { timeoutMs: 10_000 });
    const [shell, sleeper] = readFileSync(pidsFile, 'utf8').trim().split(' ').map(Number) as [number, number];
    expect(shell).toBeGreaterThan(1);
    expect(sleeper).toBeGreaterThan(1);
    started.push({ pid: sleeper, marker: 'sleep' });
    const abortedAt = Date.now();
    controller.abort();
    const result = await running;
    const tookMs = Date.now() - abortedAt;
    expect(result.ok).toBe(false);
    // The report names the signal that really ended it (from the exit status, not a guess).
    expect(result.detail).toBe('/bin/sh timed out and was stopped (SIGKILL)');
    // SIGTERM first, SIGKILL only after the grace period (2 s in src/actions/spawn.ts) …
    expect(tookMs).toBeGreaterThanOrEqual(1900);
    // … and well before the 30 s the sleep would take on its own.
    expect(tookMs).toBeLessThan(15_000);
    expect(isAlive(shell)).toBe(false);
    // The whole group got SIGKILL: the background sleep that also ignored TERM is gone too.
    await waitFor('the background sleep to be killed', () => !isAlive(sleeper), { timeoutMs: 3000 });
  });
});

describe('service action (no systemd here: commands argv)', () => {
  const daemon = (pidFile: string): ActionOf<'service'>['commands'] => ({
    start: [
      'start-stop-daemon',
      '--start',
      '--background',
      '--make-pidfile',
      '--pidfile',
      pidFile,
      '--exec',
      '/usr/bin/sleep',
      '--',
      '300',
    ],
    stop: [
      'start-stop-daemon',
      '--stop',
      '--oknodo',
      '--pidfile',
      pidFile,
      '--remove-pidfile',
      '--retry',
      'TERM/5/KILL/2',
    ],
  });

  it('start leaves the daemon running and returns; stop ends it', async () => {
    ctx = makeContext('MASTER');
    const pidFile = join(ctx.dir, 'app.pid');
    const start = await runService(
      { type: 'service', name: 'app', op: 'start', commands: daemon(pidFile) },
      ctx.context,
      never,
    );
    expect(start.ok, start.detail).toBe(true);
    await waitFor('the pid file', () => readPidFile(pidFile) !== undefined, { timeoutMs: 3000 });
    const pid = readPidFile(pidFile)!;
    started.push({ pid, marker: 'sleep' });
    expect(isAlive(pid)).toBe(true);
    const stop = await runService(
      { type: 'service', name: 'app', op: 'stop', commands: daemon(pidFile) },
      ctx.context,
      never,
    );
    expect(stop.ok, stop.detail).toBe(true);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('a start command that leaves a child holding its output does not hang the action', async () => {
    ctx = makeContext('MASTER');
    const pidFile = join(ctx.dir, 'bg.pid');
    const t0 = Date.now();
    const result = await runService(
      {
        type: 'service',
        name: 'bg',
        op: 'start',
        commands: { start: ['/bin/sh', '-c', 'sleep 30 & echo $! > "$1"; echo started', 'sh', pidFile] },
      },
      ctx.context,
      timeoutSignal(5000),
    );
    started.push({ pid: readPidFile(pidFile)!, marker: 'sleep' });
    expect(result.ok, result.detail).toBe(true);
    expect(result.detail).toContain('started');
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

/**
 * A service action without `commands` runs `systemctl <op> <name>` exactly when systemd is PID 1
 * (/run/systemd/system exists, sd_booted(3)), else fails saying what to add. Both branches run on
 * every host: `hactl notify` (built CLI) runs in a private mount namespace whose /run is a fresh
 * tmpfs, with or without /run/systemd/system, and a `systemctl` stand-in first on PATH records its
 * argv. Nothing touches the host's systemd or nginx.
 */
const nsMissing = requirementsMissing({ root: true, programs: ['unshare', 'mount', 'flock'] });

describe.skipIf(nsMissing)(
  titled('service action without commands: systemctl only under systemd', nsMissing),
  () => {
    let dir = '';
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = '';
    });

    async function notifyReload(systemd: boolean) {
      dir = mkdtempSync(join(tmpdir(), 'hactl-systemd-'));
      mkdirSync(join(dir, 'bin'));
      writeFileSync(
        join(dir, 'bin', 'systemctl'),
        `#!/bin/sh\necho "$*" >> ${join(dir, 'systemctl.calls')}\necho stand-in reloaded\n`,
        { mode: 0o755 },
      );
      const spec = join(dir, 'spec.yaml');
      writeFileSync(
        spec,
        baseSpecYaml(`paths: { runtime_dir: ${dir}/run }
logging: { file: ${dir}/hactl.log }
actions:
  backup:
    - { type: service, name: nginx, op: reload }
`),
      );
      const setup = [
        'mount -t tmpfs hactl-test-run /run',
        ...(systemd ? ['mkdir -p /run/systemd/system'] : []),
        'exec "$@"',
      ].join(' && ');
      const run = await runProgram(
        [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          '--',
          '/bin/sh',
          '-c',
          setup,
          'sh',
          process.execPath,
          hactlBin,
          'notify',
          '--spec',
          spec,
          '--node',
          'ha1',
          'backup',
        ],
        {
          env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` },
          timeoutMs: 30_000,
        },
      );
      const log = readFileSync(join(dir, 'hactl.log'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const step = log.find((line) => line.event === 'notify.action');
      const calls = existsSync(join(dir, 'systemctl.calls'))
        ? readFileSync(join(dir, 'systemctl.calls'), 'utf8')
        : '';
      return { run, step, calls };
    }

    it('systemd running: runs `systemctl reload nginx` and reports its exit', async () => {
      const { run, step, calls } = await notifyReload(true);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(calls).toBe('reload nginx\n');
      expect(step).toMatchObject({
        action: 'service reload nginx',
        result: 'ok',
        argv0: 'systemctl',
        reason: 'reload nginx: systemctl exited 0: stand-in reloaded',
      });
    });

    it('no systemd: never runs systemctl, fails the step saying what to add', async () => {
      const { run, step, calls } = await notifyReload(false);
      // The step failed, so the transition is partial: exit 1, and it stays unapplied for a retry.
      expect(run.exitCode, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/BACKUP partial/);
      expect(calls).toBe('');
      expect(step).toMatchObject({ action: 'service reload nginx', result: 'failed' });
      expect(step?.reason).toMatch(
        /^no commands\.reload for service nginx and systemd is not running here; add commands\.reload \(an argv\)/,
      );
    });
  },
);

describe('signal action', () => {
  it('sends the signal to the process in the pid file', async () => {
    ctx = makeContext('MASTER');
    const marker = join(ctx.dir, 'got-usr1');
    const ready = join(ctx.dir, 'ready');
    // The child says when its handler is installed: before that, SIGUSR1 would start Node's inspector.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); process.on('SIGUSR1', () => fs.writeFileSync(${JSON.stringify(marker)}, 'yes')); fs.writeFileSync(${JSON.stringify(ready)}, ''); setTimeout(() => {}, 30000)`,
      ],
      { stdio: 'ignore' },
    );
    started.push({ pid: child.pid!, marker: process.execPath });
    const pidFile = join(ctx.dir, 'app.pid');
    writeFileSync(pidFile, `${child.pid}\n`);
    await waitFor('the child to install its handler', () => existsSync(ready), { timeoutMs: 10_000 });
    expect(existsSync(marker)).toBe(false);
    const result = await runSignal({ type: 'signal', pidfile: pidFile, signal: 'USR1' }, ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    await waitFor('the handler to run', () => existsSync(marker), { timeoutMs: 3000 });
  });

  it('a stale pid file is a failure that says so', async () => {
    ctx = makeContext('MASTER');
    const pidFile = join(ctx.dir, 'stale.pid');
    writeFileSync(pidFile, '4194303\n');
    const result = await runSignal({ type: 'signal', pidfile: pidFile, signal: 'HUP' }, ctx.context, never);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/not running \(stale pid file\)/);
  });

  it('a missing pid file is a failure', async () => {
    ctx = makeContext('MASTER');
    const result = await runSignal(
      { type: 'signal', pidfile: join(ctx.dir, 'none.pid'), signal: 'HUP' },
      ctx.context,
      never,
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/ENOENT/);
  });

  it('a pid file that is a device or a FIFO fails at once instead of stalling the action', async () => {
    ctx = makeContext('MASTER');
    const device = await runSignal(
      { type: 'signal', pidfile: '/dev/zero', signal: 'HUP' },
      ctx.context,
      never,
    );
    expect(device).toMatchObject({ ok: false });
    expect(device.detail).toMatch(/^pid file \/dev\/zero holds no usable PID/);
    const fifo = join(ctx.dir, 'fifo.pid');
    await runProgram(['mkfifo', fifo]);
    const started = performance.now();
    const fromFifo = await runSignal({ type: 'signal', pidfile: fifo, signal: 'HUP' }, ctx.context, never);
    expect(fromFifo.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('actions that spawn, on an unusable runtime dir', () => {
  it('a runtime dir under /proc fails the step with the field named, and returns', async () => {
    ctx = makeContext('BACKUP');
    ctx.context.runtimeDir = '/proc/hactl-test/x';
    const result = await runCommand({ type: 'command', argv: ['/bin/true'] }, ctx.context, never);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/paths\.runtime_dir .*\/proc/);
  });
});
