/** The per-node lock: exclusive and bounded (release on SIGKILL is tested through the CLI). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, LockTimeout } from '../../src/notify/lock.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('notify lock', () => {
  it('a second taker waits until the first releases', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-lock-'));
    const path = join(dir, 'n.lock');
    const first = await acquireLock(path, 1);
    const t0 = Date.now();
    const second = acquireLock(path, 5);
    setTimeout(() => first.release(), 300);
    const held = await second;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    held.release();
  });

  it('the wait is bounded', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-lock-'));
    const path = join(dir, 'n.lock');
    const first = await acquireLock(path, 1);
    const t0 = Date.now();
    await expect(acquireLock(path, 0.3)).rejects.toBeInstanceOf(LockTimeout);
    expect(Date.now() - t0).toBeLessThan(2000);
    first.release();
  });
});
