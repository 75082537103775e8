// npm run bench:failover — failover as a client sees it, in the namespace lab (root only).
// For each fault, REPS times: a client in the lab's client namespace GETs the outside VIP every
// 50 ms (500 ms timeout per probe, a new TCP connection each time); the current VIP holder gets
// the fault; we record the time from the fault to the first answer from the other node and the
// probes that failed in between; then the node is healed and the lab settles before the next rep.
// With nopreempt the VIPs stay where they moved, so reps alternate between ha1 and ha2.
//
// Env: REPS (default 5), FAULTS (default kill,stop,link,nginx,mysql,partition), BENCH_PREFIX
// (default hbench), FAST=1 for the lab's fast profile (VRRPv3, 0.1 s adverts), KEEP_ON_FAILURE=1
// to leave the lab up when a rep fails.
// Drives the built CLI (bin/hactl lab …), so run `npm run build` first.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { HACTL, mustLab, runLab } from './lab-cli.mjs';

const PREFIX = process.env.BENCH_PREFIX ?? 'hbench';
const REPS = Number(process.env.REPS ?? 5);
const FAULTS = (process.env.FAULTS ?? 'kill,stop,link,nginx,mysql,partition').split(',');
const FAST = process.env.FAST === '1';
const PROBE_EVERY_MS = 50;
const PROBE_TIMEOUT_MS = 500; // hactl lab probe's per-request timeout

const hactl = (args, timeoutMs) => runLab(PREFIX, args, timeoutMs);
const must = (args, timeoutMs) => mustLab(PREFIX, args, timeoutMs);

async function status() {
  return JSON.parse(await must(['status', '--json'], 30_000));
}

async function waitUntil(what, probe, timeoutMs, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Both VIPs on one node, the other node healthy in BACKUP: returns the holder. */
async function settled() {
  let holder;
  await waitUntil(
    'the lab to settle (one holder, the other node BACKUP with nginx and MariaDB up)',
    async () => {
      const s = await status();
      const [inside, outside] = [s.holders.inside, s.holders.outside];
      if (
        inside.length !== 1 ||
        outside.length !== 1 ||
        inside[0] !== outside[0] ||
        s.client.http !== inside[0]
      )
        return false;
      holder = inside[0];
      return s.nodes.every(
        (n) =>
          n.keepalived &&
          n.nginx &&
          n.db.alive &&
          Object.values(n.vrrp).every((state) => state === (n.node === holder ? 'MASTER' : 'BACKUP')),
      );
    },
    40_000,
  );
  return holder;
}

function startProbe(durationSec) {
  const child = spawn(
    process.execPath,
    [
      HACTL,
      'lab',
      'probe',
      '--prefix',
      PREFIX,
      '--every',
      String(PROBE_EVERY_MS),
      '--duration',
      String(durationSec),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const samples = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      samples.push(JSON.parse(line));
    } catch {
      /* not a sample */
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    samples,
    async waitFor(body, since, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = samples.find((s) => s.t >= since && s.body === body);
        if (hit) return hit;
        await sleep(20);
      }
      return undefined;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(3_000)]);
    },
  };
}

async function oneRep(fault, from) {
  const to = from === 'ha1' ? 'ha2' : 'ha1';
  const probe = startProbe(60);
  try {
    if (!(await probe.waitFor(from, 0, 10_000)))
      throw new Error(`the client does not reach ${from} before the fault`);
    const { injectedAt } = JSON.parse(await must(['fail', from, '--how', fault, '--json']));
    const answer = await probe.waitFor(to, injectedAt, 30_000);
    if (!answer) throw new Error(`no answer from ${to} within 30 s of "${fault}" on ${from}`);
    // Probes sent just before that answer may still be waiting for their 500 ms timeout.
    await sleep(PROBE_TIMEOUT_MS + 100);
    const failed = probe.samples.filter(
      (s) => s.t >= injectedAt && s.t <= answer.t && s.body === null,
    ).length;
    return { ms: answer.t - injectedAt, failed };
  } finally {
    await probe.stop();
    await must(['heal', from]);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

function table(rows) {
  const header = ['fault', 'reps', 'min ms', 'median ms', 'max ms', 'failed probes', 'failed/rep'];
  const lines = rows.map((r) => [
    r.fault,
    String(r.results.length),
    String(Math.min(...r.results.map((x) => x.ms))),
    String(median(r.results.map((x) => x.ms))),
    String(Math.max(...r.results.map((x) => x.ms))),
    String(r.results.reduce((sum, x) => sum + x.failed, 0)),
    `${Math.min(...r.results.map((x) => x.failed))}–${Math.max(...r.results.map((x) => x.failed))}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error('bench:failover needs root (it runs `hactl lab`, which creates network namespaces)');
    process.exitCode = 2;
    return;
  }
  await hactl(['down']);
  process.stderr.write(`lab up (prefix ${PREFIX}${FAST ? ', fast profile' : ''})…\n`);
  await must(['up', ...(FAST ? ['--fast'] : [])], 180_000);
  const rows = [];
  const started = Date.now();
  let failed = true;
  try {
    let holder = await settled();
    for (const fault of FAULTS) {
      const row = { fault, results: [] };
      rows.push(row);
      for (let rep = 1; rep <= REPS; rep++) {
        const result = await oneRep(fault, holder);
        row.results.push(result);
        holder = await settled();
        process.stderr.write(
          `${fault} #${rep}: ${result.ms} ms, ${result.failed} failed probes; VIPs now on ${holder}\n`,
        );
      }
    }
    failed = false;
  } finally {
    if (failed && process.env.KEEP_ON_FAILURE === '1')
      process.stderr.write(`lab ${PREFIX} left up for inspection\n`);
    else await hactl(['down']);
  }
  console.log(
    `\nfailover as seen by a client probing http://198.51.100.50/ every ${PROBE_EVERY_MS} ms (500 ms timeout), ` +
      `lab ${FAST ? 'fast profile (VRRPv3, advert 0.1 s)' : 'default profile (VRRPv2, advert 1 s)'}, checks every 1 s, fall 2; ` +
      `time = fault → first answer from the new holder\n`,
  );
  console.log(table(rows));
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

await main();
