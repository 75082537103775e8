/**
 * Entry of `hactl check`, bundled on its own into dist/check.cjs: keepalived spawns it every
 * interval, so it skips the general dispatcher and loads one CommonJS file (see scripts/build.mjs).
 * It exits as soon as the verdict is printed: a socket, a driver timer or a worker a check left
 * behind must not keep the process alive past its budget (stdout and stderr are synchronous for
 * files and pipes on Linux, so nothing printed is lost).
 */
import { runCommand } from './run.js';

void runCommand(() => import('./commands/check.js'), process.argv.slice(3)).then((code) => {
  process.exit(code);
});
