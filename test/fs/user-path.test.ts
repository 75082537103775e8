import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemWithUserPath } from '../../src/fs/user-path.js';

describe('problemWithUserPath', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hactl-userpath-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['/proc/foo', '/proc', '/sys/x/y', '/dev/shm/hactl', '/proc/self/../x'])(
    'refuses %s by name',
    async (p) => {
      expect(await problemWithUserPath(p, '--out-dir')).toMatch(/^--out-dir .* pseudo-filesystem: choose/);
    },
  );

  it('refuses a symlink that leads into /proc', async () => {
    const link = join(dir, 'to-proc');
    await symlink('/proc/self', link);
    expect(await problemWithUserPath(join(link, 'a', 'b'), 'state_dir')).toMatch(
      /state_dir .* symlink into \/proc/,
    );
  });

  it('accepts a new directory below a real one, and the real one itself', async () => {
    expect(await problemWithUserPath(join(dir, 'new', 'deeper'), '--out-dir')).toBeUndefined();
    expect(await problemWithUserPath(dir, '--out-dir')).toBeUndefined();
  });

  it('refuses empty and NUL-bearing paths', async () => {
    expect(await problemWithUserPath('', '--out-dir')).toMatch(/empty/);
    expect(await problemWithUserPath('/tmp/a\0b', '--out-dir')).toMatch(/NUL/);
  });
});
