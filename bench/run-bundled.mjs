// The bench runners are TypeScript reusing the lab code: each is bundled with esbuild, imported,
// run, and its bundle removed. The bundle is written inside the repo (tmp/ is git-ignored) so that
// it resolves node_modules.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Bundles `entry` (a file URL), hands the loaded module to `run`, and returns what `run` returns. */
export async function runBundled(entry, run) {
  const scratch = new URL('../tmp/', import.meta.url).pathname;
  mkdirSync(scratch, { recursive: true });
  const out = mkdtempSync(join(scratch, 'bench-'));
  try {
    await build({
      entryPoints: [entry.pathname],
      outfile: join(out, 'scenario.mjs'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
    });
    return await run(await import(pathToFileURL(join(out, 'scenario.mjs')).href));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
