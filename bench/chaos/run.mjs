// npm run chaos -- [--reps N] [--faults a,b] [--mode async|semi-sync] [--profile default|fast] [--json FILE]
// The runner (bench/chaos/scenario.ts) is TypeScript reusing the lab code, so it is bundled with
// esbuild first, as bench/promote.mjs does. Needs root and a built dist/ (keepalived runs bin/hactl).
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Inside the repo (tmp/ is git-ignored) so the bundle resolves node_modules.
const scratch = new URL('../../tmp/', import.meta.url).pathname;
mkdirSync(scratch, { recursive: true });
const out = mkdtempSync(join(scratch, 'chaos-'));
try {
  await build({
    entryPoints: [new URL('./scenario.ts', import.meta.url).pathname],
    outfile: join(out, 'scenario.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const { main } = await import(pathToFileURL(join(out, 'scenario.mjs')).href);
  process.exitCode = await main(process.argv.slice(2));
} finally {
  rmSync(out, { recursive: true, force: true });
}
