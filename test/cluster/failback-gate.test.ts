import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failbackGate, gateDepth, type FailbackGateInput } from '../../src/cluster/failback-gate.js';
import { failbackRecordPath, readLastFailback, recordFailback } from '../../src/cluster/failback-record.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

function input(overrides: Partial<FailbackGateInput>): FailbackGateInput {
  return {
    self: { name: 'ha1', priority: 150 },
    peers: [{ name: 'ha2', priority: 120 }],
    holdsEveryVip: false,
    caughtUp: { ok: true, detail: 'caught up at 0-1-40' },
    lastOpenedAt: undefined,
    now: NOW,
    ...overrides,
  };
}

describe('failbackGate', () => {
  it('puts a returning preferred node one point below its peer until its database caught up', () => {
    const gate = failbackGate(input({ caughtUp: { ok: false, detail: 'received 0-1-40, applied 0-1-12' } }));
    expect(gate).toMatchObject({ value: 31, open: false });
    expect(150 - gate.value).toBeLessThan(120);
    expect(gate.reason).toMatch(/not caught up: received 0-1-40, applied 0-1-12/);
  });

  it('stays shut while the database has not been judged', () => {
    expect(failbackGate(input({ caughtUp: undefined }))).toMatchObject({ value: 31, open: false });
  });

  it('opens once caught up', () => {
    const gate = failbackGate(input({}));
    expect(gate).toMatchObject({ value: 0, open: true });
    expect(gate.reason).toMatch(/caught up \(caught up at 0-1-40\)/);
  });

  it('never lowers the node that holds the VIPs, caught up or not', () => {
    const gate = failbackGate(input({ holdsEveryVip: true, caughtUp: { ok: false, detail: 'no replica' } }));
    expect(gate).toMatchObject({ value: 0, open: true });
  });

  it('does nothing on a node whose peer is stronger (it never preempts)', () => {
    const gate = failbackGate(
      input({
        self: { name: 'ha2', priority: 120 },
        peers: [{ name: 'ha1', priority: 150 }],
        caughtUp: undefined,
      }),
    );
    expect(gate).toMatchObject({ value: 0, open: true });
  });

  it('stays shut within the cooldown after the last failback, and opens after it', () => {
    const recent = failbackGate(input({ lastOpenedAt: NOW - 59_000 }));
    expect(recent).toMatchObject({ value: 31, open: false });
    expect(recent.reason).toMatch(/cooling down until 2026-11-29T12:00:01.000Z/);
    expect(failbackGate(input({ lastOpenedAt: NOW - 60_000 }))).toMatchObject({ value: 0, open: true });
  });

  it('sizes the gate against the strongest peer', () => {
    expect(gateDepth({ priority: 150 }, [{ priority: 100 }, { priority: 140 }])).toBe(11);
    expect(gateDepth({ priority: 100 }, [{ priority: 100 }])).toBe(1);
    expect(gateDepth({ priority: 99 }, [{ priority: 100 }])).toBe(0);
  });
});

describe('the failback record', () => {
  const dirs: string[] = [];
  async function stateDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'hactl-failback-'));
    dirs.push(dir);
    return dir;
  }
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('survives a restart: what was recorded is read back', async () => {
    const dir = await stateDir();
    expect(await readLastFailback(dir, 'ha1', NOW)).toBeUndefined();
    await recordFailback(dir, 'ha1', NOW - 5_000);
    expect(await readLastFailback(dir, 'ha1', NOW)).toBe(NOW - 5_000);
    expect(JSON.parse(await readFile(failbackRecordPath(dir, 'ha1'), 'utf8'))).toEqual({
      node: 'ha1',
      openedAt: new Date(NOW - 5_000).toISOString(),
    });
  });

  it('reads a damaged or future record as "just opened" (one more cooldown, never a flap)', async () => {
    const dir = await stateDir();
    await writeFile(failbackRecordPath(dir, 'ha1'), '{not json');
    expect(await readLastFailback(dir, 'ha1', NOW)).toBe(NOW);
    await writeFile(failbackRecordPath(dir, 'ha1'), JSON.stringify({ openedAt: '2099-01-01T00:00:00Z' }));
    expect(await readLastFailback(dir, 'ha1', NOW)).toBe(NOW);
  });

  it('refuses a pseudo-filesystem state directory before touching it', async () => {
    expect(await readLastFailback('/proc/hactl', 'ha1', NOW)).toBe(NOW);
    await expect(recordFailback('/proc/hactl', 'ha1', NOW)).rejects.toThrow(/paths.state_dir/);
  });
});
