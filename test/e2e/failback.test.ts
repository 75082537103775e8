/**
 * failback: preempt in the lab spec renders ha1 as state MASTER without nopreempt, so a recovered
 * ha1 takes both VIPs back; the client follows it. (nopreempt, the default, is in failover.test.ts.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { clientHttp, labHeal, labPaths, type Fault } from '../../src/lab/lab.js';
import { keepalivedFiles } from '../../src/lab/keepalived.js';
import { startProbe } from '../../src/lab/probe.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  SETTLE_MS,
  SPLIT_BOUND_MS,
  failover,
  testLab,
  waitForBackup,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2efb');

describe.skipIf(missing)(
  titled('hactl lab: failback preempt', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') await lab.downForGood();
      else await lab.down();
    });
    afterAll(() => lab.downForGood());

    for (const how of ['stop', 'kill'] as Fault[]) {
      it(`ha1 ${how === 'kill' ? 'lost' : 'keepalived stopped'}: VIPs go to ha2, and come back to ha1 when it recovers; the database follows them both ways`, async () => {
        await lab.up({ failback: 'preempt' });
        const conf = readFileSync(keepalivedFiles(labPaths(lab.dir).node.ha1.dir).conf, 'utf8');
        expect(conf).toMatch(/state MASTER/);
        expect(conf).not.toMatch(/nopreempt/);

        const result = await failover(lab, 'ha1', 'ha2', how);
        expect(result.longestSplitMs).toBeLessThanOrEqual(SPLIT_BOUND_MS);
        expect(await clientHttp(lab.prefix)).toBe('ha2');
        // With ha1 stopped (not lost) its keepalived is gone too: ha2 is the primary, alone.
        await waitForConverged(lab, 'ha2', null);

        const probe = startProbe(lab.prefix, { maxDurationMs: SETTLE_MS + 60_000 });
        try {
          const healedAt = Date.now();
          await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
          // ha1's checks must rise (2 runs at the lab's 5 s interval) before it can preempt.
          await waitForHolder(lab.prefix, 'ha1');
          expect(
            await probe.waitForAnswer('ha1', healedAt, 15_000),
            'the client follows the VIPs back to ha1',
          ).toBeDefined();
        } finally {
          await probe.stop();
        }
        await waitForBackup(lab, 'ha2');
        expect(await clientHttp(lab.prefix)).toBe('ha1');
        // notify promoted ha1 again (after it caught up as ha2's replica) and re-pointed ha2 to it.
        await waitForConverged(lab, 'ha1', 'ha2');
        // Back where `up` left it: the next test may start from this pair rather than a fresh one.
        lab.handOn();
      });
    }
  },
);
