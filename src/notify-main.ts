/**
 * Entry of `hactl notify`, bundled on its own into dist/notify.cjs: keepalived runs it on every
 * transition and a promotion waits for it, so it skips the general dispatcher and loads one
 * CommonJS file from a V8 code cache (see scripts/build.mjs). The exit code is set, not forced,
 * exactly as the dispatcher does: the process ends once its last socket and timer are gone.
 */
import { runCommand } from './run.js';

void runCommand(() => import('./commands/notify.js'), process.argv.slice(3)).then((code) => {
  process.exitCode = code;
});
