/**
 * `hactl status` with the VIPs split or gone (issue 10), in the agent-mode lab (fast profile), and
 * what keepalived and the agents really do about each:
 *
 * - the inside VIP added by hand on ha2 beside ha1 (a VIP on two nodes): keepalived leaves the
 *   duplicate alone and ha2's agent, holding one VIP of two while keepalived says BACKUP, stays
 *   BACKUP. From ha2, status is degraded (the VIPs lead to two nodes, inside to the read-only ha2).
 * - the inside VIP taken off the MASTER by hand: keepalived 2.2.7 hears it (netlink), leaves MASTER
 *   and wins the election again within a VRRP round, setting both VIPs anew. A VIP on none cannot
 *   be held that way, so the test asserts the repair.
 * - the VIPs on no node, the way it really happens: every node in FAULT (nginx stopped on both).
 *   From both nodes, status names each VIP on no node and no writable database.
 *
 * What status cannot see: its VIP view (src/status/collect.ts) is this node's interfaces for a VIP
 * it holds, else which MySQL answers through the VIP; the peer's interfaces are never looked at
 * (vips_held of the peer is null without its agent). So each node sees a duplicated VIP on itself
 * only, held_by never has two names, and from ha1 the pair above looks healthy. The test that
 * expects the exact "on 2 nodes" sentence is marked `it.fails` until collect.ts learns the peer's
 * VIPs (from the peer's agent): it turns red the day that works, and must then become `it`.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keepalivedFiles, lastLoggedStates, loggedStateChanges } from '../../src/lab/keepalived.js';
import { labFail, labHeal, labPaths } from '../../src/lab/lab.js';
import { namespacesFor, vipOf, type LabNode } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { connectWith } from '../../src/mysql/connection.js';
import type { PairStatus } from '../../src/status/types.js';
import { assertBuilt, runHactl, type RunResult } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  logSince,
  logSize,
  printNodeLogTails,
  testLab,
  vipByHand,
  vipHolders,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2esp');

const INSIDE = vipOf('inside');
const OUTSIDE = vipOf('outside');
const ON_TWO = `VIP inside (${INSIDE}) is on 2 nodes: ha1, ha2`;

async function status(node: LabNode): Promise<{ run: RunResult; report: PairStatus }> {
  const run = await runHactl(['status', '--json', '--spec', labPaths(lab.dir).specPath, '--node', node], {
    netns: namespacesFor(lab.prefix)[node],
    timeoutMs: 30_000,
  });
  expect(run.timedOut, run.stderr).toBe(false);
  return { run, report: JSON.parse(run.stdout) as PairStatus };
}

/** Retries status (bounded) until it exits `code`: a re-pointed replica may report a moment of lag. */
async function statusExiting(node: LabNode, code: number): Promise<{ run: RunResult; report: PairStatus }> {
  let last: { run: RunResult; report: PairStatus } | undefined;
  await waitFor(
    `hactl status from ${node} to exit ${code}`,
    async () => {
      last = await status(node);
      return last.run.exitCode === code;
    },
    { timeoutMs: 30_000, everyMs: 500 },
  ).catch(() => undefined);
  expect(last!.run.exitCode, `status from ${node}: ${last!.run.stdout}`).toBe(code);
  return last!;
}

async function readOnly(node: LabNode): Promise<boolean> {
  const socket = join(labPaths(lab.dir).node[node].dbDir, 'mariadb.sock');
  const session = await connectWith({ user: 'root', socket }, { timeoutMs: 5_000 });
  try {
    const row = (await session.query('SELECT @@GLOBAL.read_only AS ro'))[0] ?? {};
    return String(row.ro) === '1';
  } finally {
    await session.close();
  }
}

const heldBy = (report: PairStatus) => report.vips.map((v) => [v.name, v.held_by]);

