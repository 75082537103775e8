#!/usr/bin/env node
// npm run bench:agent — what a check costs in the agent (in-process, on its own timer) against a
// `hactl check` that keepalived spawns, and what the agent's checks cost at rest:
// - CPU per check run: process.cpuUsage over many runs of an http and a tcp check in this process,
//   against the CPU (user + sys, /proc/self/stat cutime/cstime after the child is reaped) of a
//   spawned `bin/hactl check http|tcp` of the same target; target ≤ 1/20;
// - steady RSS of a separate process running 2 checks (http + tcp) at 250 ms with the liveness
//   sentinel, after ~30 s; target ≤ 80 MB;
// - forks in steady state over one minute in that process: every child PID seen by polling
//   /proc/PID/task/*/children every 5 ms (a process living under 5 ms could be missed; a spawned
//   check lives ≥ 50 ms); target 0 per check, the sentinel being the one long-lived child.
// The HTTP server is a separate Node process, so its CPU is not counted. The agent modules are
// bundled from src/ with esbuild (they are not in dist/ until `hactl agent` imports them);
// `bin/hactl` uses dist/ as built (built when dist/cli.js is missing, or with --build).
//   node bench/agent.mjs [--runs N] [--seconds S] [--build]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && Number(argv[i + 1]) > 0 ? Number(argv[i + 1]) : fallback;
};
const SPAWNED_RUNS = flag('--runs', 20);
const IN_PROCESS_SECONDS = 4;
/** Steady-state window: RSS read after RSS_AT_S, forks counted from FORKS_FROM_S to FORKS_FROM_S + 60. */
const RSS_AT_S = flag('--seconds', 30);
const FORKS_FROM_S = 5;
const FORK_WINDOW_S = 60;
const TARGET_CPU_RATIO = 1 / 20;
const TARGET_RSS_MB = 80;
const CLK_TCK = 100;

async function freePort(from = 18080, to = 18199) {
  for (let port = from + (process.pid % (to - from)); port <= to; port++) {
    const ok = await new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${from}..${to}`);
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

/** A child process we started, ended by its PID (and awaited) on cleanup. */
function track(child) {
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(3_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function waitLine(child, pattern, what, boundMs = 15_000) {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: no ${pattern} within ${boundMs} ms: ${text}`)),
      boundMs,
    );
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const match = pattern.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before ${pattern}: ${text}`));
    });
  });
}

const SERVER = `
import { createServer } from 'node:http';
const server = createServer((req, res) => { res.writeHead(200, { connection: 'close' }); res.end('ok\\n'); });
server.listen(Number(process.argv[1]), '127.0.0.1', () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

// argv: BUNDLE_DIR RUNTIME_DIR PORT. Runs the checks and the liveness sentinel as the agent does.
const AGENT = `
const [dir, runtimeDir, port] = process.argv.slice(1);
const { startCheckRunner } = await import(dir + '/checks.js');
const { startLiveness } = await import(dir + '/liveness.js');
const log = { info() {}, warn() {}, error(fields, message) { process.stderr.write(message + '\\n'); } };
const check = (name, kind, params) => ({ name, kind, params, interval: 0.25, fall: 2, rise: 2, weight: 0 });
const spec = {
  checks: [
    check('web', 'http', { url: 'http://127.0.0.1:' + port + '/' }),
    check('port', 'tcp', { host: '127.0.0.1', port: Number(port) }),
  ],
  paths: { runtime_dir: runtimeDir },
};
const liveness = await startLiveness({ runtimeDir, heartbeatTimeoutSec: 3, log });
const runner = await startCheckRunner({ spec, node: 'ha1', runtimeDir, log });
process.on('SIGTERM', async () => { await runner.stop(); await liveness.stop('bench over'); process.exit(0); });
setInterval(() => {
  const runs = runner.snapshot().map((s) => s.name + '=' + s.runs + (s.ok ? '' : '!')).join(' ');
  process.stdout.write('runs ' + runs + ' sentinel=' + liveness.sentinelPid() + '\\n');
}, 1000);
process.stdout.write('started\\n');
`;

async function bundleAgent(outdir) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: {
      checks: join(root, 'src/agent/checks/index.ts'),
      liveness: join(root, 'src/agent/liveness/index.ts'),
    },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
}

/** CPU seconds (user + sys) of this process's reaped children, from /proc/self/stat. */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm)": state is field 3, cutime field 16, cstime field 17.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
}

function spawnedCpuMs(cmd, runs) {
  const probe = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  if (probe.status !== 0) throw new Error(`${cmd.slice(1).join(' ')}: exit ${probe.status}: ${probe.stderr}`);
  const before = childrenCpuMs();
  for (let i = 0; i < runs; i++) spawnSync(cmd[0], cmd.slice(1), { stdio: 'ignore', timeout: 10_000 });
  return (childrenCpuMs() - before) / runs;
}

async function inProcessCpuMs(startCheckRunner, check, runtimeDir) {
  const log = { info() {}, warn() {}, error() {} };
  // 20 ms apart, a timeout of 1 s: the timer never waits on a slow run (ticks skip while one is out).
  const spec = {
    checks: [{ ...check, interval: 0.02, timeout: 1, fall: 1, rise: 1, weight: 0 }],
    paths: { runtime_dir: runtimeDir },
  };
  const runner = await startCheckRunner({ spec, node: 'bench', runtimeDir, log });
  await sleep(500); // warm-up: modules loaded, JIT settled
  const runs0 = runner.snapshot()[0].runs;
  const cpu0 = process.cpuUsage();
  await sleep(IN_PROCESS_SECONDS * 1000);
  const cpu = process.cpuUsage(cpu0);
  const status = runner.snapshot()[0];
  await runner.stop();
  if (!status.ok) throw new Error(`in-process ${check.kind} check unhealthy: ${status.reason}`);
  const runs = status.runs - runs0;
  return { ms: (cpu.user + cpu.system) / 1000 / runs, runs };
}

