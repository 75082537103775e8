/** command, service and signal actions against real processes. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { run as runCommand } from '../../src/actions/command.js';
import { run as runService } from '../../src/actions/service.js';
import { run as runSignal } from '../../src/actions/signal.js';
import type { ActionOf } from '../../src/actions/types.js';
import { isAlive, readPidFile, stopProcess, waitFor } from '../../src/lab/processes.js';
import { makeContext, never, timeoutSignal, type TestContext } from './context.js';

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
    const t0 = Date.now();
    const result = await runCommand(
      { type: 'command', argv: ['/bin/sh', '-c', 'sleep 60 & echo $! > "$1"; wait', 'sh', pidFile] },
      ctx.context,
      timeoutSignal(500),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timed out and was stopped \(SIGTERM\)/);
    expect(Date.now() - t0).toBeLessThan(3000);
    const grandchild = readPidFile(pidFile)!;
    expect(grandchild).toBeGreaterThan(1);
    started.push({ pid: grandchild, marker: 'sleep' });
    await waitFor('the background sleep to be killed', () => !isAlive(grandchild), { timeoutMs: 3000 });
  });

  it('a command ignoring SIGTERM is killed with SIGKILL after the grace period', async () => {
    ctx = makeContext('MASTER');
    const result = await runCommand(
      { type: 'command', argv: ['/bin/sh', '-c', 'trap "" TERM; sleep 30; true'] },
      ctx.context,
      timeoutSignal(300),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timed out/);
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

  it('without commands and without systemd it says what to add', async () => {
    ctx = makeContext('MASTER');
    const result = await runService({ type: 'service', name: 'nginx', op: 'reload' }, ctx.context, never);
    if (existsSync('/run/systemd/system')) return;
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/no commands\.reload for service nginx/);
  });
});

describe('signal action', () => {
  it('sends the signal to the process in the pid file', async () => {
    ctx = makeContext('MASTER');
    const marker = join(ctx.dir, 'got-usr1');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `process.on('SIGUSR1', () => require('fs').writeFileSync(${JSON.stringify(marker)}, 'yes')); setTimeout(() => {}, 30000)`,
      ],
      { stdio: 'ignore' },
    );
    started.push({ pid: child.pid!, marker: process.execPath });
    const pidFile = join(ctx.dir, 'app.pid');
    writeFileSync(pidFile, `${child.pid}\n`);
    await new Promise((r) => setTimeout(r, 300));
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
});
