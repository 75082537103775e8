'use strict';
// lru.min's createLRU for the vendor-mysql2 bundle (scripts/build.mjs), the same API and eviction
// order, kept in one Map (its insertion order is the recency order: oldest first). lru.min
// allocates four arrays of `max` slots when a cache is created, and mysql2 creates two of ~15,000
// (the row-parser cache when it loads, the prepared-statement cache in every connection): 3–10 ms
// of each notify and mysql check on a busy machine. A Map grows with what is stored instead.
function createLRU(options) {
  let { max } = options;
  if (!(Number.isInteger(max) && max > 0)) throw new TypeError('`max` must be a positive integer');
  const { onEviction } = options;
  const map = new Map();
  const evictOldest = () => {
    const [key, value] = map.entries().next().value;
    map.delete(key);
    onEviction?.(key, value);
  };
  const newestFirst = () => [...map.entries()].reverse();
  return {
    set(key, value) {
      if (key === undefined) return;
      if (map.has(key)) {
        onEviction?.(key, map.get(key));
        map.delete(key);
      } else if (map.size === max) evictOldest();
      map.set(key, value);
    },
    get(key) {
      if (!map.has(key)) return undefined;
      const value = map.get(key);
      map.delete(key);
      map.set(key, value);
      return value;
    },
    peek: (key) => map.get(key),
    has: (key) => map.has(key),
    *keys() {
      for (const [key] of newestFirst()) yield key;
    },
    *values() {
      for (const [, value] of newestFirst()) yield value;
    },
    *entries() {
      yield* newestFirst();
    },
    forEach: (callback) => {
      for (const [key, value] of newestFirst()) callback(value, key);
    },
    delete(key) {
      if (!map.has(key)) return false;
      const value = map.get(key);
      map.delete(key);
      onEviction?.(key, value);
      return true;
    },
    evict: (number) => {
      for (let left = Math.min(number, map.size); left > 0; left--) evictOldest();
    },
    clear() {
      const entries = [...map.entries()];
      map.clear();
      if (onEviction) for (const [key, value] of entries) onEviction(key, value);
    },
    resize: (newMax) => {
      if (!(Number.isInteger(newMax) && newMax > 0)) throw new TypeError('`max` must be a positive integer');
      while (map.size > newMax) evictOldest();
      max = newMax;
    },
    get max() {
      return max;
    },
    get size() {
      return map.size;
    },
    get available() {
      return max - map.size;
    },
  };
}

exports.createLRU = createLRU;
