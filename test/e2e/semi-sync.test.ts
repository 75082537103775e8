/**
 * Strict semi-sync in the agent-mode lab (issue 12, items 5 and 6): the pair comes up with the
 * primary waiting AFTER_SYNC for its standby, and an old primary that was lost with a commit its
 * standby never acknowledged rejoins by itself once it is back, without that commit and without a
 * human. Under async the same loss leaves an errant transaction (test/mysql/semi-sync-rejoin).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labFail, labHeal } from '../../src/lab/lab.js';
import { waitFor } from '../../src/lab/processes.js';
import { one } from '../support/mariadb-pair.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  printNodeLogTails,
  rootSession,
  statusExitingFrom,
  testLab,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2ess');

describe.skipIf(missing)(
  titled('strict semi-sync: the lost old primary rejoins by itself (agent mode lab)', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(async () => {
      assertBuilt();
      await lab.up({ mode: 'agent', fast: true, semiSync: 'strict' });
      await waitForConverged(lab, 'ha1', 'ha2');
    }, LAB_TEST_TIMEOUT_MS);
    afterEach((context) => {
      if (context.task.result?.state === 'fail') printNodeLogTails(lab);
    });
    afterAll(async () => {
      await lab.down();
    }, LAB_TEST_TIMEOUT_MS);

    it('comes up strict: status finds both servers configured so (exit 0)', async () => {
      const { report } = await statusExitingFrom(lab, 'ha1', 0, 60_000);
      const ha1 = report.nodes.find((n) => n.name === 'ha1')?.database;
      expect(ha1).toMatchObject({
        read_only: false,
        semi_sync: { sourceEnabled: true, sourceActive: true, waitPoint: 'AFTER_SYNC' },
      });
    });

    it('node loss with a commit waiting for the ACK: ha2 takes over, ha1 returns without it and replicates', async () => {
      const ha1 = await rootSession(lab, 'ha1');
      const ha2 = await rootSession(lab, 'ha2');
      try {
        await ha1.query('CREATE TABLE IF NOT EXISTS app.ss (id INT PRIMARY KEY)');
        await ha1.query('INSERT INTO app.ss VALUES (1)');
        await waitFor(
          'row 1 on ha2',
          async () => (await one(ha2, 'SELECT COUNT(*) FROM app.ss').catch(() => '')) === '1',
          {
            timeoutMs: 30_000,
          },
        );
        await ha2.query('STOP SLAVE IO_THREAD');
        // Never acknowledged: its client is still waiting when the node dies.
        const pending = ha1.query('INSERT INTO app.ss VALUES (2)', [], { timeoutMs: 120_000 }).then(
          () => 'acknowledged',
          () => 'failed',
        );
        const watcher = await rootSession(lab, 'ha1');
        try {
          await waitFor(
            'the insert on ha1 waits for the semi-sync ACK',
            async () =>
              (
                await watcher.query(
                  "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE '%semi-sync ACK%'",
                )
              ).length === 1,
            { timeoutMs: 30_000 },
          );
        } finally {
          await watcher.close();
        }
        await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'kill' });
        expect(await pending).toBe('failed');
      } finally {
        await ha1.close().catch(() => undefined);
        await ha2.close().catch(() => undefined);
      }

      await waitForHolder(lab.prefix, 'ha2');
      // ha2 promoted although its IO thread was stopped: under strict nothing was acknowledged
      // that it lacks (the promotion guard's strict semi-sync rule).
      await waitForConverged(lab, 'ha2', null);
      await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
      // No human step: the agent on ha1 demotes it and re-points it onto ha2.
      await waitForConverged(lab, 'ha2', 'ha1', 120_000);
      const back = await rootSession(lab, 'ha1');
      const primary = await rootSession(lab, 'ha2', 60_000);
      try {
        expect(await one(back, 'SELECT COUNT(*) FROM app.ss WHERE id = 2')).toBe('0');
        // ha2 acknowledges writes again now that ha1 acknowledges them as its semi-sync replica.
        await primary.query('INSERT INTO app.ss VALUES (3)', [], { timeoutMs: 60_000 });
        await waitFor(
          'row 3 on ha1',
          async () => (await one(back, 'SELECT COUNT(*) FROM app.ss WHERE id = 3')) === '1',
          {
            timeoutMs: 30_000,
          },
        );
      } finally {
        await back.close();
        await primary.close();
      }
      await statusExitingFrom(lab, 'ha2', 0, 60_000);
    });
  },
);
