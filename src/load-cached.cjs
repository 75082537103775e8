'use strict';
// Loads a CommonJS bundle of dist/ compiled from the V8 code cache the build wrote beside it
// (FILE.cache). A missing or stale cache (another Node version) only costs the compile time.
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

module.exports = function loadCached(file) {
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const loaded = new Module(file, module);
  loaded.filename = file;
  loaded.paths = Module._nodeModulePaths(dirname(file));
  script.runInThisContext()(loaded.exports, Module.createRequire(file), loaded, file, dirname(file));
  loaded.loaded = true;
  return loaded.exports;
};
