// npm run bench:promote — how fast `hactl notify` promotes a caught-up replica and demotes it again.
// The scenario (bench/promote-scenario.ts) needs root: a MariaDB pair in two network namespaces.
import { runBundled } from './run-bundled.mjs';

process.exitCode = await runBundled(new URL('./promote-scenario.ts', import.meta.url), ({ main }) =>
  main(Number(process.env.RUNS ?? 12), new URL('..', import.meta.url).pathname.replace(/\/$/, '')),
);
