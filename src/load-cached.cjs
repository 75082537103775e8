'use strict';
// Loads a CommonJS bundle of dist/ compiled from the V8 code cache the build wrote beside it
// (FILE.cache). A missing or stale cache (another Node version) only costs the compile time.
// scripts/build.mjs writes those caches with compile() and run() below, so both sides wrap the
// source the same way and a cache always matches.
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

function compile(file, cachedData) {
  return new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
}

function run(script, file, parent) {
  const loaded = new Module(file, parent);
  loaded.filename = file;
  loaded.paths = Module._nodeModulePaths(dirname(file));
  script.runInThisContext()(loaded.exports, Module.createRequire(file), loaded, file, dirname(file));
  loaded.loaded = true;
  return loaded.exports;
}

function loadCached(file) {
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  return run(compile(file, cachedData), file, module);
}

module.exports = loadCached;
module.exports.compile = compile;
module.exports.run = run;
