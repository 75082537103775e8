/**
 * Split brain in the lab (agent mode, fencing on, the client's inside address as the witness,
 * failback after-catch-up), on one pair:
 *
 * (b) Full isolation of the primary's node (ha1 detached from the switch; its links stay up): it
 *     hears neither the witness nor ha2, and demotes itself — read_only=1, sessions ended, FAULT —
 *     within the bound below; ha2 fences (nothing reached), sees the witness, promotes. On heal
 *     ha1 comes back as BACKUP and takes the VIPs back only once its gate opened (caught up).
 * (a) Both MASTER: VRRP adverts are dropped on both nodes (tc, IP protocol 112) while every other
 *     packet flows. ha2 becomes MASTER too and fences ha1 over the inside and outside networks
 *     before it makes its own database writable: sampled every 100 ms on both nodes, there is no
 *     moment at which both are writable.
 * (c) The cut between the nodes only (every node-to-node address unreachable, the client and the
 *     witness reachable from both, as the chaos runner's peer-link): the standby takes the VIPs,
 *     fences nothing, sees the witness — and still waits, because the primary answers ARP for
 *     them; the primary, its peer silent, finds the standby answering for its VIPs and yields.
 *     Sampled every 100 ms on both: never two writable. On heal the old primary comes back as
 *     BACKUP and takes the VIPs back only once its failback gate opened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holderOfBoth, labFail, labPaths, type LabNode } from '../../src/lab/lab.js';
import {
  must,
  namespacesFor,
  NETWORKS,
  ROLES,
  run,
  setAttached,
  setPeerLink,
  vipHolders,
} from '../../src/lab/network.js';
import { sampleHolders, type RunningSampler } from '../../src/lab/probe.js';
import { waitFor } from '../../src/lab/processes.js';
import { LAB_FENCING_FAST } from '../../src/lab/spec.js';
import { FAILBACK_COOLDOWN_MS } from '../../src/cluster/failback-gate.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  logSince,
  logSize,
  printNodeLogTails,
  testLab,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: [...LAB_PROGRAMS, 'tc', 'arping'] });
const lab = testLab('e2efn');
const SAMPLER = resolve('test/fence/read-only-sampler.mjs');

/**
 * From the cut to read_only=1 on the isolated node: isolation_timeout (1.5 s in the lab), plus at
 * most one probe round (the fast profile's: the longer of probe_interval and connect_timeout,
 * 0.1 s each), plus the local demotion (connect, SET GLOBAL read_only, KILL; ~0.1 s idle), plus the
 * sampler's 100 ms. The 1.5 s on top leaves more than a second for a loaded machine.
 */
const ISOLATION_BOUND_MS =
  (LAB_FENCING_FAST.isolation_timeout +
    Math.max(LAB_FENCING_FAST.probe_interval, LAB_FENCING_FAST.connect_timeout)) *
    1000 +
  1_500;

interface RoSample {
  /** Asked, answered (this process's clock), and run by the server (its clock: the same machine's). */
  s: number;
  t: number;
  at: number | null;
  ro: 0 | 1 | null;
}

interface Sampler {
  samples: RoSample[];
  stop(): Promise<void>;
}

