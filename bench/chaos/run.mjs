// npm run chaos -- [--reps N] [--faults a,b] [--mode async|semi-sync] [--profile default|fast] [--json FILE]
// The runner (bench/chaos/scenario.ts) is bundled and run by bench/run-bundled.mjs. Needs root and
// a built dist/ (keepalived runs bin/hactl).
import { runBundled } from '../run-bundled.mjs';

process.exitCode = await runBundled(new URL('./scenario.ts', import.meta.url), ({ main }) =>
  main(process.argv.slice(2)),
);