describe.skipIf(missing)(
  titled('hactl status with a VIP split induced by hand (agent mode lab)', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(async () => {
      assertBuilt();
      await lab.up({ mode: 'agent', fast: true });
    }, LAB_TEST_TIMEOUT_MS);
    afterEach((context) => {
      // An it.fails test fails on purpose: its logs explain nothing.
      if (context.task.result?.state === 'fail' && !context.task.fails) printNodeLogTails(lab);
    });
    afterAll(async () => {
      await lab.down();
    }, LAB_TEST_TIMEOUT_MS);

    it('before the split: exit 0 from both nodes, both VIPs on ha1', async () => {
      for (const node of ['ha1', 'ha2'] as const) {
        const { report } = await statusExiting(node, 0);
        expect(heldBy(report)).toEqual([
          ['inside', ['ha1']],
          ['outside', ['ha1']],
        ]);
      }
    });

    describe('the inside VIP on two nodes (added on ha2 by hand)', () => {
      beforeAll(async () => {
        await vipByHand(lab.prefix, 'ha2', 'inside', 'add');
      });
      afterAll(async () => {
        await vipByHand(lab.prefix, 'ha2', 'inside', 'del');
      });

      it('from ha2: exit 1, the VIPs lead to two nodes and inside to the read-only ha2', async () => {
        expect(await vipHolders(lab.prefix)).toEqual({ inside: ['ha1', 'ha2'], outside: ['ha1'] });
        const { run, report } = await status('ha2');
        expect(run.exitCode, run.stdout).toBe(1);
        expect(report.problems).toEqual([
          'the VIPs are split between ha2 and ha1',
          'VIP inside leads to ha2, which is read-only (the writable node is ha1)',
        ]);
        expect(heldBy(report)).toEqual([
          ['inside', ['ha2']],
          ['outside', ['ha1']],
        ]);
        expect(report.nodes[0]).toMatchObject({ name: 'ha2', vips_held: [INSIDE] });
        // keepalived did not take it off, and ha2's agent did not act on it (BACKUP stays BACKUP).
        expect(await vipHolders(lab.prefix)).toEqual({ inside: ['ha1', 'ha2'], outside: ['ha1'] });
        expect(await readOnly('ha2')).toBe(true);
      });

      // KNOWN GAP (collect.ts, not verdict.ts): a VIP this node holds is reported as held by this
      // node alone; the peer's interfaces are never looked at (vips_held of the peer is null without
      // its agent), so held_by never has two names and the sentence below is never produced.
      it.fails(
        `from either node: exit 1 and "${ON_TWO}" (fails today: status cannot see the peer's interfaces)`,
        async () => {
          for (const node of ['ha1', 'ha2'] as const) {
            const { run, report } = await status(node);
            expect(report.problems).toContain(ON_TWO);
            expect(report.vips[0]!.held_by).toEqual(['ha1', 'ha2']);
            expect(run.exitCode).toBe(1);
          }
        },
      );
    });

    it('the inside VIP taken off the MASTER by hand: keepalived puts it back within a VRRP round, the pair converges, exit 0', async () => {
      const ha1Log = keepalivedFiles(labPaths(lab.dir).node.ha1.dir).log;
      const mark = logSize(ha1Log);
      await vipByHand(lab.prefix, 'ha1', 'inside', 'del');
      // keepalived 2.2.7 hears the address go (netlink), leaves MASTER with a priority-0 advert and
      // wins the election again at once, setting both VIPs anew: a VIP on none cannot be held so.
      await waitFor(
        'the inside VIP back on ha1',
        async () => (await vipHolders(lab.prefix)).inside.join() === 'ha1',
        { timeoutMs: 10_000, everyMs: 50 },
      );
      const logged = logSince(ha1Log, mark);
      expect(logged).toContain(`Netlink reflector reports IP ${INSIDE} removed`);
      const changes = loggedStateChanges(logged).filter((c) => c.instance === 'inside');
      expect(changes.map((c) => c.state)).toEqual(['BACKUP', 'MASTER']);
      await waitForConverged(lab, 'ha1', 'ha2', 60_000);
      for (const node of ['ha1', 'ha2'] as const) {
        const { report } = await statusExiting(node, 0);
        expect(heldBy(report)).toEqual([
          ['inside', ['ha1']],
          ['outside', ['ha1']],
        ]);
      }
    });

    describe('the VIPs on no node (nginx stopped on ha2, then on ha1: both in FAULT)', () => {
      beforeAll(async () => {
        // ha2 first: it must not take the VIPs when ha1 goes.
        for (const node of ['ha2', 'ha1'] as const) {
          await labFail({ prefix: lab.prefix, dir: lab.dir, node, how: 'nginx' });
          const files = keepalivedFiles(labPaths(lab.dir).node[node].dir);
          await waitFor(`${node} in FAULT`, () => lastLoggedStates(files).inside === 'FAULT', {
            timeoutMs: 15_000,
            everyMs: 50,
          });
        }
      });
      afterAll(async () => {
        await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
        await waitForHolder(lab.prefix, 'ha1', 30_000);
        await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha2' });
      }, LAB_TEST_TIMEOUT_MS);

      it('from both nodes: exit 1, each VIP on no node, no node writable', async () => {
        expect(await vipHolders(lab.prefix)).toEqual({ inside: [], outside: [] });
        // FAULT demotes: ha1's agent makes its database read-only.
        await waitFor("ha1's database read-only", () => readOnly('ha1'), { timeoutMs: 30_000, everyMs: 250 });
        for (const node of ['ha1', 'ha2'] as const) {
          const { run, report } = await status(node);
          expect(run.exitCode, run.stdout).toBe(1);
          expect(report.problems).toEqual(
            expect.arrayContaining([
              `VIP inside (${INSIDE}) is on no node`,
              `VIP outside (${OUTSIDE}) is on no node`,
              'no node is writable: every database is read-only',
            ]),
          );
          expect(heldBy(report)).toEqual([
            ['inside', []],
            ['outside', []],
          ]);
          expect(report.nodes[0]).toMatchObject({ name: node, vips_held: [] });
        }
        expect(await vipHolders(lab.prefix)).toEqual({ inside: [], outside: [] });
      });
    });

    it('healed (ha1 first): the pair converges on ha1 again, exit 0 from both nodes', async () => {
      await waitForConverged(lab, 'ha1', 'ha2', 60_000);
      for (const node of ['ha1', 'ha2'] as const) {
        const { report } = await statusExiting(node, 0);
        expect(report.problems).toEqual([]);
        expect(heldBy(report)).toEqual([
          ['inside', ['ha1']],
          ['outside', ['ha1']],
        ]);
      }
    });
  },
);