/** read_only of `node`'s own database every 100 ms, from inside its namespace. */
function sampleReadOnly(node: LabNode, maxMs: number): Sampler {
  const samples: RoSample[] = [];
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      namespacesFor(lab.prefix)[node],
      process.execPath,
      SAMPLER,
      join(lab.dir, 'db', 'admin.cnf'),
      '100',
      String(maxMs),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  createInterface({ input: child.stdout! }).on('line', (line) => samples.push(JSON.parse(line) as RoSample));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    samples,
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const agentLog = (node: LabNode) => join(labPaths(lab.dir).node[node].dir, 'agent.log');

/** The agent's JSON lines since `offset` with the given event. */
function events(node: LabNode, offset: number, event: string): Record<string, unknown>[] {
  return logSince(agentLog(node), offset)
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * VRRP (IP protocol 112) dropped, or let through again, on every interface of both nodes. The
 * lab's kernel has no drop action (act_gact), so: an HTB root whose default class passes
 * everything, and a class fed only VRRP by a u32 filter, whose pfifo holds 0 packets.
 */
async function blockVrrp(on: boolean): Promise<void> {
  for (const node of ['ha1', 'ha2'] as const) {
    const ns = namespacesFor(lab.prefix)[node];
    for (const role of ROLES) {
      const tc = (...args: string[]) => [
        'ip',
        'netns',
        'exec',
        ns,
        'tc',
        ...args,
        'dev',
        NETWORKS[role].iface,
      ];
      if (!on) {
        await run([...tc('qdisc', 'del'), 'root']);
        continue;
      }
      await must([...tc('qdisc', 'add'), 'root', 'handle', '1:', 'htb', 'default', '10']);
      await must([...tc('class', 'add'), 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit']);
      await must([...tc('class', 'add'), 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '1mbit']);
      await must([...tc('qdisc', 'add'), 'parent', '1:20', 'handle', '20:', 'pfifo', 'limit', '0']);
      await must([
        ...tc('filter', 'add'),
        'parent',
        '1:',
        'protocol',
        'ip',
        'prio',
        '1',
        'u32',
        'match',
        'ip',
        'protocol',
        '112',
        '0xff',
        'flowid',
        '1:20',
      ]);
    }
  }
}

const firstAt = (samples: RoSample[], ro: 0 | 1, after: number) =>
  samples.find((x) => x.s >= after && x.ro === ro);

/**
 * After a heal, `node` opened its failback gate (caught up) and held no VIP before it did: the
 * holders sampled from `healedAt` (the sampler is stopped here) against the gate's log line.
 */
async function expectVipsOnlyAfterGateOpened(
  node: LabNode,
  healOffset: number,
  healedAt: number,
  holders: RunningSampler,
): Promise<void> {
  const opened = events(node, healOffset, 'agent.failback_open');
  expect(opened.length, `${node} opened its failback gate (caught up) after the heal`).toBeGreaterThan(0);
  const openedAt = Date.parse(String(opened[0]!.time));
  const samples = await holders.stop();
  const early = samples.filter(
    (x) =>
      x.t >= healedAt &&
      x.t < openedAt &&
      (x.holders.inside.includes(node) || x.holders.outside.includes(node)),
  );
  expect(early, `${node} held no VIP between the heal and its gate opening`).toEqual([]);
}

/** The precondition of a both-sides test: `writable` sampled writable, `readOnly` read-only. */
function bothSampled(writable: Sampler, readOnly: Sampler): Promise<void> {
  return waitFor(
    'samples of both',
    () => writable.samples.some((x) => x.ro === 0) && readOnly.samples.some((x) => x.ro === 1),
    { timeoutMs: 30_000, everyMs: 50 },
  );
}

/** Two more seconds of `sampler`'s samples: a fence or a yield that came late would show in them. */
function twoMoreSeconds(sampler: Sampler): Promise<void> {
  const seen = Date.now();
  return waitFor('two more seconds of samples', () => (sampler.samples.at(-1)?.t ?? 0) > seen + 2_000, {
    timeoutMs: 15_000,
    everyMs: 100,
  });
}

/**
 * Never two writable, ordered by the servers' own clock (one machine): the old primary's last
 * writable sample ran before the new primary's first writable one (after `since`), and every later
 * sample of the old primary found it read-only (at least 10 of them: ~1 s and more). Returns the
 * new primary's first writable sample and the old one's last.
 */
function expectNeverBothWritable(
  oldPrimary: Sampler,
  newPrimary: Sampler,
  since: number,
): { writable: RoSample; lastWritable: RoSample } {
  const writable = firstAt(newPrimary.samples, 0, since)!;
  const lastWritable = oldPrimary.samples.filter((x) => x.ro === 0 && x.at !== null).at(-1);
  expect(lastWritable, 'the old primary was writable before').toBeDefined();
  expect(lastWritable!.at!, 'never two writable databases').toBeLessThan(writable.at!);
  const after = oldPrimary.samples.filter((x) => x.at !== null && x.at >= writable.at!);
  expect(after.filter((x) => x.ro === 0)).toEqual([]);
  expect(after.filter((x) => x.ro === 1).length).toBeGreaterThanOrEqual(10);
  return { writable, lastWritable: lastWritable! };
}

describe.skipIf(missing)(
  titled('hactl lab: fencing before promotion and the witness', missing),
  { timeout: 240_000 },
  () => {
    beforeAll(async () => {
      assertBuilt();
      await lab.up({ mode: 'agent', fast: true, failback: 'after-catch-up', fencing: true });
      await waitForConverged(lab, 'ha1', 'ha2');
    }, 240_000);
    afterAll(async () => {
      await blockVrrp(false).catch(() => undefined);
      await setPeerLink(lab.prefix, true).catch(() => undefined);
      await lab.down();
    });

    it('(b) an isolated primary demotes itself within the bound and takes the VIPs back only after catching up', async () => {
      const ha1 = sampleReadOnly('ha1', 90_000);
      const holders = sampleHolders(lab.prefix, 100, 90_000);
      const ha1Offset = logSize(agentLog('ha1'));
      const ha2Offset = logSize(agentLog('ha2'));
      try {
        await waitFor('a writable sample on ha1', () => ha1.samples.some((x) => x.ro === 0), {
          timeoutMs: 10_000,
          everyMs: 50,
        });
        const cutAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'partition' });
        await waitFor('read_only=1 on the isolated ha1', () => firstAt(ha1.samples, 1, cutAt) !== undefined, {
          timeoutMs: ISOLATION_BOUND_MS + 10_000,
          everyMs: 50,
        });
        const demotedMs = firstAt(ha1.samples, 1, cutAt)!.t - cutAt;
        console.log(`isolated ha1 read-only ${demotedMs} ms after the cut (bound ${ISOLATION_BOUND_MS} ms)`);
        expect(demotedMs).toBeLessThanOrEqual(ISOLATION_BOUND_MS);
        expect(events('ha1', ha1Offset, 'fence.isolated')).toHaveLength(1);
        const demoted = events('ha1', ha1Offset, 'fence.self_demoted');
        expect(demoted[0]?.keepalived).toBe('FAULT (isolation track file 1)');
        expect(String(demoted[0]?.database)).toMatch(/^read-only/);

        // ha2 found nothing to fence, saw the witness, and promoted; ha1 is in FAULT without VIPs.
        await waitForHolder(lab.prefix, 'ha2');
        await waitFor(
          "ha2's fencing verdict",
          () => events('ha2', ha2Offset, 'fence.verdict').some((e) => e.decision === 'promote'),
          { timeoutMs: 30_000, everyMs: 100 },
        );
        const verdict = events('ha2', ha2Offset, 'fence.verdict').find((e) => e.decision === 'promote')!;
        expect(verdict).toMatchObject({ policy: 'wait-for-witness', witness_reachable: true, level: 'warn' });
        // ha1's failback gate is shut (not caught up) before the heal: the condition the heal tests.
        await waitFor("ha1's gate shut", () => events('ha1', ha1Offset, 'agent.failback_shut').length > 0, {
          timeoutMs: 15_000,
          everyMs: 100,
        });

        const healedAt = Date.now();
        const healOffset = logSize(agentLog('ha1'));
        await setAttached(lab.prefix, 'ha1', true);
        await waitForHolder(lab.prefix, 'ha1', 60_000);
        expect(events('ha1', healOffset, 'fence.isolation_over')).toHaveLength(1);
        await expectVipsOnlyAfterGateOpened('ha1', healOffset, healedAt, holders);
        await waitForConverged(lab, 'ha1', 'ha2');
      } catch (error) {
        printNodeLogTails(lab, 40);
        throw error;
      } finally {
        await holders.stop();
        await ha1.stop();
      }
    });

    it('(c) a cut between the nodes only: the primary yields to the standby that took the VIPs; never two writable', async () => {
      // Whoever serves after (b) is the primary here ((a) runs last: it leaves the pair unsettled).
      await waitFor('one holder of both VIPs', async () => (await holderOfBoth(lab.prefix)) !== undefined, {
        timeoutMs: 60_000,
        everyMs: 100,
      });
      const primary = (await holderOfBoth(lab.prefix))!;
      const standby: LabNode = primary === 'ha1' ? 'ha2' : 'ha1';
      await waitForConverged(lab, primary, standby);
      const onPrimary = sampleReadOnly(primary, 120_000);
      const onStandby = sampleReadOnly(standby, 120_000);
      const holders = sampleHolders(lab.prefix, 100, 120_000);
      const primaryOffset = logSize(agentLog(primary));
      const standbyOffset = logSize(agentLog(standby));
      try {
        await bothSampled(onPrimary, onStandby);
        const cutAt = Date.now();
        await setPeerLink(lab.prefix, false);
        await waitFor(`${standby} writable`, () => firstAt(onStandby.samples, 0, cutAt) !== undefined, {
          timeoutMs: 30_000,
          everyMs: 50,
        });
        await twoMoreSeconds(onPrimary);

        const contested = events(primary, primaryOffset, 'fence.vip_contested');
        expect(contested, `${primary} saw ${standby} answer for its VIPs and yielded`).toHaveLength(1);
        // The reason lists every contested VIP, in no fixed order.
        expect(String(contested[0]!.reason)).toMatch(/another host answers for .*192\.0\.2\.50 on /);
        expect(
          events(primary, primaryOffset, 'fence.isolated'),
          'the witness answered: not isolation',
        ).toEqual([]);
        const demoted = events(primary, primaryOffset, 'fence.self_demoted');
        expect(demoted[0]).toMatchObject({
          cause: 'vip contest',
          keepalived: 'FAULT (isolation track file 1)',
        });
        // The standby found the primary still answering for the VIPs it had just taken, and
        // waited for them to go free: only after the primary's yield did it judge.
        const claims = events(standby, standbyOffset, 'fence.vip_claims');
        expect(claims[0], `${standby} asked who else holds its VIPs`).toBeDefined();
        expect((claims[0]!.first_claimed as string[]).join(' ')).toMatch(/192\.0\.2\.50 on \S+ answered by/);
        expect(claims[0]!.claimed).toEqual([]);
        expect(Date.parse(String(claims[0]!.time))).toBeGreaterThanOrEqual(
          Date.parse(String(demoted[0]!.time)),
        );
        const verdict = events(standby, standbyOffset, 'fence.verdict').find((e) => e.decision === 'promote');
        expect(verdict, `${standby} promoted`).toMatchObject({
          policy: 'wait-for-witness',
          witness_reachable: true,
        });

        const { writable } = expectNeverBothWritable(onPrimary, onStandby, cutAt);
        console.log(
          `peer link cut: ${primary} read-only ${firstAt(onPrimary.samples, 1, cutAt)!.t - cutAt} ms, ${standby} writable ${writable.t - cutAt} ms after the cut`,
        );

        const healedAt = Date.now();
        const healOffset = logSize(agentLog(primary));
        await setPeerLink(lab.prefix, true);
        const phase = (what: string) =>
          console.log(`peer link healed: ${what} after ${Date.now() - healedAt} ms`);
        await waitFor(
          `${primary}'s hold lifted`,
          () => events(primary, healOffset, 'fence.contest_over').length > 0,
          {
            timeoutMs: 30_000,
            everyMs: 100,
          },
        );
        phase(`${primary}'s hold lifted`);
        // (b) handed the VIPs back moments ago: the gate's anti-flap cooldown may keep them away
        // for most of a minute more.
        await waitForHolder(lab.prefix, primary, FAILBACK_COOLDOWN_MS + 30_000);
        phase(`${primary} holds the VIPs again`);
        await expectVipsOnlyAfterGateOpened(primary, healOffset, healedAt, holders);
        await waitForConverged(lab, primary, standby);
        phase('converged');
      } catch (error) {
        printNodeLogTails(lab, 40);
        throw error;
      } finally {
        await setPeerLink(lab.prefix, true);
        await holders.stop();
        await onPrimary.stop();
        await onStandby.stop();
      }
    });

    it('(a) with VRRP blocked both nodes are MASTER; ha2 fences ha1 before it is writable: never two writable', async () => {
      const ha1 = sampleReadOnly('ha1', 90_000);
      const ha2 = sampleReadOnly('ha2', 90_000);
      const ha2Offset = logSize(agentLog('ha2'));
      try {
        await bothSampled(ha1, ha2);
        const blockedAt = Date.now();
        await blockVrrp(true);
        await waitFor('ha2 writable', () => firstAt(ha2.samples, 0, blockedAt) !== undefined, {
          timeoutMs: 30_000,
          everyMs: 50,
        });
        const both = await vipHolders(lab.prefix);
        expect(both.inside, 'both nodes are MASTER (the precondition)').toEqual(['ha1', 'ha2']);
        await twoMoreSeconds(ha1);
        await Promise.all([ha1.stop(), ha2.stop()]);

        const { writable: writable2, lastWritable: lastWritable1 } = expectNeverBothWritable(
          ha1,
          ha2,
          blockedAt,
        );
        const readOnly1 = firstAt(ha1.samples, 1, blockedAt)!;
        const paths = events('ha2', ha2Offset, 'fence.path');
        expect(paths.find((p) => p.network === 'inside')).toMatchObject({ reached: true, read_only: true });
        // ha2's own order: every path's fence ended before its promotion made it writable.
        const done = events('ha2', ha2Offset, 'promote.done')[0];
        expect(done, 'ha2 promoted').toBeDefined();
        for (const path of paths)
          expect(Date.parse(String(path.time))).toBeLessThanOrEqual(Date.parse(String(done!.time)));
        console.log(
          `ha1 read-only ${readOnly1.t - blockedAt} ms, ha2 writable ${writable2.t - blockedAt} ms after VRRP was blocked; ha1 last writable at ${lastWritable1.at! - writable2.at!} ms relative to ha2's first writable sample; fence paths: ${JSON.stringify(paths.map((p) => [p.network, p.reached, p.ms]))}`,
        );
      } catch (error) {
        printNodeLogTails(lab, 40);
        throw error;
      } finally {
        await blockVrrp(false);
        await ha1.stop();
        await ha2.stop();
      }
    });
  },
);
