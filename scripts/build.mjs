// Bundles src/ into dist/ with one chunk per lazily imported command, so a spawned
// check loads only its own code. npm packages stay external: they load on demand.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  define: { HACTL_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});
