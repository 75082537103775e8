/**
 * The spec as notify needs it, without paying for YAML and zod on keepalived's hot path (importing
 * them costs ~180 ms of a ~350 ms run). After a full validation the result is kept beside the spec
 * as JSON, together with the spec's exact bytes and hactl's version; a later run whose spec bytes
 * are the same, byte for byte, reads that JSON instead. (The bytes themselves, not a hash of them:
 * comparing a few KB is cheaper than loading node:crypto, the costliest built-in of a notify
 * start.) Anyone who can write there can already edit the spec itself. An unwritable directory
 * just means no cache; an unreadable, foreign or corrupt cache is validated afresh and replaced.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readSpecBytes } from '../spec/file.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { NodeSpec, Spec } from '../spec/schema.js';

interface CacheFile {
  /** The spec file's bytes as a latin1 string (one character per byte, so the match is exact). */
  source: string;
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
  const source = bytes.toString('latin1');
  const cache = cachePath(specPath);
  let cached: Partial<CacheFile> | null | undefined;
  try {
    cached = JSON.parse(readFileSync(cache, 'utf8')) as Partial<CacheFile> | null;
  } catch {
    cached = undefined;
  }
  const hit = cached?.source === source && cached.version === version ? cached.spec : undefined;
  if (hit && Array.isArray(hit.nodes) && nodeName !== undefined) {
    const node = hit.nodes.find((n) => n.name === nodeName);
    if (node) return { spec: hit, node, cached: true };
  }
  const { loadSpecBytes, findNode } = await import('../spec/load.js');
  const loaded = loadSpecBytes(bytes, specPath);
  const node = findNode(loaded.spec, nodeName);
  try {
    writeFileAtomic(cache, JSON.stringify({ source, version, spec: loaded.spec } satisfies CacheFile), 0o600);
  } catch {
    /* read-only spec directory: no cache */
  }
  return { spec: loaded.spec, node, cached: false };
}
