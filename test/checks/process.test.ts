// `hactl check process` through the built CLI with real processes: a copy of sleep under a unique
// name (comm is the file name, cut to 15 characters), restarts that succeed and fail, and the
// backoff kept in a state file across separate check processes.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, readPidFile, stopProcess, waitFor } from '../../src/lab/processes.js';
import { runHactl } from '../support/cli.js';
import { hasProgram } from '../support/requirements.js';

describe('hactl check process', () => {
  let dir: string;
  let name: string;
  let binary: string;
  const children: ChildProcess[] = [];
  let restartedPidFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-proc-'));
    name = `hsl${process.pid % 100000}x`; // unique per test run, under 15 characters
    binary = join(dir, name);
    copyFileSync(
      hasProgram('sleep') && existsSync('/usr/bin/sleep') ? '/usr/bin/sleep' : '/bin/sleep',
      binary,
    );
    chmodSync(binary, 0o755);
    restartedPidFile = join(dir, 'restarted.pid');
    // A restart command that starts the process in the background and records its PID for cleanup.
    writeFileSync(
      join(dir, 'restart-ok.sh'),
      `#!/bin/sh\n${binary} 30 >/dev/null 2>&1 &\necho $! > ${restartedPidFile}\n`,
      { mode: 0o755 },
    );
  });

  const startOne = async () => {
    const child = spawn(binary, ['30'], { stdio: 'ignore' });
    children.push(child);
    await waitFor('the sleep copy', () => readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === name, {
      timeoutMs: 5000,
    });
    return child;
  };

  const stopRestarted = async () => {
    const pid = readPidFile(restartedPidFile);
    if (pid !== undefined) await stopProcess(pid, binary, { waitMs: 2000 });
    rmSync(restartedPidFile, { force: true });
  };

  afterEach(async () => {
    for (const child of children.splice(0)) {
      const marker = child.spawnargs.join(' ').includes('exec sleep') ? 'sleep' : binary;
      if (child.pid !== undefined && child.exitCode === null)
        await stopProcess(child.pid, marker, { waitMs: 2000 });
    }
    await stopRestarted();
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stateDir = (test: string) => join(dir, `state-${test}`);

  it('present → exit 0; absent → exit 1', async () => {
    const absent = await runHactl(['check', 'process', '--name', name]);
    expect(absent.exitCode).toBe(1);
    expect(absent.stderr).toBe(`hactl: process: no process named ${name} (need ≥ 1)\n`);
    await startOne();
    const present = await runHactl(['check', 'process', '--name', name]);
    expect(present.exitCode, present.stderr).toBe(0);
    expect(present.stdout).toBe(`ok process: 1 process named ${name} (need ≥ 1)\n`);
  });

  it('--min-count counts processes', async () => {
    await startOne();
    await startOne();
    expect((await runHactl(['check', 'process', '--name', name, '--min-count', '2'])).exitCode).toBe(0);
    const three = await runHactl(['check', 'process', '--name', name, '--min-count', '3']);
    expect(three.exitCode).toBe(1);
    expect(three.stderr).toMatch(/2 processes named .* \(need ≥ 3\)/);
  });

  it('a zombie does not count', async () => {
    // The shell execs into sleep, which never reaps its exited child: that child stays a zombie.
    const parent = spawn('/bin/sh', ['-c', `${binary} 0 & exec sleep 5`], { stdio: 'ignore' });
    children.push(parent);
    const zombies = () =>
      readdirSync('/proc').filter((pid) => {
        try {
          return /^\d+ \((.*)\) Z /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] === name;
        } catch {
          return false;
        }
      }).length;
    await waitFor('a zombie', () => zombies() === 1, { timeoutMs: 5000 });
    const run = await runHactl(['check', 'process', '--name', name]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/no process named/);
  });

  it("missing process + restart that brings it back → exit 0, outside the check's process group", async () => {
    let checkPid = 0;
    const before = Date.now();
    const run = await runHactl(
      [
        'check',
        'process',
        '--name',
        name,
        '--restart-cmd',
        join(dir, 'restart-ok.sh'),
        '--restart-wait',
        '2',
        '--state-dir',
        stateDir('ok'),
        '--timeout',
        '3',
      ],
      { onSpawn: (pid) => (checkPid = pid) },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/1 process named .* after a restart/);
    // The restart really brought it back: the process the restart command started runs, under that name.
    const restarted = readPidFile(restartedPidFile);
    expect(restarted).toBeGreaterThan(1);
    expect(isAlive(restarted!)).toBe(true);
    expect(readFileSync(`/proc/${restarted}/comm`, 'utf8').trim()).toBe(name);
    // keepalived kills the check's process group at its timeout: the restarted daemon must not be in it.
    const stat = readFileSync(`/proc/${restarted}/stat`, 'utf8');
    const [, , pgrp, session] = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    expect(checkPid).toBeGreaterThan(1);
    expect(pgrp).not.toBe(checkPid);
    expect(session).not.toBe(checkPid);
    // The attempt is recorded (ms since the epoch) for the backoff of later check processes.
    const recorded = Number(readFileSync(join(stateDir('ok'), `process-restart-${name}.last`), 'utf8'));
    expect(recorded).toBeGreaterThanOrEqual(before);
    expect(recorded).toBeLessThanOrEqual(Date.now());
  });

  it('restart arguments are passed as argv, without a shell', async () => {
    const marker = join(dir, 'argv.txt');
    const run = await runHactl([
      'check',
      'process',
      '--name',
      name,
      '--restart-cmd',
      '/bin/sh',
      '--restart-arg=-c',
      `--restart-arg=printf '%s|' "$@" > ${marker}; exit 3`,
      '--restart-arg=sh',
      '--restart-arg=a b',
      '--restart-arg=$HOME;x',
      '--state-dir',
      stateDir('argv'),
      '--restart-wait',
      '1',
      '--timeout',
      '2',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/restart command \/bin\/sh exited with status 3/);
    expect(readFileSync(marker, 'utf8')).toBe('a b|$HOME;x|');
  });

  it.each([
    ['fails', '/bin/false', /after a restart attempt: restart command \/bin\/false exited with status 1/],
    [
      'cannot run',
      '/nonexistent/restart-me',
      /restart command \/nonexistent\/restart-me could not run \(ENOENT\)/,
    ],
  ])('restart that %s → exit 1 quickly', async (_what, command, why) => {
    const run = await runHactl([
      'check',
      'process',
      '--name',
      name,
      '--restart-cmd',
      command,
      '--restart-wait',
      '2',
      '--state-dir',
      stateDir(_what.replace(/\W/g, '')),
      '--timeout',
      '3',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(why);
    expect(run.durationMs).toBeLessThan(1500);
  });

  it('restart that succeeds but the process never appears → exit 1 after --restart-wait', async () => {
    const run = await runHactl([
      'check',
      'process',
      '--name',
      name,
      '--restart-cmd',
      '/bin/true',
      '--restart-wait',
      '0.5',
      '--state-dir',
      stateDir('never'),
      '--timeout',
      '2',
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(
      /no process named .* after a restart attempt: restart command \/bin\/true exited 0/,
    );
    expect(run.durationMs).toBeGreaterThanOrEqual(500);
  });

  it('backoff: no second restart within --restart-backoff, across check processes', async () => {
    const args = [
      'check',
      'process',
      '--name',
      name,
      '--restart-cmd',
      join(dir, 'restart-ok.sh'),
      '--restart-wait',
      '2',
      '--state-dir',
      stateDir('backoff'),
      '--timeout',
      '3',
    ];
    const first = await runHactl([...args, '--restart-backoff', '60']);
    expect(first.exitCode, first.stderr).toBe(0);
    await stopRestarted();
    const second = await runHactl([...args, '--restart-backoff', '60']);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(/not restarting: last attempt \d+ s ago, backoff 60 s/);
    expect(readPidFile(restartedPidFile)).toBeUndefined();
    // With a backoff shorter than the time since the last attempt, it restarts again.
    const lastAttempt = Number(
      readFileSync(join(stateDir('backoff'), `process-restart-${name}.last`), 'utf8'),
    );
    await waitFor('the 0.2 s backoff to pass', () => Date.now() - lastAttempt > 250, { timeoutMs: 5000 });
    const third = await runHactl([...args, '--restart-backoff', '0.2']);
    expect(third.exitCode, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/after a restart/);
  });

  it('an unwritable state dir refuses to restart (exit 2) instead of restarting every time', async () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    const run = await runHactl([
      'check',
      'process',
      '--name',
      name,
      '--restart-cmd',
      '/bin/true',
      '--state-dir',
      join(file, 'sub'),
    ]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/cannot record the restart time .* not restarting/);
  });

  it.each([
    [['--name', '/usr/sbin/nginx'], /give the command name, not a path/],
    [['--name', 'x', '--restart-arg=-c'], /--restart-arg needs --restart-cmd/],
    [['--name', 'x', '--min-count', '0'], /--min-count "0"/],
    [['--name', 'x', '--restart-wait', 'soon'], /--restart-wait "soon" is not a number of seconds/],
  ])('%j → exit 2', async (flags, why) => {
    const run = await runHactl(['check', 'process', ...flags]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(why);
  });
});
