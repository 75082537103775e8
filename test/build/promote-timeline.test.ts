/**
 * bench/promote-timeline.cjs (NOTIFY_TIMELINE=1 npm run bench:promote) is preloaded into the
 * built notify entry: it must leave the run working, see the bundle compiled from its code cache
 * (a hook that made V8 reject the cache would time a different program), and write its marks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
let dir = '';

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('the promotion timeline preload', () => {
  it('marks the notify bundle compiled from its cache, in order, and leaves the run intact', () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-timeline-test-'));
    const out = execFileSync(
      process.execPath,
      ['-r', join(root, 'bench/promote-timeline.cjs'), join(root, 'bin/hactl'), 'notify', '--help'],
      { encoding: 'utf8', env: { ...process.env, HACTL_TIMELINE_DIR: dir } },
    );
    expect(out).toContain('Usage: hactl notify');
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const { marks, gcCount } = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as {
      marks: [string, number][];
      gcCount: number;
    };
    const names = marks.map(([name]) => name);
    expect(names[0]).toBe('node ready (preload runs)');
    expect(names).toContain('notify.cjs: compiled (from its code cache)');
    expect(names).toContain('notify.cjs: top level done');
    expect(names.at(-1)).toBe('exit');
    const times = marks.map(([, ms]) => ms);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThan(0);
    expect(gcCount).toBeGreaterThanOrEqual(0);
  });
});
