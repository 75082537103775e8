/**
 * Promotion/demotion timing through the built CLI, as keepalived would run it: `ip netns exec NS
 * bin/hactl notify …`. t0 is just before the spawn; read_only is polled over the server's socket.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { MysqlSession } from '../src/mysql/connection.js';
import { addVip, removeVip } from '../test/notify/ns.js';
import { startNsPair, VIP } from '../test/notify/mysql-pair.js';

// Set by main(): this file runs bundled from elsewhere, so import.meta.url is not the repo.
let hactl = '';

interface Timing {
  toReadOnlyFlip: number;
  toExit: number;
  toFirstLog: number;
  actionMs: number;
}

function spawnNotify(ns: string, args: string[]): { done: Promise<number> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, hactl, 'notify', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return {
    done: new Promise((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`notify exited ${code}: ${stderr}`));
        else resolve(code);
      });
    }),
  };
}

async function readOnly(s: MysqlSession): Promise<string> {
  return String((await s.query('SELECT @@GLOBAL.read_only AS r'))[0]?.r);
}

function lastRun(log: string, pidEvent: string): { firstLogMs: number; actionMs: number } {
  const lines = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const start = lines.map((l) => l.event).lastIndexOf('notify.received');
  const run = lines.slice(start);
  const action = run.find((l) => l.event === 'notify.action' && l.action === pidEvent);
  return { firstLogMs: Date.parse(String(run[0]!.time)), actionMs: Number(action?.duration_ms ?? NaN) };
}

async function measure(
  ns: string,
  args: string[],
  session: () => Promise<MysqlSession>,
  want: string,
  log: string,
  action: string,
): Promise<Timing> {
  let s = await session();
  const t0 = Date.now();
  const p0 = performance.now();
  const { done } = spawnNotify(ns, args);
  let exited = false;
  let toExit = 0;
  void done.then(() => {
    exited = true;
    toExit = performance.now() - p0;
  });
  let toFlip = NaN;
  for (let i = 0; i < 200_000; i++) {
    try {
      if ((await readOnly(s)) === want) {
        toFlip = performance.now() - p0;
        break;
      }
    } catch {
      // demotion kills client sessions, ours included
      s = await session();
    }
    // Poll often enough for ms resolution without starving the notify process of CPU.
    await new Promise((r) => setTimeout(r, 2));
    if (exited && Number.isNaN(toFlip)) {
      if ((await readOnly(await session())) === want) toFlip = performance.now() - p0;
      break;
    }
  }
  await done;
  await s.close().catch(() => undefined);
  const { firstLogMs, actionMs } = lastRun(log, action);
  return { toReadOnlyFlip: toFlip, toExit, toFirstLog: firstLogMs - t0, actionMs };
}

function stats(values: number[]): string[] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const median =
    sorted.length % 2 ? at(0.5) : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return [median, sorted[0]!, at(0.9), sorted[sorted.length - 1]!].map((v) => v.toFixed(0).padStart(6));
}

async function processStartMs(runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await new Promise((resolve) =>
      spawn(process.execPath, [hactl, '--version'], { stdio: 'ignore' }).on('close', resolve),
    );
    times.push(performance.now() - t);
  }
  return times;
}

export async function main(runs: number, repoRoot: string): Promise<number> {
  hactl = `${repoRoot}/bin/hactl`;
  if (process.getuid?.() !== 0) {
    console.error('bench:promote needs root (network namespaces, mariadbd)');
    return 2;
  }
  const pair = await startNsPair('b');
  try {
    const promote: Timing[] = [];
    const demote: Timing[] = [];
    const replica = () => pair.db.ha2.session(pair.db.ha2.admin);
    const primary = await pair.db.ha1.session(pair.db.ha1.admin);
    for (let i = 0; i < runs; i++) {
      // A little traffic so the replica has something to be caught up with.
      await primary.query('INSERT INTO app.t (v) VALUES (?)', [i]);
      await new Promise((r) => setTimeout(r, 200));
      addVip(pair.ns.ha2, VIP);
      promote.push(
        await measure(
          pair.ns.ha2,
          ['--spec', pair.spec, '--node', 'ha2', 'INSTANCE', 'inside', 'MASTER', '120'],
          replica,
          '0',
          pair.log,
          'mysql.promote',
        ),
      );
      removeVip(pair.ns.ha2, VIP);
      demote.push(
        await measure(
          pair.ns.ha2,
          ['--spec', pair.spec, '--node', 'ha2', 'INSTANCE', 'inside', 'BACKUP', '120'],
          replica,
          '1',
          pair.log,
          'mysql.demote',
        ),
      );
    }
    await primary.close();
    const start = await processStartMs(runs);
    const rows: [string, number[]][] = [
      ['notify MASTER: start → read_only=0', promote.map((t) => t.toReadOnlyFlip)],
      ['notify MASTER: start → exit', promote.map((t) => t.toExit)],
      ['  of which: start → first log line', promote.map((t) => t.toFirstLog)],
      ['  of which: mysql.promote action', promote.map((t) => t.actionMs)],
      ['notify BACKUP: start → read_only=1', demote.map((t) => t.toReadOnlyFlip)],
      ['notify BACKUP: start → exit (demoted + re-pointed)', demote.map((t) => t.toExit)],
      ['  of which: start → first log line', demote.map((t) => t.toFirstLog)],
      ['  of which: mysql.demote action', demote.map((t) => t.actionMs)],
      ['reference: node bin/hactl --version', start],
    ];
    const width = Math.max(...rows.map(([name]) => name.length));
    console.log(
      `hactl notify promote/demote, ${runs} runs each (ms; MariaDB pair in two namespaces, caught-up replica)`,
    );
    console.log(`${''.padEnd(width)}  median    min    p90    max`);
    for (const [name, values] of rows) console.log(`${name.padEnd(width)}  ${stats(values).join(' ')}`);
    const median = Number(stats(promote.map((t) => t.toReadOnlyFlip))[0]);
    console.log(`target ≤ 200 ms to read_only=0: ${median <= 200 ? 'met' : 'NOT met'} (median ${median} ms)`);
    return 0;
  } finally {
    await pair.stop();
  }
}
