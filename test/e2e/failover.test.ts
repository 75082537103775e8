/**
 * The lab pair fails over for real: election, node loss, keepalived stopped, nginx and MariaDB
 * failing their checks. Both VIPs move together (a sync group) and the client follows; with
 * nopreempt the recovered ha1 does not take them back. Each test builds and removes its own lab,
 * except that the first (which only looks) hands its converged pair on to the next.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientHttp, labHeal, labStatus, type Fault } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  SPLIT_BOUND_MS,
  expectHolderStays,
  failover,
  testLab,
  waitForBackup,
  waitForConverged,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2efo');

describe.skipIf(missing)(
  titled('hactl lab: election and failover (nopreempt)', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') await lab.downForGood();
      else await lab.down();
    });
    afterAll(() => lab.downForGood());

    it('elects ha1: once `up` returns, both VIPs on ha1, HTTP and SQL through the VIPs reach ha1, ha1 writable, ha2 its replica', async () => {
      // `up` returns only once the pair has converged: nothing here waits.
      await lab.up();
      expect(await clientHttp(lab.prefix)).toBe('ha1');
      const database = labDatabase({ dir: lab.dir, netns: () => '' });
      expect(await database.clientServerNode(namespacesFor(lab.prefix).client, vipOf('inside'))).toBe('ha1');
      const status = await labStatus(lab);
      expect(status.nodes.map((n) => [n.node, n.db.role])).toEqual([
        ['ha1', 'primary'],
        ['ha2', 'replica'],
      ]);
      expect(status.pair).toEqual({ primary: 'ha1', replica: 'ha2', problems: [] });
      expect(status.nodes[1]!.db.replica).toMatchObject({
        source: '192.0.2.11:3306',
        io: 'yes',
        sql: true,
        error: null,
      });
      // It only looked: the next test may start from this pair rather than a fresh one.
      lab.handOn();
    });

    it('node loss: both VIPs move together to ha2, the client follows; ha1 recovers as its replica and the VIPs stay', async () => {
      await lab.up();
      const result = await failover(lab, 'ha1', 'ha2', 'kill');
      expect(result.longestSplitMs).toBeLessThanOrEqual(SPLIT_BOUND_MS);
      // Detection is 3 adverts + skew at advert_int 1: about 3.5 s (keepalived is C: load barely shows).
      expect(result.firstAnswerMs).toBeLessThan(10_000);
      expect(await clientHttp(lab.prefix)).toBe('ha2');
      // notify (mysql.promote) made ha2's MariaDB the writable primary behind the inside VIP.
      await waitForConverged(lab, 'ha2', null);
      // The application writes through the inside VIP, with an account that read_only binds.
      const database = labDatabase({ dir: lab.dir, netns: () => '' });
      const client = namespacesFor(lab.prefix).client;
      expect(await database.clientWrite(client, vipOf('inside'))).toBe('ha2');

      await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
      await waitForBackup(lab, 'ha1');
      // A status read can fail while a demotion ends every client session (the reader's too):
      // null says nothing either way, so read until the server answers, then judge.
      let back = await labStatus(lab);
      await waitFor(
        "ha1's database to answer a status read",
        async () => (back = await labStatus(lab)).nodes[0]!.db.readOnly !== null,
        { timeoutMs: 30_000, everyMs: 200 },
      );
      expect(
        back.nodes[0]!.db.readOnly,
        `ha1 came back read-only: ${JSON.stringify(back.nodes[0]!.db)}`,
      ).toBe(true);
      // Longer than a full failover detection (3 × advert + skew): preemption would have happened.
      await expectHolderStays(lab.prefix, 'ha2', 5_000);
      expect(await clientHttp(lab.prefix)).toBe('ha2');
      // Its BACKUP notify re-pointed it: ha1 is ha2's replica again, caught up.
      await waitForConverged(lab, 'ha2', 'ha1');
      await waitFor('ha1 caught up with ha2', async () => (await labStatus(lab)).nodes[0]!.db.lag === 0, {
        timeoutMs: 30_000,
        everyMs: 500,
      });
      const after = await labStatus(lab);
      expect(after.nodes.map((n) => [n.node, n.db.role])).toEqual([
        ['ha1', 'replica'],
        ['ha2', 'primary'],
      ]);
      expect(after.client.sql).toBe('ha2');
      // Writes keep going to ha2 only; ha1 refuses the application's writes directly.
      expect(await database.clientWrite(client, vipOf('inside'))).toBe('ha2');
      expect(await database.clientServerNode(client, '192.0.2.11'), 'ha1 answers reads').toBe('ha1');
      expect(await database.clientWrite(client, '192.0.2.11'), 'ha1 refuses writes').toBeNull();
    });

    // Bounds for a loaded 2-core machine. keepalived stopped: ha1 sends priority 0 and ha2 takes over
    // at once. nginx/mysql: the check fails at once (connection refused) but needs `fall` (2) runs at
    // the lab's 5 s interval, each a node process that can take ~3 s under load. Links down: ha2's
    // master-down timer, 3 adverts + skew.
    const moves: { how: Fault; what: string; boundMs: number }[] = [
      { how: 'stop', what: 'keepalived stopped (SIGTERM releases the VIPs at once)', boundMs: 5_000 },
      { how: 'nginx', what: 'nginx stopped (http check, weight 0 → FAULT)', boundMs: 20_000 },
      { how: 'mysql', what: 'mariadbd stopped (mysql check, weight 0 → FAULT)', boundMs: 20_000 },
      { how: 'link', what: "ha1's links down", boundMs: 10_000 },
    ];
    for (const { how, what, boundMs } of moves) {
      it(`${what}: both VIPs move together to ha2 and the client gets "ha2"`, async () => {
        await lab.up();
        const result = await failover(lab, 'ha1', 'ha2', how);
        expect(result.longestSplitMs).toBeLessThanOrEqual(SPLIT_BOUND_MS);
        expect(result.firstAnswerMs).toBeLessThan(boundMs);
        expect(await clientHttp(lab.prefix)).toBe('ha2');
      });
    }
  },
);
