/**
 * A single-active application (issue 11 item 3, seed 002's shape): the spec's service action starts
 * it on promotion and stops it on demotion, and its check is marked only_on_master. Agent mode,
 * fast profile, real keepalived/MariaDB/nginx; the app is the lab's tiny TCP server on port 8081.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { holderOfBoth, labPaths, labStatus } from '../../src/lab/lab.js';
import { namespacesFor, type LabNode } from '../../src/lab/network.js';
import { readPidFile, waitFor } from '../../src/lab/processes.js';
import { LAB_APP_PORT } from '../../src/lab/spec.js';
import { assertBuilt, runProgram } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  expectHolderStays,
  printNodeLogTails,
  testLab,
  waitForConverged,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2esg');

/** Whether something accepts a connection on the app's port inside `node`'s namespace. */
async function appAnswers(node: LabNode): Promise<boolean> {
  const result = await runProgram(
    [
      'ip',
      'netns',
      'exec',
      namespacesFor(lab.prefix)[node],
      'timeout',
      '2',
      'bash',
      '-c',
      `exec 3<>/dev/tcp/127.0.0.1/${LAB_APP_PORT}`,
    ],
    { timeoutMs: 10_000 },
  );
  return result.exitCode === 0;
}

async function vrrpStates(node: LabNode): Promise<(string | null)[]> {
  const status = await labStatus(lab);
  return Object.values(status.nodes.find((n) => n.node === node)!.vrrp);
}

describe.skipIf(missing)(
  titled('a single-active application (only_on_master) in the lab', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') printNodeLogTails(lab);
      await lab.down();
    });

    it('runs only on the holder of the VIPs; the stopped app never puts the standby in FAULT; killing it on the MASTER fails over', async () => {
      await lab.up({ mode: 'agent', fast: true, checks: ['nginx', 'mysql', 'app'] });
      await waitFor('the app on ha1', () => appAnswers('ha1'), { timeoutMs: 30_000, everyMs: 250 });
      expect(await appAnswers('ha2')).toBe(false);
      // ha2's app check fails all along, yet ha2 stays a healthy BACKUP.
      await expectHolderStays(lab.prefix, 'ha1', 3_000);
      expect(await vrrpStates('ha2')).toEqual(['BACKUP', 'BACKUP']);

      const pid = readPidFile(join(labPaths(lab.dir).node.ha1.dir, 'app.pid'));
      expect(pid).toBeDefined();
      const killedAt = Date.now();
      process.kill(pid!, 'SIGKILL');
      await waitFor('both VIPs on ha2', async () => (await holderOfBoth(lab.prefix)) === 'ha2', {
        timeoutMs: 30_000,
        everyMs: 20,
      });
      const movedMs = Date.now() - killedAt;
      console.log(`single-active: app killed on ha1 -> both VIPs on ha2 in ${movedMs} ms`);
      // fall 2 × 0.25 s, then a 0.1 s-advert election; generous for a loaded machine.
      expect(movedMs).toBeLessThanOrEqual(5_000);
      await waitFor('the app on ha2', () => appAnswers('ha2'), { timeoutMs: 30_000, everyMs: 250 });

      // ha1 was in FAULT for its app; once demoted its check no longer counts: BACKUP, app stopped.
      await waitFor(
        'ha1 back to BACKUP',
        async () => (await vrrpStates('ha1')).every((state) => state === 'BACKUP'),
        { timeoutMs: 30_000, everyMs: 250 },
      );
      expect(await appAnswers('ha1')).toBe(false);
      await waitForConverged(lab, 'ha2', 'ha1');
      await expectHolderStays(lab.prefix, 'ha2', 3_000);
      expect(await vrrpStates('ha1')).toEqual(['BACKUP', 'BACKUP']);
    });
  },
);
