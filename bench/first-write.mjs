// node bench/first-write.mjs [--profile default|fast] [--reps N] [--agents] — where the time from a node loss to the first acknowledged write goes (bench/first-write.ts).
// Needs root: it runs the namespace lab.
import { runBundled } from './run-bundled.mjs';

process.exitCode = await runBundled(new URL('./first-write.ts', import.meta.url), ({ main }) =>
  main(process.argv.slice(2)),
);
