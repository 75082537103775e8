/**
 * The spec as notify needs it, without paying for YAML and zod on keepalived's hot path (importing
 * them costs ~180 ms of a ~350 ms run). After a full validation the result is kept beside the spec
 * as JSON, keyed by the spec's sha256 and hactl's version; a later run whose spec bytes hash the
 * same reads that JSON instead. Anyone who can write there can already edit the spec itself. An
 * unwritable directory just means no cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readSpecBytes } from '../spec/file.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { NodeSpec, Spec } from '../spec/schema.js';

interface CacheFile {
  sha256: string;
  version: string;
  spec: Spec;
}

export function cachePath(specPath: string): string {
  return join(dirname(specPath), `.${basename(specPath)}.validated.json`);
}

export async function loadSpecForNotify(
  specPath: string,
  nodeName: string | undefined,
  version: string,
): Promise<{ spec: Spec; node: NodeSpec; cached: boolean }> {
  const bytes = readSpecBytes(specPath);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cache = cachePath(specPath);
  let cached: CacheFile | undefined;
  try {
    cached = JSON.parse(readFileSync(cache, 'utf8')) as CacheFile;
  } catch {
    cached = undefined;
  }
  if (cached && cached.sha256 === sha256 && cached.version === version && nodeName !== undefined) {
    const node = cached.spec.nodes.find((n) => n.name === nodeName);
    if (node) return { spec: cached.spec, node, cached: true };
  }
  const { loadSpecBytes, findNode } = await import('../spec/load.js');
  const loaded = loadSpecBytes(bytes, specPath);
  const node = findNode(loaded.spec, nodeName);
  try {
    writeFileAtomic(cache, JSON.stringify({ sha256, version, spec: loaded.spec } satisfies CacheFile), 0o600);
  } catch {
    /* read-only spec directory: no cache */
  }
  return { spec: loaded.spec, node, cached: false };
}
