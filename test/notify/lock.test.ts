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
