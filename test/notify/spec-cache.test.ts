/** notify's validated-spec cache: used only while the spec bytes and hactl's version are unchanged. */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cachePath, loadSpecForNotify } from '../../src/notify/spec-cache.js';
import { baseSpecYaml } from '../actions/context.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('spec cache for notify', () => {
  it('validates on a miss, then reads the cache; a changed spec or version is validated again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-cache-'));
    const spec = join(dir, 'hactl.yaml');
    writeFileSync(spec, baseSpecYaml());
    const first = await loadSpecForNotify(spec, 'ha1', '1.0.0');
    expect(first.cached).toBe(false);
    expect(existsSync(cachePath(spec))).toBe(true);
    const second = await loadSpecForNotify(spec, 'ha1', '1.0.0');
    expect(second.cached).toBe(true);
    expect(second.spec).toEqual(first.spec);
    expect((await loadSpecForNotify(spec, 'ha1', '1.0.1')).cached).toBe(false);
    writeFileSync(spec, baseSpecYaml().replace('cluster: t', 'cluster: u'));
    const changed = await loadSpecForNotify(spec, 'ha1', '1.0.1');
    expect(changed.cached).toBe(false);
    expect(changed.spec.cluster).toBe('u');
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
