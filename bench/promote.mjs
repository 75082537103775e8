// npm run bench:promote — how fast `hactl notify` promotes a caught-up replica and demotes it again.
// The scenario (bench/promote-scenario.ts) needs root: a MariaDB pair in two network namespaces.
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
    entryPoints: [new URL('./promote-scenario.ts', import.meta.url).pathname],
    outfile: join(out, 'scenario.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const { main } = await import(pathToFileURL(join(out, 'scenario.mjs')).href);
  process.exitCode = await main(
    Number(process.env.RUNS ?? 12),
    new URL('..', import.meta.url).pathname.replace(/\/$/, ''),
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
