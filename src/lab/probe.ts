/**
 * Watching a failover from outside: an HTTP client inside the lab's client namespace that probes
 * the outside VIP on a fixed cadence (each probe a fresh TCP connection, so ARP and the new holder
 * are exercised), and a sampler of who holds which VIP. Both are bounded in time.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { namespacesFor, vipHolders, vipOf, type LabNode, type NetworkRole } from './network.js';

export interface ProbeSample {
  /** Epoch ms when the request was sent. */
  t: number;
  /** Body of a 200 answer (the node name), or null for an error/timeout. */
  body: string | null;
  ms: number;
}

// Runs as `node -e` inside the client namespace: argv url, everyMs, timeoutMs, durationMs.
const PROBE_PROGRAM = `
const http = require('node:http');
const [url, every, timeout, duration] = process.argv.slice(1);
const end = Date.now() + Number(duration);
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
function probe() {
  const t = Date.now();
  let done = false;
  const finish = (body) => {
    if (done) return;
    done = true;
    process.stdout.write(JSON.stringify({ t, body, ms: Date.now() - t }) + '\\n');
  };
  const req = http.get(url, { agent: false, timeout: Number(timeout) }, (res) => {
    let data = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { data += chunk; });
    res.on('end', () => finish(res.statusCode === 200 ? data.trim() : null));
    res.on('error', () => finish(null));
  });
  req.on('timeout', () => { req.destroy(); finish(null); });
  req.on('error', () => finish(null));
}
const timer = setInterval(() => {
  if (stopping || Date.now() >= end) { clearInterval(timer); setTimeout(() => process.exit(0), Number(timeout) + 50); return; }
  probe();
}, Number(every));
probe();
`;

export interface ProbeOptions {
  everyMs?: number;
  /** Per-probe timeout; a probe without an answer by then counts as failed. */
  timeoutMs?: number;
  /** Hard bound: the probe process exits on its own after this long. */
  maxDurationMs?: number;
  url?: string;
  /** Called for every sample as it arrives. */
  onSample?: (sample: ProbeSample) => void;
}

export interface RunningProbe {
  samples: ProbeSample[];
  /** Resolves with the first sample at or after `since` whose body is `node` (bounded wait). */
  waitForAnswer(node: string, since: number, timeoutMs: number): Promise<ProbeSample | undefined>;
  stop(): Promise<ProbeSample[]>;
  /** Resolves when the probe process has exited (after its duration or stop()). */
  finished: Promise<void>;
}

export function startProbe(prefix: string, options: ProbeOptions = {}): RunningProbe {
  const everyMs = options.everyMs ?? 50;
  const timeoutMs = options.timeoutMs ?? 500;
  const url = options.url ?? `http://${vipOf('outside')}/`;
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      namespacesFor(prefix).client,
      process.execPath,
      '-e',
      PROBE_PROGRAM,
      url,
      String(everyMs),
      String(timeoutMs),
      String(options.maxDurationMs ?? 120_000),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const samples: ProbeSample[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const sample = JSON.parse(line) as ProbeSample;
      samples.push(sample);
      options.onSample?.(sample);
    } catch {
      /* not one of ours */
    }
  });
  return {
    samples,
    finished: exited,
    async waitForAnswer(node, since, waitMs) {
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        const hit = samples.find((s) => s.t >= since && s.body === node);
        if (hit) return hit;
        if (child.exitCode !== null) break;
        await sleep(25);
      }
      return samples.find((s) => s.t >= since && s.body === node);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(timeoutMs + 2_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      return samples;
    },
  };
}

export interface HolderSample {
  t: number;
  holders: Record<NetworkRole, LabNode[]>;
}

/** True when the two VIPs are held by different sets of nodes at that moment. */
export function isSplit(sample: HolderSample): boolean {
  const inside = [...sample.holders.inside].sort().join(',');
  const outside = [...sample.holders.outside].sort().join(',');
  return inside !== outside;
}

/**
 * Longest stretch (ms) during which the VIPs were seen split across nodes: from the first split
 * sample of a run to the next sample that was not split (or the last sample).
 */
export function longestSplitMs(samples: HolderSample[]): number {
  let longest = 0;
  let runStart: number | undefined;
  for (const sample of samples) {
    if (isSplit(sample)) runStart ??= sample.t;
    if (runStart !== undefined) longest = Math.max(longest, sample.t - runStart);
    if (!isSplit(sample)) runStart = undefined;
  }
  return longest;
}

export interface RunningSampler {
  samples: HolderSample[];
  stop(): Promise<HolderSample[]>;
}

/** Samples VIP holders every `everyMs` until stopped or `maxDurationMs` passes. */
export function sampleHolders(prefix: string, everyMs = 50, maxDurationMs = 60_000): RunningSampler {
  const samples: HolderSample[] = [];
  let stopped = false;
  const end = Date.now() + maxDurationMs;
  const loop = (async () => {
    while (!stopped && Date.now() < end) {
      const t = Date.now();
      samples.push({ t, holders: await vipHolders(prefix) });
      await sleep(Math.max(0, everyMs - (Date.now() - t)));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}
