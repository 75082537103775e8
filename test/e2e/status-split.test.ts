/**
 * `hactl status` with the VIPs split or gone (issue 10), in the agent-mode lab (fast profile, the
 * agents' API on: status asks both agents which VIPs their node holds), and what keepalived and
 * the agents really do about each:
 *
 * - the inside VIP added by hand on ha2 beside ha1 (a VIP on two nodes): keepalived leaves the
 *   duplicate alone and ha2's agent, holding one VIP of two while keepalived says BACKUP, stays
 *   BACKUP. Status names the VIP on two nodes from either node (each lists itself first).
 * - the inside VIP taken off the MASTER by hand: keepalived 2.2.7 hears it (netlink) and leaves
 *   MASTER with a priority-0 advert; usually it wins the election again within a VRRP round, but on a
 *   loaded machine ha2 can answer that advert first and take both VIPs. A VIP on none cannot be held
 *   that way, so the test asserts the repair: both VIPs on one node, the pair converged on it.
 * - the VIPs on no node, the way it really happens: every node in FAULT (nginx stopped on both).
 *   From both nodes, status names each VIP on no node and no writable database.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keepalivedFiles, lastLoggedStates, loggedStateChanges } from '../../src/lab/keepalived.js';
import { labFail, labHeal, labPaths } from '../../src/lab/lab.js';
import { vipOf, type LabNode } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import type { PairStatus } from '../../src/status/types.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  logSince,
  logSize,
  printNodeLogTails,
  rootSession,
  statusExitingFrom,
  statusFrom,
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
const ON_TWO = (nodes: string) => `VIP inside (${INSIDE}) is on 2 nodes: ${nodes}`;

async function readOnly(node: LabNode): Promise<boolean> {
  const session = await rootSession(lab, node);
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
      if (context.task.result?.state === 'fail') printNodeLogTails(lab);
    });
    afterAll(async () => {
      await lab.down();
    }, LAB_TEST_TIMEOUT_MS);

    it('before the split: exit 0 from both nodes, both VIPs on ha1', async () => {
      for (const node of ['ha1', 'ha2'] as const) {
        const { report } = await statusExitingFrom(lab, node, 0);
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

      it('keepalived leaves the duplicate alone, and ha2 (BACKUP) does not act on it', async () => {
        expect(await vipHolders(lab.prefix)).toEqual({ inside: ['ha1', 'ha2'], outside: ['ha1'] });
        // An observation window, not a wait: the claim is that nothing happens during it (ha2's agent
        // ticks 4 times a second on its checks; keepalived adverts every 0.1 s).
        for (let sample = 0; sample < 10; sample++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect(await vipHolders(lab.prefix)).toEqual({ inside: ['ha1', 'ha2'], outside: ['ha1'] });
        }
        expect(await readOnly('ha2')).toBe(true);
        expect(await readOnly('ha1')).toBe(false);
      });

      // Each node lists itself first. The agents say which VIPs their node holds (agent.api).
      it.each([
        ['ha1', ['ha1', 'ha2'], [ON_TWO('ha1, ha2')]],
        [
          'ha2',
          ['ha2', 'ha1'],
          [ON_TWO('ha2, ha1'), `the VIPs are split: ha2 holds ${INSIDE} but not ${OUTSIDE}`],
        ],
      ] as const)('status from %s: exit 1, the VIP on two nodes', async (node, holders, problems) => {
        const { run, report } = await statusFrom(lab, node);
        expect(run.exitCode, run.stdout).toBe(1);
        expect(report.problems).toEqual(problems);
        expect(heldBy(report)).toEqual([
          ['inside', holders],
          ['outside', ['ha1']],
        ]);
        expect(report.vips.map((v) => v.source)).toEqual(['agent', 'agent']);
        expect(report.nodes.find((n) => n.name === 'ha2')).toMatchObject({ vips_held: [INSIDE] });
      });
    });

    it('the inside VIP taken off the MASTER by hand: keepalived repairs the split (both VIPs on one node), the pair converges, exit 0', async () => {
      const ha1Log = keepalivedFiles(labPaths(lab.dir).node.ha1.dir).log;
      const mark = logSize(ha1Log);
      await vipByHand(lab.prefix, 'ha1', 'inside', 'del');
      let holder: LabNode | undefined;
      await waitFor(
        'both VIPs on one node again',
        async () => {
          const holders = await vipHolders(lab.prefix);
          const together = holders.inside.length === 1 && holders.outside.join() === holders.inside.join();
          holder = together ? holders.inside[0] : undefined;
          return together;
        },
        { timeoutMs: 10_000, everyMs: 50 },
      );
      const logged = logSince(ha1Log, mark);
      expect(logged).toContain(`Netlink reflector reports IP ${INSIDE} removed`);
      const changes = loggedStateChanges(logged).filter((c) => c.instance === 'inside');
      expect(changes[0]?.state).toBe('BACKUP');
      expect(changes.at(-1)?.state).toBe(holder === 'ha1' ? 'MASTER' : 'BACKUP');
      const other = holder === 'ha1' ? 'ha2' : 'ha1';
      await waitForConverged(lab, holder!, other, 60_000);
      for (const node of ['ha1', 'ha2'] as const) {
        const { report } = await statusExitingFrom(lab, node, 0);
        expect(heldBy(report)).toEqual([
          ['inside', [holder]],
          ['outside', [holder]],
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
          const { run, report } = await statusFrom(lab, node);
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
        const { report } = await statusExitingFrom(lab, node, 0);
        expect(report.problems).toEqual([]);
        expect(heldBy(report)).toEqual([
          ['inside', ['ha1']],
          ['outside', ['ha1']],
        ]);
      }
    });
  },
);
