// node bench/first-write.mjs [--profile default|fast] [--reps N] [--agents] — where the time from a node loss to the first acknowledged write goes (bench/first-write.ts).
// Needs root: it runs the namespace lab (through /work/runs/lab-run.sh on the shared machine).
// It is TypeScript reusing the lab code, so it is bundled with esbuild first.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Inside the repo (tmp/ is git-ignored) so the bundle resolves node_modules.
const scratch = new URL('../tmp/', import.meta.url).pathname;
mkdirSync(scratch, { recursive: true });
const out = mkdtempSync(join(scratch, 'bench-'));
try {
  await build({
    entryPoints: [new URL('./first-write.ts', import.meta.url).pathname],
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
