'use strict';
// Loads a CommonJS bundle of dist/ compiled from a V8 code cache. A missing or stale cache
// (another Node version) only costs the compile time.
// scripts/build.mjs writes those caches (FILE.cache) with compile() and run() below, so both sides
// wrap the source the same way and a cache always matches.
//
// The build's cache holds what compiling the bundle compiles (and, for mysql2, what loading it
// does); every function a notify run calls later is compiled then, lazily, on every run. So a
// caller may name a directory for run caches (bin/hactl: notify's spec directory, beside the
// spec cache): after a run that promoted (the run whose latency counts), each bundle it loaded
// whose run cache was missing or stale is written there at exit, holding every function that run
// compiled; later runs, whatever their event, compile from it. A run cache is
// used only for the exact bundle it was made from: its header names the SHA-256 the build wrote
// beside the bundle (FILE.sha256), the bundle's size and mtime, the Node version and the
// architecture. V8 itself checks only the source's length, so this header is what keeps a cache
// from being applied to another bundle. A missing, unreadable, foreign or rejected run cache
// falls back to the build's cache, silently.
const {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} = require('node:fs');
const Module = require('node:module');
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

const RUN_CACHE_FORMAT = 1;

function compile(file, cachedData, source = readFileSync(file, 'utf8')) {
  return new Script(Module.wrap(source), { filename: file, cachedData });
}

function run(script, file, parent) {
  const loaded = new Module(file, parent);
  loaded.filename = file;
  loaded.paths = Module._nodeModulePaths(dirname(file));
  script.runInThisContext()(loaded.exports, Module.createRequire(file), loaded, file, dirname(file));
  loaded.loaded = true;
  return loaded.exports;
}

function readOrUndefined(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Where run caches go (a directory and a file-name prefix), set by the first caller that names one. */
let runCaches;
/** Per bundle loaded (by file name): 'run cache', 'build cache' or 'source' (for tests). */
const compiledFrom = new Map();
/** Bundles loaded without a usable run cache: written at exit after a representative run. */
const pending = [];
/**
 * Set (to true) by a run that promotes (src/notify/run.ts): the run whose latency counts, so the
 * run caches are written from one, holding the promotion's functions. A global symbol, not an
 * import: the bundles reach this file only through require().
 */
const REPRESENTATIVE = Symbol.for('hactl.codeCache.representativeRun');

/** The line that must head a run cache of `file` for it to be used; undefined: no run cache. */
function runCacheHeader(file) {
  const sha256 = readOrUndefined(`${file}.sha256`)?.toString('latin1').trim();
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats) return undefined;
  return JSON.stringify({
    format: RUN_CACHE_FORMAT,
    bundle: basename(file),
    sha256,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    node: process.version,
    arch: process.arch,
  });
}

function runCachePath(file) {
  return runCaches && join(runCaches.dir, `${runCaches.prefix}${basename(file)}.code-cache`);
}

/**
 * The run cache's code if its header is exactly `header` and only we could have written it (ours,
 * writable by nobody else): it is code this process will run.
 */
function readRunCache(path, header) {
  let bytes;
  let fd;
  try {
    fd = openSync(path, 'r');
    const stats = fstatSync(fd);
    const uid = process.getuid?.();
    if (!stats.isFile() || (uid !== undefined && stats.uid !== uid) || (stats.mode & 0o022) !== 0)
      return undefined;
    bytes = readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const end = bytes.indexOf(0x0a);
  if (end < 0 || bytes.toString('utf8', 0, end) !== header) return undefined;
  return bytes.subarray(end + 1);
}

function writeRunCaches() {
  if (globalThis[REPRESENTATIVE] !== true) return;
  for (const { script, path, header } of pending.splice(0)) {
    const temp = `${path}.${process.pid}.tmp`;
    try {
      // 0600 and renamed into place: a reader never sees half a cache.
      writeFileSync(temp, Buffer.concat([Buffer.from(`${header}\n`), script.createCachedData()]), {
        mode: 0o600,
        flag: 'wx',
      });
      renameSync(temp, path);
    } catch {
      // An unwritable directory just means no run cache.
      try {
        unlinkSync(temp);
      } catch {
        /* never created */
      }
    }
  }
}

/**
 * Loads `file`. `options.runCacheDir` (and `runCachePrefix`): where run caches live, for this and
 * every later load in the process (the bundles load their vendor bundles without options).
 */
function loadCached(file, options = {}) {
  if (options.runCacheDir !== undefined && !runCaches) {
    runCaches = { dir: options.runCacheDir, prefix: options.runCachePrefix ?? '.' };
    process.once('exit', writeRunCaches);
  }
  const source = readFileSync(file, 'utf8');
  const path = runCachePath(file);
  const header = path && runCacheHeader(file);
  const fromRun = header ? readRunCache(path, header) : undefined;
  let script = compile(file, fromRun ?? readOrUndefined(`${file}.cache`), source);
  let usedRunCache = fromRun !== undefined;
  if (usedRunCache && script.cachedDataRejected) {
    // V8 refused it (its own checks: version, flags): compile from the build's cache instead.
    script = compile(file, readOrUndefined(`${file}.cache`), source);
    usedRunCache = false;
  }
  if (header && !usedRunCache) pending.push({ script, path, header });
  compiledFrom.set(
    basename(file),
    usedRunCache ? 'run cache' : script.cachedDataRejected === false ? 'build cache' : 'source',
  );
  return run(script, file, module);
}

/** notify's run-cache place: beside the spec cache, i.e. in the directory of the spec it reads. */
function notifyRunCaches(argv) {
  let spec = '/etc/hactl/hactl.yaml';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') break;
    if (argv[i] === '--spec' && i + 1 < argv.length) spec = argv[++i];
    else if (argv[i].startsWith('--spec=')) spec = argv[i].slice('--spec='.length);
  }
  if (spec === '-' || spec === '') return {};
  return { runCacheDir: dirname(spec), runCachePrefix: `.${basename(spec)}.` };
}

module.exports = loadCached;
module.exports.compile = compile;
module.exports.run = run;
module.exports.notifyRunCaches = notifyRunCaches;
module.exports.compiledFrom = compiledFrom;
