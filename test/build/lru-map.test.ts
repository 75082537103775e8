/**
 * scripts/lru-map.cjs replaces lru.min inside dist/vendor-mysql2.cjs (scripts/build.mjs): it must
 * behave exactly as lru.min does — every method's answer, the recency order, and each eviction
 * callback in the same order — for the prepared-statement cache (whose evictions close statements)
 * and the parser cache. A seeded random walk over the whole API, both side by side.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

interface Lru {
  set(key: unknown, value: unknown): void;
  get(key: unknown): unknown;
  peek(key: unknown): unknown;
  has(key: unknown): boolean;
  delete(key: unknown): boolean;
  evict(n: number): void;
  clear(): void;
  resize(max: number): void;
  keys(): Iterable<unknown>;
  values(): Iterable<unknown>;
  entries(): Iterable<[unknown, unknown]>;
  forEach(callback: (value: unknown, key: unknown) => void): void;
  readonly max: number;
  readonly size: number;
  readonly available: number;
}
type Create = (options: { max: number; onEviction?: (key: unknown, value: unknown) => void }) => Lru;

const require = createRequire(import.meta.url);
const ours = (require('../../scripts/lru-map.cjs') as { createLRU: Create }).createLRU;
const theirs = (require('lru.min') as { createLRU: Create }).createLRU;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function snapshot(lru: Lru): unknown {
  const each: unknown[] = [];
  lru.forEach((value, key) => each.push([key, value]));
  return {
    keys: [...lru.keys()],
    values: [...lru.values()],
    entries: [...lru.entries()],
    each,
    max: lru.max,
    size: lru.size,
    available: lru.available,
  };
}

describe('lru-map, lru.min’s stand-in in the mysql2 bundle', () => {
  it('answers and evicts exactly as lru.min over a random walk of every method', () => {
    const random = seeded(10);
    let steps = 0;
    for (let trial = 0; trial < 200; trial++) {
      const max = 1 + (trial % 7);
      const evicted: [unknown[], unknown[]] = [[], []];
      const pair = [ours, theirs].map((create, i) =>
        create({ max, onEviction: (key, value) => evicted[i]!.push([key, value]) }),
      );
      for (let i = 0; i < 150; i++, steps++) {
        const op = Math.floor(random() * 9);
        const key = Math.floor(random() * 10);
        const value = Math.floor(random() * 1000);
        const [a, b] = pair.map((lru) => {
          switch (op) {
            case 0:
              return lru.set(key, value);
            case 1:
              return lru.get(key);
            case 2:
              return lru.peek(key);
            case 3:
              return lru.has(key);
            case 4:
              return lru.delete(key);
            case 5:
              return lru.evict(key % 3);
            case 6:
              return i % 10 === 0 ? lru.clear() : lru.set(undefined, value);
            case 7:
              return lru.resize(1 + (key % 8));
            default:
              return snapshot(lru);
          }
        });
        expect(a).toEqual(b);
        expect(evicted[0]).toEqual(evicted[1]);
        expect(snapshot(pair[0]!)).toEqual(snapshot(pair[1]!));
      }
    }
    expect(steps).toBe(30_000);
  });

  it('refuses a bad size as lru.min does', () => {
    expect(() => ours({ max: 0 })).toThrow('`max` must be a positive integer');
    expect(() => ours({ max: 2 }).resize(1.5)).toThrow('`max` must be a positive integer');
  });
});
