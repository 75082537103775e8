/**
 * Entry of `hactl check`, bundled on its own into dist/check.cjs: keepalived spawns it every
 * interval, so it skips the general dispatcher and loads one CommonJS file (see scripts/build.mjs).
 */
import { runCommand } from './run.js';

void runCommand(() => import('./commands/check.js'), process.argv.slice(3)).then((code) => {
  process.exitCode = code;
});
