/**
 * Shared pieces of the lab end-to-end suites: one prefix per file (so leftovers of one never meet
 * another), bounded waits, and a failover scenario that watches both the VIPs and the client.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { keepalivedFiles, lastLoggedStates } from '../../src/lab/keepalived.js';
import {
  defaultDir,
  holderOfBoth,
  labDown,
  waitForConvergence,
  labFail,
  labPaths,
  labUp,
  type Fault,
  type LabNode,
  type LabOptions,
} from '../../src/lab/lab.js';
import { NETWORKS, must, namespacesFor, vipHolders, vipOf, type NetworkRole } from '../../src/lab/network.js';
import {
  longestSplitMs,
  sampleHolders,
  startProbe,
  type HolderSample,
  type ProbeSample,
} from '../../src/lab/probe.js';
import { isAlive, waitFor } from '../../src/lab/processes.js';
export { logSince, logSize } from '../../src/lab/log-tail.js';

/** The JSON lines of a log's text, skipping the rest (keepalived's lines, a line still being written). */
export function jsonLines<T>(text: string): T[] {
  return text.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as T];
    } catch {
      return [];
    }
  });
}
import { connectWith, type MysqlSession } from '../../src/mysql/connection.js';
import type { PairStatus } from '../../src/status/types.js';
import { runHactl, type RunResult } from '../support/cli.js';

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

/**
 * Per-test bound for the lab suites. `lab up` alone takes ~10 s on an idle machine and 40–50 s on a
 * 2-core machine with a core kept busy and other work beside it (every check and notify is a fresh
 * node process); a test adds a failover, a heal and a second convergence.
 */
export const LAB_TEST_TIMEOUT_MS = 360_000;

/**
 * How long a keepalived transition plus the notify it triggers may take on a loaded machine: the
 * VRRP part is C and quick, but a check or notify run costs 1–3 s of CPU-starved node start-up and
 * a check needs fall/rise runs at its interval (5 s in the lab spec).
 */
export const SETTLE_MS = 60_000;

export interface TestLab {
  prefix: string;
  dir: string;
  /**
   * Builds the lab from nothing (ha1 primary, ha2 its replica), or takes over the one a previous
   * test handed on with `handOn` when the options are the same and the pair is (still) converged
   * as handed on: ha1 primary, or either way round with `eitherWay` (for a test that does not
   * care which node is the primary). Says which node is the primary of the pair it returns.
   */
  up(
    options?: Omit<LabOptions, 'prefix' | 'dir'>,
    reuse?: { eitherWay?: boolean },
  ): Promise<{ primary: LabNode; replica: LabNode }>;
  down(): Promise<void>;
  /**
   * Called by a test that passed and left the pair converged (`primary` holding every VIP and
   * writable, `replica` replicating from it, nothing faulted): the next `up` with the same options
   * may reuse the lab instead of a teardown and a fresh start (~15 s under CI load). Until the next
   * `up`, `down` (in afterEach) leaves this lab running; `downForGood` (afterAll) always takes it down.
   */
  handOn(primary?: LabNode): void;
  downForGood(): Promise<void>;
}

/** How long a handed-on lab may take to show it is converged before `up` rebuilds it instead. */
const HANDED_ON_CHECK_MS = 15_000;

/** Test lab prefixes: `e2e` + a short tag + the PID of the process running the suite. */
const TEST_PREFIX = /^(e2e[a-z]{1,4})(\d+)$/;

/**
 * Labs of earlier runs whose process is gone (a crash, a killed CI job): their prefix ends in a
 * PID that no longer exists. `labDown` stops only what their pid files name (cmdline checked).
 */
async function sweepDeadTestLabs(): Promise<void> {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  const prefixes = new Set(names.map((name) => name.replace(/-(ha1|ha2|client|sw)$/, '')));
  for (const prefix of prefixes) {
    const pid = TEST_PREFIX.exec(prefix)?.[2];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    await labDown({ prefix, dir: defaultDir(prefix) });
  }
}

/**
 * One lab per suite file, named `<tag><pid>`: the lead's CI (in another clone) may run the same
 * suite at the same time, and a fixed prefix would let one run tear down the other's namespaces.
 */
