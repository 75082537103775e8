/**
 * Shared pieces of the lab end-to-end suites: one prefix per file (so leftovers of one never meet
 * another), bounded waits, and a failover scenario that watches both the VIPs and the client.
 */
import { expect } from 'vitest';
import { keepalivedFiles, lastLoggedStates } from '../../src/lab/keepalived.js';
import {
  defaultDir,
  holderOfBoth,
  labDown,
  labFail,
  labPaths,
  labUp,
  type Fault,
  type LabNode,
  type LabOptions,
} from '../../src/lab/lab.js';
import { vipHolders } from '../../src/lab/network.js';
import {
  longestSplitMs,
  sampleHolders,
  startProbe,
  type HolderSample,
  type ProbeSample,
} from '../../src/lab/probe.js';
import { waitFor } from '../../src/lab/processes.js';

export const LAB_PROGRAMS = [
  'ip',
  'keepalived',
  'nginx',
  'mariadbd',
  'mariadb-install-db',
  'mariadb',
  'rsync',
  'curl',
];

/** The VIPs may be seen on different nodes for at most this long during a transition. */
export const SPLIT_BOUND_MS = 500;

export interface TestLab {
  prefix: string;
  dir: string;
  up(options?: Omit<LabOptions, 'prefix' | 'dir'>): Promise<void>;
  down(): Promise<void>;
}

export function testLab(prefix: string): TestLab {
  const dir = defaultDir(prefix);
  const log: string[] = [];
  return {
    prefix,
    dir,
    async up(options = {}) {
      // A crashed earlier run may have left this prefix behind.
      await labDown({ prefix, dir });
      await labUp({ prefix, dir, say: (line) => log.push(line), ...options });
    },
    async down() {
      await labDown({ prefix, dir });
    },
  };
}

export async function waitForHolder(prefix: string, node: LabNode, timeoutMs = 20_000): Promise<void> {
  await waitFor(`both VIPs on ${node} only`, async () => (await holderOfBoth(prefix)) === node, {
    timeoutMs,
    everyMs: 100,
  });
}

/** keepalived on `node` has (re)started and settled in BACKUP for both instances. */
export async function waitForBackup(lab: TestLab, node: LabNode, timeoutMs = 20_000): Promise<void> {
  const files = keepalivedFiles(labPaths(lab.dir).node[node].dir);
  await waitFor(
    `${node} in BACKUP`,
    () => {
      const states = lastLoggedStates(files);
      return states.inside === 'BACKUP' && states.outside === 'BACKUP';
    },
    { timeoutMs, everyMs: 100 },
  );
}

export interface FailoverResult {
  injectedAt: number;
  /** First answer from the new holder, ms after the fault began. */
  firstAnswerMs: number;
  failedProbes: number;
  longestSplitMs: number;
  holders: HolderSample[];
  probes: ProbeSample[];
}

/**
 * Fails `from` with `how` while a client probes the outside VIP every 50 ms and a sampler watches
 * who holds which VIP; returns once both VIPs sit on `to` and the client got an answer from it.
 */
export async function failover(
  lab: TestLab,
  from: LabNode,
  to: LabNode,
  how: Fault,
  timeoutMs = 20_000,
): Promise<FailoverResult> {
  const probe = startProbe(lab.prefix, { everyMs: 50, timeoutMs: 500, maxDurationMs: timeoutMs + 10_000 });
  const sampler = sampleHolders(lab.prefix, 50, timeoutMs + 10_000);
  try {
    expect(
      await probe.waitForAnswer(from, 0, 5_000),
      `the client reaches ${from} before the fault`,
    ).toBeDefined();
    const injectedAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: from, how });
    const answer = await probe.waitForAnswer(to, injectedAt, timeoutMs);
    expect(answer, `the client gets an answer from ${to} within ${timeoutMs} ms of "${how}"`).toBeDefined();
    await waitForHolder(lab.prefix, to, 5_000);
    const holders = await sampler.stop();
    const probes = await probe.stop();
    return {
      injectedAt,
      firstAnswerMs: answer!.t - injectedAt,
      failedProbes: probes.filter((p) => p.t >= injectedAt && p.t <= answer!.t && p.body === null).length,
      longestSplitMs: longestSplitMs(holders.filter((h) => h.t >= injectedAt)),
      holders,
      probes,
    };
  } finally {
    await sampler.stop();
    await probe.stop();
  }
}

/** Watches for `ms` that both VIPs stay on `node` and nowhere else. */
export async function expectHolderStays(prefix: string, node: LabNode, ms: number): Promise<void> {
  const sampler = sampleHolders(prefix, 100, ms + 5_000);
  await new Promise((resolve) => setTimeout(resolve, ms));
  const samples = await sampler.stop();
  const elsewhere = samples.filter(
    (s) => s.holders.inside.join() !== node || s.holders.outside.join() !== node,
  );
  expect(elsewhere, `VIPs stayed on ${node} for ${ms} ms`).toEqual([]);
}

export { vipHolders };
