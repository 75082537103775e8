/** The pure "push now?" rule of the agent's file sync (src/sync/decide.ts). */
import { describe, expect, it } from 'vitest';
import { decidePush, type SyncSituation } from '../../src/sync/decide.js';

const NOW = 1_000_000;
/** The active node, idle, its last push long ago: it pushes. */
const active = (over: Partial<SyncSituation> = {}): SyncSituation => ({
  now: NOW,
  intervalMs: 20_000,
  vipsMissing: [],
  keepalived: { state: 'MASTER', heardAt: NOW - 60_000 },
  applied: { state: 'MASTER', ok: true, at: NOW - 59_000 },
  running: undefined,
  lastStartedAt: NOW - 30_000,
  ...over,
});

describe('decidePush', () => {
  it('pushes on the MASTER that holds every VIP and has applied MASTER, once the interval has passed', () => {
    expect(decidePush(active())).toEqual({
      push: true,
      reason: 'this node is MASTER, holds every VIP and has applied it',
    });
    expect(decidePush(active({ lastStartedAt: undefined })).push).toBe(true);
    // keepalived silent since the agent started (no FIFO line yet): VIPs and the applied state decide.
    expect(decidePush(active({ keepalived: undefined })).push).toBe(true);
  });

  it('waits for the interval, counted from the start of the last push', () => {
    expect(decidePush(active({ lastStartedAt: NOW - 5_000 }))).toEqual({
      push: false,
      abort: false,
      reason: 'next push due in 15 s',
    });
    expect(decidePush(active({ lastStartedAt: NOW - 20_000 })).push).toBe(true);
  });

  it.each<[string, Partial<SyncSituation>, string]>([
    [
      'a VIP held elsewhere',
      { vipsMissing: ['192.0.2.50'] },
      'not pushing: this node does not hold 192.0.2.50',
    ],
    [
      'keepalived said BACKUP',
      { keepalived: { state: 'BACKUP', heardAt: NOW - 1_000 } },
      'not pushing: keepalived last said BACKUP for this node',
    ],
    [
      'instances disagree',
      { keepalived: { state: 'mixed', heardAt: NOW - 1_000 } },
      'not pushing: keepalived last said mixed for this node',
    ],
    [
      'nothing applied yet',
      { applied: undefined },
      'not pushing: no MASTER transition has been applied on this node yet',
    ],
    [
      'BACKUP applied (promotion running)',
      { applied: { state: 'BACKUP', ok: true, at: NOW - 70_000 } },
      'not pushing: a transition is in progress (last applied BACKUP)',
    ],
    [
      'MASTER apply failed',
      { applied: { state: 'MASTER', ok: false, at: NOW - 1_000 } },
      'not pushing: a transition is in progress (the last MASTER apply failed; it is retried)',
    ],
    [
      'a MASTER word newer than the apply',
      {
        keepalived: { state: 'MASTER', heardAt: NOW - 1_000 },
        applied: { state: 'MASTER', ok: true, at: NOW - 5_000 },
      },
      "not pushing: a transition is in progress (keepalived's latest word is not applied yet)",
    ],
  ])('never from a node that is not the settled MASTER: %s', (_, over, reason) => {
    expect(decidePush(active(over))).toEqual({ push: false, abort: false, reason });
  });

  it('never starts a push beside the one in flight, however long ago that one started', () => {
    for (const startedAgo of [0, 1_000, 20_000, 600_000]) {
      const decision = decidePush(
        active({ running: { startedAt: NOW - startedAgo }, lastStartedAt: NOW - startedAgo }),
      );
      expect(decision).toEqual({
        push: false,
        abort: false,
        reason: `the push started ${startedAgo / 1000} s ago is still running; the next starts when it ends`,
      });
    }
  });

  it('stops the push in flight when the node stops being the active one', () => {
    expect(decidePush(active({ running: { startedAt: NOW - 3_000 }, vipsMissing: ['192.0.2.50'] }))).toEqual({
      push: false,
      abort: true,
      reason: 'stopping the push in flight: this node does not hold 192.0.2.50',
    });
  });

  it('--force skips the active-node rule but never the overlap rule', () => {
    const backup = { vipsMissing: ['192.0.2.50'], applied: { state: 'BACKUP' as const, ok: true, at: NOW } };
    expect(decidePush(active({ ...backup, force: true }))).toEqual({
      push: true,
      reason: 'pushing (forced by hand)',
    });
    expect(decidePush(active({ ...backup, force: true, running: { startedAt: NOW - 1 } })).push).toBe(false);
    expect(decidePush(active(backup)).push).toBe(false);
  });
});