export function testLab(tag: string): TestLab {
  const prefix = `${tag}${process.pid}`;
  if (!TEST_PREFIX.test(prefix)) throw new Error(`test lab tag ${tag} must be e2e + 1–4 letters`);
  const dir = defaultDir(prefix);
  const log: string[] = [];
  /** The running lab's options, and what a test handed on (undefined when none did). */
  let current: string | undefined;
  let handedOn: { options: string; primary: LabNode } | undefined;
  return {
    prefix,
    dir,
    async up(options = {}, reuse = {}) {
      const wanted = JSON.stringify(options);
      const offered = handedOn;
      handedOn = undefined;
      if (
        offered !== undefined &&
        offered.options === wanted &&
        (offered.primary === 'ha1' || reuse.eitherWay === true)
      ) {
        const primary = offered.primary;
        const replica: LabNode = primary === 'ha1' ? 'ha2' : 'ha1';
        const checked = Date.now();
        const problem = await waitForConvergence({
          prefix,
          dir,
          primary,
          replica,
          deadline: checked + HANDED_ON_CHECK_MS,
        }).then(
          () => undefined,
          (error: Error) => error.message,
        );
        if (problem === undefined && (await holderOfBoth(prefix)) === primary) {
          if (process.env.HACTL_LAB_TIMINGS) {
            console.log(
              `lab ${prefix} handed on, converged on ${primary} (checked in ${Date.now() - checked} ms)`,
            );
          }
          return { primary, replica };
        }
        console.log(`lab ${prefix} was handed on but is not converged; rebuilding: ${problem ?? 'VIPs'}`);
      }
      current = wanted;
      const started = Date.now();
      await sweepDeadTestLabs();
      // A failed earlier test of this run may have left its lab behind.
      await labDown({ prefix, dir });
      const cleared = Date.now();
      await labUp({
        prefix,
        dir,
        say: (line) => log.push(`+${Date.now() - cleared} ms ${line}`),
        ...options,
      });
      // HACTL_LAB_TIMINGS=1: where a lab's start-up time goes (each step, ms since the start).
      if (process.env.HACTL_LAB_TIMINGS) {
        console.log(
          `lab ${prefix} up in ${Date.now() - cleared} ms (clearing ${cleared - started} ms):\n  ${log.join('\n  ')}`,
        );
      }
      log.length = 0;
      return { primary: 'ha1', replica: 'ha2' };
    },
    async down() {
      if (handedOn !== undefined) return;
      current = undefined;
      const started = Date.now();
      await labDown({ prefix, dir });
      if (process.env.HACTL_LAB_TIMINGS) console.log(`lab ${prefix} down in ${Date.now() - started} ms`);
    },
    handOn(primary = 'ha1') {
      if (current !== undefined) handedOn = { options: current, primary };
    },
    async downForGood() {
      handedOn = undefined;
      current = undefined;
      await labDown({ prefix, dir });
    },
  };
}

export async function waitForHolder(prefix: string, node: LabNode, timeoutMs = SETTLE_MS): Promise<void> {
  await waitFor(`both VIPs on ${node} only`, async () => (await holderOfBoth(prefix)) === node, {
    timeoutMs,
    everyMs: 100,
  });
}