function rssMb(pid) {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match[1]) / 1024;
}

function childrenOf(pid) {
  const found = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) found.push(...text.split(' ').map(Number));
    } catch {
      /* thread gone */
    }
  }
  return found;
}

async function main() {
  if (argv.includes('--build') || !existsSync(join(root, 'dist/cli.js'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const work = mkdtempSync(join(tmpdir(), `hactl-bench-agent-${process.pid}-`));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const bundleDir = join(root, 'node_modules', '.cache', 'hactl-bench-agent');
  await bundleAgent(bundleDir);

  const port = await freePort();
  const server = track(
    spawn(process.execPath, ['--input-type=module', '-e', SERVER, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await waitLine(server, /listening/, 'http server');
  const url = `http://127.0.0.1:${port}/`;

  const { startCheckRunner } = await import(join(bundleDir, 'checks.js'));
  const hactl = [process.execPath, join(root, 'bin/hactl'), 'check'];
  const kinds = [
    {
      kind: 'http',
      check: { name: 'web', kind: 'http', params: { url } },
      cmd: [...hactl, 'http', '--url', url, '--quiet'],
    },
    {
      kind: 'tcp',
      check: { name: 'port', kind: 'tcp', params: { host: '127.0.0.1', port } },
      cmd: [...hactl, 'tcp', '--host', '127.0.0.1', '--port', String(port), '--quiet'],
    },
  ];
  const nodeStartMs = spawnedCpuMs([process.execPath, '-e', '0'], SPAWNED_RUNS);
  const cpuRows = [];
  for (const { kind, check, cmd } of kinds) {
    const inProcess = await inProcessCpuMs(startCheckRunner, check, join(work, `cpu-${kind}`));
    const spawned = spawnedCpuMs(cmd, SPAWNED_RUNS);
    cpuRows.push({ kind, inProcess, spawned, ratio: inProcess.ms / spawned });
  }

  // The steady-state agent: its own process, so its RSS and children are its alone.
  const agent = track(
    spawn(
      process.execPath,
      ['--input-type=module', '-e', AGENT, bundleDir, join(work, 'agent'), String(port)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    ),
  );
  await waitLine(agent, /started/, 'agent');
  let lastRuns = '';
  agent.stdout.on('data', (chunk) => {
    const lines = String(chunk).trim().split('\n');
    lastRuns = lines[lines.length - 1];
  });
  const startedAt = performance.now();
  const seen = new Map(); // child PID → first seen (s since start)
  let rss;
  const endAt = Math.max(RSS_AT_S, FORKS_FROM_S + FORK_WINDOW_S) * 1000;
  while (performance.now() - startedAt < endAt) {
    const at = (performance.now() - startedAt) / 1000;
    for (const pid of childrenOf(agent.pid)) if (!seen.has(pid)) seen.set(pid, at);
    if (rss === undefined && at >= RSS_AT_S) rss = rssMb(agent.pid);
    await sleep(5);
  }
  const steadyForks = [...seen.values()].filter((at) => at >= FORKS_FROM_S).length;
  const atStart = [...seen.values()].filter((at) => at < FORKS_FROM_S).length;

  const lines = [
    `hactl agent benchmark — node ${process.version}; in-process: ${IN_PROCESS_SECONDS} s of runs 20 ms apart; spawned: ${SPAWNED_RUNS} runs of bin/hactl check`,
    `reference: a bare \`node -e 0\` costs ${nodeStartMs.toFixed(1)} ms of CPU here (same method as the spawned checks)`,
    '',
    '| check | in-process CPU/run | runs | spawned CPU/run | ratio | target | result |',
    '|-------|-------------------:|-----:|----------------:|------:|--------|--------|',
    ...cpuRows.map(
      (r) =>
        `| ${r.kind} | ${r.inProcess.ms.toFixed(3)} ms | ${r.inProcess.runs} | ${r.spawned.toFixed(1)} ms | 1/${Math.round(1 / r.ratio)} | ≤ 1/20 | ${r.ratio <= TARGET_CPU_RATIO ? 'met' : 'missed'} |`,
    ),
    '',
    `steady RSS of the agent (http + tcp at 250 ms, liveness sentinel) after ${RSS_AT_S} s: ${rss.toFixed(1)} MB (target ≤ ${TARGET_RSS_MB} MB: ${rss <= TARGET_RSS_MB ? 'met' : 'missed'})`,
    `children of the agent: ${atStart} at start (the sentinel), ${steadyForks} new over ${FORK_WINDOW_S} s of steady state (target 0: ${steadyForks === 0 ? 'met' : 'missed'}); last: ${lastRuns}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const missed = cpuRows.some((r) => r.ratio > TARGET_CPU_RATIO) || rss > TARGET_RSS_MB || steadyForks > 0;
  return missed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench:agent failed: ${error.stack ?? error}\n`);
} finally {
  await cleanup();
}
process.exitCode = code;
