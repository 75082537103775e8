/**
 * What the pair looks like from the operator's seat, every 100 ms: `read_only` of both databases
 * (over each server's unix socket, which reaches a server whatever its network does) and who holds
 * which VIP. Each read is bounded; a database that does not answer in time counts as unknown, which
 * is neither writable nor read-only. The summaries below turn the samples into seconds.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWith, type MysqlSession } from '../mysql/connection.js';
import { LAB_NODES, ROLES, vipHolders, type LabNode, type NetworkRole } from './network.js';

export interface PairSample {
  t: number;
  /** true: read-only, false: writable, null: down or no answer within the bound. */
  readOnly: Record<LabNode, boolean | null>;
  holders: Record<NetworkRole, LabNode[]>;
}

export interface RunningPairSampler {
  samples: PairSample[];
  stop(): Promise<PairSample[]>;
}

const READ_BOUND_MS = 400;

function socketOf(labDir: string, node: LabNode): string {
  return join(labDir, node, 'mariadb', 'mariadb.sock');
}

async function bounded<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Samples both nodes' read_only and the VIP holders every `everyMs` until stopped or the bound. */
export function samplePair(
  prefix: string,
  labDir: string,
  options: { everyMs?: number; maxDurationMs?: number } = {},
): RunningPairSampler {
  const everyMs = options.everyMs ?? 100;
  const end = Date.now() + (options.maxDurationMs ?? 300_000);
  const samples: PairSample[] = [];
  const sessions: Partial<Record<LabNode, MysqlSession>> = {};
  let stopped = false;

  async function readOnlyOf(node: LabNode): Promise<boolean | null> {
    try {
      sessions[node] ??= await connectWith(
        { user: 'root', socket: socketOf(labDir, node) },
        { timeoutMs: READ_BOUND_MS, queryTimeoutMs: READ_BOUND_MS },
      );
      const row = (await sessions[node].query('SELECT @@GLOBAL.read_only AS ro'))[0] ?? {};
      const ro = String(row.ro).toUpperCase();
      return ro === '1' || ro === 'ON';
    } catch {
      const broken = sessions[node];
      delete sessions[node];
      await broken?.close().catch(() => undefined);
      return null;
    }
  }

  const loop = (async () => {
    while (!stopped && Date.now() < end) {
      const t = Date.now();
      const [ha1, ha2, holders] = await Promise.all([
        bounded(readOnlyOf('ha1'), READ_BOUND_MS + 100, null),
        bounded(readOnlyOf('ha2'), READ_BOUND_MS + 100, null),
        bounded(vipHolders(prefix), 2_000, { inside: [] as LabNode[], outside: [] as LabNode[] }),
      ]);
      samples.push({ t, readOnly: { ha1, ha2 }, holders });
      await sleep(Math.max(0, everyMs - (Date.now() - t)));
    }
  })();

  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(
        LAB_NODES.map((node) => sessions[node]?.close().catch(() => undefined) ?? Promise.resolve()),
      );
      return samples;
    },
  };
}

/**
 * Milliseconds in [from, to) during which `bad` held: each sample's state lasts until the next
 * sample (the last one until `to`).
 */
export function durationWhere(
  samples: PairSample[],
  bad: (sample: PairSample) => boolean,
  from: number,
  to: number,
): number {
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i]!;
    const start = Math.max(sample.t, from);
    const stop = Math.min(samples[i + 1]?.t ?? to, to);
    if (stop > start && bad(sample)) total += stop - start;
  }
  return total;
}

export const bothWritable = (s: PairSample): boolean => s.readOnly.ha1 === false && s.readOnly.ha2 === false;

/** Some VIP is on two nodes or on none. */
export const vipNotOnOne = (s: PairSample): boolean => ROLES.some((role) => s.holders[role].length !== 1);

/** Every VIP on `node` (another node may hold one too). */
export const holdsAllVips =
  (node: LabNode) =>
  (s: PairSample): boolean =>
    ROLES.every((role) => s.holders[role].includes(node));