/** keepalived on `node` has (re)started and settled in BACKUP for both instances. */
export async function waitForBackup(lab: TestLab, node: LabNode, timeoutMs = SETTLE_MS): Promise<void> {
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

/**
 * The pair has converged on `primary`: it alone holds every VIP, keepalived MASTER and notify's
 * promotion applied, its database writable; `replica` (unless null) BACKUP, read-only and
 * replicating from it. Throws what did not converge when the bound passes.
 */
export async function waitForConverged(
  lab: TestLab,
  primary: LabNode,
  replica: LabNode | null,
  timeoutMs = SETTLE_MS,
): Promise<void> {
  await waitForConvergence({
    prefix: lab.prefix,
    dir: lab.dir,
    primary,
    replica,
    deadline: Date.now() + timeoutMs,
  });
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
  timeoutMs = SETTLE_MS,
): Promise<FailoverResult> {
  const probe = startProbe(lab.prefix, { everyMs: 50, timeoutMs: 500, maxDurationMs: timeoutMs + 30_000 });
  const sampler = sampleHolders(lab.prefix, 50, timeoutMs + 30_000);
  try {
    expect(
      await probe.waitForAnswer(from, 0, 15_000),
      `the client reaches ${from} before the fault`,
    ).toBeDefined();
    const injectedAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: from, how });
    const answer = await probe.waitForAnswer(to, injectedAt, timeoutMs);
    expect(answer, `the client gets an answer from ${to} within ${timeoutMs} ms of "${how}"`).toBeDefined();
    await waitForHolder(lab.prefix, to, 15_000);
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

/**
 * Watches for `ms` that both VIPs stay on `node` and nowhere else. Not a wait for a condition but
 * an observation window: the claim is that nothing happens during it, so its length is the claim.
 */
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

/**
 * Prints the tails of both nodes' agent and keepalived logs: a failed lab test is explained by
 * them, and the lab (with its directory) goes right after.
 */
export function printNodeLogTails(lab: TestLab, lines = 60): void {
  for (const node of ['ha1', 'ha2'] as const) {
    const dir = labPaths(lab.dir).node[node].dir;
    for (const file of ['agent.log', 'keepalived.log']) {
      const path = join(dir, file);
      const tail = existsSync(path)
        ? readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
        : '(none)';
      console.log(`--- ${node} ${file} (tail) ---\n${tail}`);
    }
  }
  // notify and check write here (both nodes): without the agent it is the only account of a transition.
  const shared = labPaths(lab.dir).log;
  const tail = existsSync(shared)
    ? readFileSync(shared, 'utf8')
        .split('\n')
        .slice(-lines * 2)
        .join('\n')
    : '(none)';
  console.log(`--- hactl.log (tail) ---\n${tail}`);
}

/** A node's log from byte `from` on (empty if the file is missing): what happened since a mark. */
/**
 * Adds (or deletes) a VIP on a node's interface by hand, inside the node's namespace, behind
 * keepalived's back: how a test induces a VIP on two nodes or on none.
 */
export async function vipByHand(
  prefix: string,
  node: LabNode,
  role: NetworkRole,
  op: 'add' | 'del',
): Promise<void> {
  await must([
    'ip',
    '-n',
    namespacesFor(prefix)[node],
    'addr',
    op,
    `${vipOf(role)}/24`,
    'dev',
    NETWORKS[role].iface,
  ]);
}

/** `hactl status` (with `flags`) run inside `node`'s namespace against the lab spec, bounded. */
export function statusRun(lab: TestLab, node: LabNode, ...flags: string[]): Promise<RunResult> {
  return runHactl(['status', '--spec', labPaths(lab.dir).specPath, '--node', node, ...flags], {
    netns: namespacesFor(lab.prefix)[node],
    timeoutMs: 30_000,
  });
}

/** `hactl status --json` run inside `node`'s namespace against the lab spec, bounded. */
export async function statusFrom(
  lab: TestLab,
  node: LabNode,
): Promise<{ run: RunResult; report: PairStatus }> {
  const run = await statusRun(lab, node, '--json');
  expect(run.timedOut, run.stderr).toBe(false);
  return { run, report: JSON.parse(run.stdout) as PairStatus };
}

/**
 * Runs `hactl status --json` from `node` (bounded) until `done` says yes; a timeout names `what`
 * and prints the last report.
 */
export async function statusUntil(
  lab: TestLab,
  node: LabNode,
  what: string,
  done: (last: { run: RunResult; report: PairStatus }) => boolean,
  timeoutMs: number,
): Promise<{ run: RunResult; report: PairStatus }> {
  let last: { run: RunResult; report: PairStatus } | undefined;
  await waitFor(
    what,
    async () => {
      last = await statusFrom(lab, node);
      return done(last);
    },
    { timeoutMs, everyMs: 500 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last report: ${last?.run.stdout}${last?.run.stderr}`);
  });
  return last!;
}

/** Retries status (bounded) until it exits `code`: a re-pointed replica may report a moment of lag. */
export async function statusExitingFrom(
  lab: TestLab,
  node: LabNode,
  code: number,
  timeoutMs = 30_000,
): Promise<{ run: RunResult; report: PairStatus }> {
  let last: { run: RunResult; report: PairStatus } | undefined;
  await waitFor(
    `hactl status from ${node} to exit ${code}`,
    async () => {
      last = await statusFrom(lab, node);
      return last.run.exitCode === code;
    },
    { timeoutMs, everyMs: 500 },
  ).catch(() => undefined);
  expect(last!.run.exitCode, `status from ${node}: ${last!.run.stdout}`).toBe(code);
  return last!;
}

/** A root session over `node`'s MariaDB socket (works from the host namespace). */
export function rootSession(lab: TestLab, node: LabNode, timeoutMs = 5_000): Promise<MysqlSession> {
  const socket = join(labPaths(lab.dir).node[node].dbDir, 'mariadb.sock');
  return connectWith({ user: 'root', socket }, { timeoutMs });
}
