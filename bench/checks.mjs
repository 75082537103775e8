#!/usr/bin/env node
// npm run bench:checks — what a keepalived-spawned check costs, compared with `node -e 0` and curl.
// Median wall time over interleaved runs (warm-up excluded) and median peak RSS (/usr/bin/time %M,
// else VmHWM polled from /proc). Starts its own nginx on 127.0.0.1 and, when mariadbd and
// src/lab/mariadb.ts exist, a throwaway MariaDB source + replica. Uses dist/ as built (runs
// `npm run build` only when dist/cli.js is missing, or with --build).
//   node bench/checks.mjs [--runs N] [--build]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const argv = process.argv.slice(2);
const RUNS = Math.max(20, Number(argv[argv.indexOf('--runs') + 1]) || 25);
const WARMUP = 3;
const RSS_RUNS = 5;
const TARGET_RSS_MB = 60;

function hasProgram(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
const which = (name) =>
  ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin'].map((d) => `${d}/${name}`).find(hasProgram);

async function freePort(from = 18080, to = 18199) {
  for (let port = from; port <= to; port++) {
    const ok = await new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${from}..${to}`);
}

/** The lab helpers are TypeScript: bundle them next to node_modules so their imports resolve. */
async function loadLabHelpers() {
  const { build } = await import('esbuild');
  const outdir = join(root, 'node_modules', '.cache', 'hactl-bench');
  const entryPoints = { nginx: join(root, 'src/lab/nginx.ts') };
  if (existsSync(join(root, 'src/lab/mariadb.ts'))) entryPoints.mariadb = join(root, 'src/lab/mariadb.ts');
  await build({
    entryPoints,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  const nginx = await import(join(outdir, 'nginx.js'));
  const mariadb = entryPoints.mariadb ? await import(join(outdir, 'mariadb.js')) : undefined;
  return { nginx, mariadb };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function timeOnce(cmd) {
  const start = process.hrtime.bigint();
  const result = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, status: result.status, stderr: result.stderr?.toString() ?? '' };
}

const TIME = hasProgram('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Peak RSS in MB of one run. */
async function peakRssOnce(cmd) {
  if (TIME) {
    const out = join(tmpdir(), `hactl-bench-rss-${process.pid}`);
    spawnSync(TIME, ['-f', '%M', '-o', out, ...cmd], { stdio: 'ignore', timeout: 10_000 });
    const kb = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    rmSync(out, { force: true });
    return kb / 1024;
  }
  // Fallback: poll VmHWM while it runs (may miss the last milliseconds of growth).
  const child = spawn(cmd[0], cmd.slice(1), { stdio: 'ignore' });
  let peak = 0;
  const poll = () => {
    try {
      const match = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (match) peak = Math.max(peak, Number(match[1]));
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(poll, 2);
  await new Promise((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  return peak / 1024;
}

const cleanups = [];
async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (error) {
      process.stderr.write(`cleanup: ${error.message}\n`);
    }
  }
}

async function main() {
  if (argv.includes('--build') || !existsSync(join(root, 'dist/cli.js'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const hactl = [process.execPath, join(root, 'bin/hactl')];
  const work = mkdtempSync(join(tmpdir(), 'hactl-bench-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const lab = await loadLabHelpers();

  const rows = [];
  const row = (name, cmd, target, skip) => rows.push({ name, cmd, target, skip, times: [], rss: [] });

  const port = await freePort();
  const nginx = await lab.nginx.startNginx({
    dir: join(work, 'nginx'),
    listen: `127.0.0.1:${port}`,
    body: 'ok\n',
  });
  cleanups.push(() => nginx.stop());
  const url = `http://127.0.0.1:${port}/`;

  let mysqlSkip;
  let source;
  let replica;
  if (!which('mariadbd') || !which('mariadb-install-db')) mysqlSkip = 'skipped: mariadbd not installed';
  else if (!lab.mariadb) mysqlSkip = 'skipped: src/lab/mariadb.ts not written yet';
  else if (process.getuid?.() !== 0) mysqlSkip = 'skipped: needs root (mariadbd --user=root)';
  else {
    const [p1, p2] = [await freePort(18150), await freePort(18160)];
    source = await lab.mariadb.initMariadb({
      dir: join(work, 'db1'),
      port: p1,
      serverId: 1,
      readOnly: false,
    });
    cleanups.push(() => source.stop());
    replica = await lab.mariadb.initMariadb({ dir: join(work, 'db2'), port: p2, serverId: 2 });
    cleanups.push(() => replica.stop());
    await lab.mariadb.startReplication(replica, {
      host: source.host,
      port: source.port,
      account: source.replication,
    });
  }
  // Flags as render-config emits them (checkCommand in src/checks/spec-args.ts).
  const mysqlFlags = (server) => [
    '--defaults-file',
    server.admin.defaultsFile,
    '--host',
    server.host,
    '--port',
    String(server.port),
  ];

  row('node -e 0', [process.execPath, '-e', '0']);
  if (which('curl')) row('curl -s -o /dev/null URL', [which('curl'), '-s', '-o', '/dev/null', url]);
  else row('curl -s -o /dev/null URL', [], undefined, 'skipped: curl not installed');
  row('hactl check http', [...hactl, 'check', 'http', '--url', url, '--quiet'], { ratio: 1.25 });
  row(
    'hactl check tcp',
    [...hactl, 'check', 'tcp', '--host', '127.0.0.1', '--port', String(port), '--quiet'],
    { ratio: 1.25 },
  );
  row(
    'hactl check mysql',
    source ? [...hactl, 'check', 'mysql', ...mysqlFlags(source), '--quiet'] : [],
    { ratio: 1.8 },
    mysqlSkip,
  );
  row(
    'hactl check replication',
    replica ? [...hactl, 'check', 'replication', ...mysqlFlags(replica), '--quiet'] : [],
    { ratio: 1.8 },
    mysqlSkip,
  );

  // A check that does not work is not measured: say why instead.
  for (const r of rows.filter((x) => !x.skip)) {
    const probe = timeOnce(r.cmd);
    if (probe.status !== 0)
      r.skip = `failed: exit ${probe.status}: ${probe.stderr.trim().split('\n')[0] ?? ''}`;
  }
  const live = rows.filter((r) => !r.skip);
  // Interleaved, so CPU frequency or background noise hits every row alike.
  for (let i = 0; i < WARMUP + RUNS; i++) {
    for (const r of live) {
      const { ms } = timeOnce(r.cmd);
      if (i >= WARMUP) r.times.push(ms);
    }
  }
  for (let i = 0; i < RSS_RUNS; i++) for (const r of live) r.rss.push(await peakRssOnce(r.cmd));

  const base = median(rows[0].times);
  const lines = [
    `hactl check benchmark — ${RUNS} runs each after ${WARMUP} warm-up, medians; node ${process.version}; peak RSS via ${TIME ? '/usr/bin/time %M' : '/proc VmHWM polling'}`,
    '',
  ];
  const header = ['command', 'wall ms', '× node -e 0', 'peak RSS MB', 'target', 'result'];
  const table = rows.map((r) => {
    if (r.skip)
      return [r.name, '—', '—', '—', r.target ? `≤ ${r.target.ratio}×, ≤ ${TARGET_RSS_MB} MB` : '', r.skip];
    const ms = median(r.times);
    const ratio = ms / base;
    const rss = median(r.rss);
    const met = r.target ? ratio <= r.target.ratio && rss <= TARGET_RSS_MB : undefined;
    return [
      r.name,
      ms.toFixed(1),
      ratio.toFixed(2),
      rss.toFixed(1),
      r.target ? `≤ ${r.target.ratio}×, ≤ ${TARGET_RSS_MB} MB` : '',
      met === undefined
        ? ''
        : met
          ? 'met'
          : `missed (${ratio > r.target.ratio ? 'time' : ''}${ratio > r.target.ratio && rss > TARGET_RSS_MB ? '+' : ''}${rss > TARGET_RSS_MB ? 'RSS' : ''})`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const fmt = (cells) =>
    '| ' +
    cells.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') +
    ' |';
  lines.push(fmt(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...table.map(fmt));
  process.stdout.write(lines.join('\n') + '\n');
  return table.some((t) => t[5].startsWith('missed')) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench:checks failed: ${error.stack ?? error}\n`);
} finally {
  await cleanup();
}
process.exitCode = code;
