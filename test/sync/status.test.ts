/** The file sync in the agent's node view: one line of `hactl status` and the hactl_sync_ metrics. */
import { describe, expect, it } from 'vitest';
import { formatNodePrometheus } from '../../src/status/format.js';
import type { SyncStatus } from '../../src/status/types.js';
import { node, primaryDb } from '../status/support.js';

const sync: SyncStatus = {
  interval_s: 20,
  running_since: null,
  last: {
    ok: true,
    started_at: '2026-11-30T03:00:00.000Z',
    finished_at: '2026-11-30T03:00:01.500Z',
    duration_ms: 1500,
    detail: '3 paths copied',
  },
  last_success_at: '2026-11-30T03:00:01.500Z',
  age_s: 4,
  pushes: 7,
  decision: 'next push due in 15 s',
};

describe('sync in status', () => {
  it('metrics: last ok, duration, last success time, running', () => {
    const text = formatNodePrometheus('web', node('ha1', primaryDb(), { sync }));
    expect(text).toContain('hactl_sync_last_ok{scope="web",name="ha1"} 1\n');
    expect(text).toContain('hactl_sync_last_duration_seconds{scope="web",name="ha1"} 1.5\n');
    expect(text).toContain(
      `hactl_sync_last_success_timestamp_seconds{scope="web",name="ha1"} ${Date.parse('2026-11-30T03:00:01.500Z') / 1000}\n`,
    );
    expect(text).toContain('hactl_sync_running{scope="web",name="ha1"} 0\n');
  });

  it('a failed push: last_ok 0, the success time of the one before', () => {
    const failed = { ...sync, last: { ...sync.last!, ok: false, detail: 'rsync exited 10' } };
    const text = formatNodePrometheus('web', node('ha1', primaryDb(), { sync: failed }));
    expect(text).toContain('hactl_sync_last_ok{scope="web",name="ha1"} 0\n');
    expect(text).toContain('hactl_sync_last_success_timestamp_seconds{scope="web",name="ha1"}');
  });

  it('no sync section: no sync series', () => {
    expect(formatNodePrometheus('web', node('ha1', primaryDb()))).not.toContain('hactl_sync_');
  });
});
