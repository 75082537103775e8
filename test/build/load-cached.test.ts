/**
 * src/load-cached.cjs's run caches (notify keeps the code a promotion compiled, beside its spec
 * cache): written after a promoting run only, used by the next run, and never applied to a bundle
 * other than the one it was made from — not even one of the same length, which V8's own check
 * (the source's length) would accept. Each case runs in a child process, as bin/hactl does.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const loader = new URL('../../src/load-cached.cjs', import.meta.url).pathname;
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-load-cached-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A bundle whose answer comes from a function compiled lazily (so a run cache would carry it). */
function writeBundle(answer: string, sha = 'a'.repeat(64)): string {
  const file = join(dir, 'b.cjs');
  writeFileSync(file, `function answer() { return '${answer}'; }\nmodule.exports = () => answer();\n`);
  writeFileSync(`${file}.sha256`, `${sha}\n`);
  return file;
}

/** Loads the bundle as bin/hactl does; prints its answer and where its code came from. */
function load(file: string, promotes: boolean): { answer: string; from: string } {
  const script = `
    const loadCached = require(${JSON.stringify(loader)});
    const answer = loadCached(${JSON.stringify(file)}, { runCacheDir: ${JSON.stringify(dir)}, runCachePrefix: '.spec.yaml.' })();
    if (${promotes}) globalThis[Symbol.for('hactl.codeCache.representativeRun')] = true;
    process.stdout.write(JSON.stringify({ answer, from: loadCached.compiledFrom.get('b.cjs') }));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as {
    answer: string;
    from: string;
  };
}

const cacheFile = () => join(dir, '.spec.yaml.b.cjs.code-cache');

describe('run caches of the notify bundles', () => {
  it('a promoting run writes one beside the spec; the next run compiles from it', () => {
    const file = writeBundle('one');
    expect(load(file, true)).toEqual({ answer: 'one', from: 'source' });
    const header = JSON.parse(readFileSync(cacheFile(), 'utf8').split('\n')[0]!) as Record<string, unknown>;
    expect(header).toMatchObject({ bundle: 'b.cjs', sha256: 'a'.repeat(64), node: process.version });
    expect(load(file, false)).toEqual({ answer: 'one', from: 'run cache' });
  });

  it('a run that does not promote writes none', () => {
    const file = writeBundle('one');
    load(file, false);
    expect(readdirSync(dir).filter((name) => name.endsWith('.code-cache'))).toEqual([]);
  });

  it('is not applied to another bundle of the same length, nor to one with another SHA-256', () => {
    const file = writeBundle('one');
    load(file, true);
    // Same length, other code, other mtime: the run cache's functions would answer 'one'.
    writeBundle('two');
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(load(file, false)).toEqual({ answer: 'two', from: 'source' });
    // Rewritten for the new bundle by a promoting run; then a build with another hash.
    load(file, true);
    expect(load(file, false)).toEqual({ answer: 'two', from: 'run cache' });
    writeFileSync(`${file}.sha256`, `${'b'.repeat(64)}\n`);
    expect(load(file, false)).toEqual({ answer: 'two', from: 'source' });
  });

  it('a run cache others could have written (group- or world-writable) is not used', () => {
    const file = writeBundle('one');
    load(file, true);
    chmodSync(cacheFile(), 0o666);
    expect(load(file, false)).toEqual({ answer: 'one', from: 'source' });
  });

  it('a corrupt run cache is ignored and the bundle still runs', () => {
    const file = writeBundle('one');
    load(file, true);
    const [header] = readFileSync(cacheFile(), 'utf8').split('\n');
    writeFileSync(cacheFile(), `${header}\n${'garbage'.repeat(50)}`);
    expect(load(file, false)).toEqual({ answer: 'one', from: 'source' });
  });

  it('without the build’s SHA-256 beside the bundle, no run cache is read or written', () => {
    const file = writeBundle('one');
    rmSync(`${file}.sha256`);
    expect(load(file, true)).toEqual({ answer: 'one', from: 'source' });
    expect(readdirSync(dir).filter((name) => name.endsWith('.code-cache'))).toEqual([]);
  });
});
