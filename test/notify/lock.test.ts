/**
 * The per-node transition lock: exclusive and bounded, notify (flock + socket) against the agent
 * (socket only) both ways, and released when its holder dies (notify's SIGKILL case is also
 * tested through the CLI).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, LockTimeout, lockSocketName, type LockOptions } from '../../src/notify/lock.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const NOTIFY: LockOptions = {};
const AGENT: LockOptions = { fileLock: false };

function lockFile(): string {
  dir = mkdtempSync(join(tmpdir(), 'hactl-lock-'));
  return join(dir, 'n.lock');
}

describe('transition lock', () => {
  it('a second taker waits until the first releases', async () => {
    const path = lockFile();
    const first = await acquireLock(path, 1);
    const t0 = Date.now();
    const second = acquireLock(path, 5);
    setTimeout(() => first.release(), 300);
    const held = await second;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    held.release();
  });

  it('the wait is bounded', async () => {
    const path = lockFile();
    const first = await acquireLock(path, 1);
    const t0 = Date.now();
    await expect(acquireLock(path, 0.3)).rejects.toBeInstanceOf(LockTimeout);
    expect(Date.now() - t0).toBeLessThan(2000);
    first.release();
  });

  // The agent takes no flock: only the socket keeps it and keepalived's notify hooks apart.
  for (const [holder, taker] of [
    ['agent', 'notify'],
    ['notify', 'agent'],
    ['agent', 'agent'],
  ] as const) {
    it(`${holder} holding it: ${taker} waits, bounded, and gets it once released`, async () => {
      const path = lockFile();
      const options = { agent: AGENT, notify: NOTIFY };
      const first = await acquireLock(path, 1, options[holder]);
      const refused = acquireLock(path, 0.3, options[taker]);
      await expect(refused).rejects.toBeInstanceOf(LockTimeout);
      await expect(refused).rejects.toThrow(/held .*n\.lock for more than 0\.3 s/);
      const t0 = Date.now();
      const second = acquireLock(path, 5, options[taker]);
      setTimeout(() => first.release(), 300);
      const held = await second;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      held.release();
    });
  }

  // notify loads the MySQL driver from this hook while the flock(1) child runs.
  it('whileWaiting runs once, before the lock is held; a throwing hook costs neither the lock nor exclusion', async () => {
    const path = lockFile();
    const first = await acquireLock(path, 1);
    let calls = 0;
    let settledAtCall: boolean | undefined;
    let settled = false;
    const second = acquireLock(path, 5, {
      whileWaiting: () => {
        calls++;
        settledAtCall = settled;
      },
    });
    void second.then(() => (settled = true));
    let thrown = false;
    const third = acquireLock(path, 5, {
      whileWaiting: () => {
        thrown = true;
        throw new Error('hook failed');
      },
    });
    // Both wait on the first holder: their hooks ran, and neither holds the lock.
    for (let i = 0; i < 100 && !(calls === 1 && thrown); i++) await new Promise((r) => setTimeout(r, 50));
    expect(thrown).toBe(true);
    expect(calls).toBe(1);
    expect(settledAtCall).toBe(false);
    expect(settled).toBe(false);
    first.release();
    // One at a time: whichever of the two gets it, the other still waits until that one releases.
    const winnerName = await Promise.race([second.then(() => 'second'), third.then(() => 'third')]);
    const [winner, loser] = winnerName === 'second' ? [second, third] : [third, second];
    const held = await winner;
    let loserHeld = false;
    void loser.then(() => (loserHeld = true));
    // A window in which a lock that excluded nothing would have been granted.
    await new Promise((r) => setTimeout(r, 300));
    expect(loserHeld).toBe(false);
    held.release();
    (await loser).release();
    expect(calls).toBe(1);
  });

  it("the agent's lock goes when its holder is SIGKILLed", async () => {
    const path = lockFile();
    // Only for the name: the holder below binds it the way the lock does, then is killed.
    const file = await open(path, 'a+');
    const name = await lockSocketName(file);
    await file.close();
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('net').createServer().listen({ path: ${JSON.stringify(name)} }, () => console.log('bound'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the holder did not bind within 20 s')), 20_000);
        holder.stdout.on('data', () => (clearTimeout(timer), resolve()));
        holder.on('exit', () => (clearTimeout(timer), reject(new Error('the holder exited'))));
      });
      await expect(acquireLock(path, 0.3, AGENT)).rejects.toBeInstanceOf(LockTimeout);
      const taking = acquireLock(path, 10, AGENT);
      holder.kill('SIGKILL');
      const held = await taking;
      expect(held.waitedMs).toBeLessThan(10_000);
      held.release();
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    }
  });

  it('the agent, which keeps its lock file open, follows a lock file that was replaced', async () => {
    const path = lockFile();
    (await acquireLock(path, 1, AGENT)).release();
    // Removed (a cleanup) and created afresh by the next notify: a new inode, so a new socket name.
    rmSync(path);
    const notify = await acquireLock(path, 1, NOTIFY);
    try {
      await expect(acquireLock(path, 0.3, AGENT)).rejects.toBeInstanceOf(LockTimeout);
    } finally {
      notify.release();
    }
    const agent = await acquireLock(path, 5, AGENT);
    agent.release();
  });
});
