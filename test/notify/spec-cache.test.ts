/** notify's validated-spec cache: used only while the spec bytes and hactl's version are unchanged. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachePath, loadSpecForNotify } from '../../src/notify/spec-cache.js';
import { loadSpecBytes } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';

// The full loader (YAML + zod), wrapped to count its runs: a cache hit must not run it.
vi.mock('../../src/spec/load.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/spec/load.js')>();
  return { ...real, loadSpecBytes: vi.fn(real.loadSpecBytes) };
});

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('spec cache for notify', () => {
  it('validates on a miss, then reads the cache; a changed spec or version is validated again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-cache-'));
    const spec = join(dir, 'hactl.yaml');
    const cache = cachePath(spec);
    writeFileSync(spec, baseSpecYaml());
    const loader = vi.mocked(loadSpecBytes);
    loader.mockClear();

    const first = await loadSpecForNotify(spec, 'ha1', '1.0.0');
    expect(first.cached).toBe(false);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(first.spec.cluster).toBe('t');

    // Mark the cached copy: only a real cache hit can return the marker.
    const stored = JSON.parse(readFileSync(cache, 'utf8')) as { spec: { cluster: string } };
    stored.spec.cluster = 'from-the-cache';
    writeFileSync(cache, JSON.stringify(stored));
    const before = statSync(cache);

    const second = await loadSpecForNotify(spec, 'ha1', '1.0.0');
    expect(second.cached).toBe(true);
    expect(second.spec.cluster).toBe('from-the-cache');
    expect(loader).toHaveBeenCalledTimes(1);
    const after = statSync(cache);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    const upgraded = await loadSpecForNotify(spec, 'ha1', '1.0.1');
    expect(upgraded.cached).toBe(false);
    expect(upgraded.spec.cluster).toBe('t');
    expect(loader).toHaveBeenCalledTimes(2);
    expect(statSync(cache).ino).not.toBe(before.ino);

    writeFileSync(spec, baseSpecYaml().replace('cluster: t', 'cluster: u'));
    const changed = await loadSpecForNotify(spec, 'ha1', '1.0.1');
    expect(changed.cached).toBe(false);
    expect(changed.spec.cluster).toBe('u');
    expect(loader).toHaveBeenCalledTimes(3);
    expect((await loadSpecForNotify(spec, 'ha1', '1.0.1')).spec.cluster).toBe('u');
    expect(loader).toHaveBeenCalledTimes(3);
  });

  it('a corrupt or foreign cache is validated afresh and replaced, never trusted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-cache-'));
    const spec = join(dir, 'hactl.yaml');
    const cache = cachePath(spec);
    writeFileSync(spec, baseSpecYaml());
    const source = readFileSync(spec).toString('latin1');
    const loader = vi.mocked(loadSpecBytes);
    for (const corrupt of [
      '{"source": "version: 1',
      'null',
      JSON.stringify({ source, version: '1', spec: null }),
      JSON.stringify({ source, version: '1', spec: { nodes: 'ha1' } }),
      JSON.stringify({ sha256: 'an older format', version: '1', spec: { cluster: 'stale', nodes: [] } }),
      JSON.stringify({
        source: source + ' ',
        version: '1',
        spec: { cluster: 'stale', nodes: [{ name: 'ha1' }] },
      }),
    ]) {
      writeFileSync(cache, corrupt);
      loader.mockClear();
      const loaded = await loadSpecForNotify(spec, 'ha1', '1');
      expect(loaded).toMatchObject({ cached: false, spec: { cluster: 't' } });
      expect(loader).toHaveBeenCalledTimes(1);
      expect(JSON.parse(readFileSync(cache, 'utf8'))).toMatchObject({ source, version: '1' });
    }
  });

  it('an invalid spec is refused even when an old cache exists', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-cache-'));
    const spec = join(dir, 'hactl.yaml');
    writeFileSync(spec, baseSpecYaml());
    await loadSpecForNotify(spec, 'ha1', '1');
    writeFileSync(spec, baseSpecYaml().replace('priority: 150', 'priority: 255'));
    await expect(loadSpecForNotify(spec, 'ha1', '1')).rejects.toThrow(/255/);
  });

  it('an unknown --node is refused on a cache hit too', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-cache-'));
    const spec = join(dir, 'hactl.yaml');
    writeFileSync(spec, baseSpecYaml());
    await loadSpecForNotify(spec, 'ha1', '1');
    await expect(loadSpecForNotify(spec, 'ha9', '1')).rejects.toThrow(/ha9/);
  });
});
