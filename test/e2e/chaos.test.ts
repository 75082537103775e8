/**
 * The short chaos matrix (the full one is `npm run chaos`): async replication, default profile, one
 * repetition each of the two faults that cost an application its writes when promotion is careless.
 * A writer inserts unique ids through the inside VIP at 150/s as the application account; every id
 * the server acknowledged that had reached the standby's relay log must be on the node that ends up
 * primary (async replication cannot save a write the old primary acknowledged in its last
 * milliseconds and never sent: that one must still be on the old primary and reported), the two
 * databases must never be writable at the same moment, and the pair must settle (one writable
 * holder of every VIP, the other replicating from it).
 *
 * - mysqld SIGKILL on the primary: the mysql check fails, the standby takes over.
 * - replica lag + node loss: the standby's SQL thread is held back until ≥ 2 s of acknowledged
 *   writes sit unapplied in its relay log, then the primary's node dies. Promotion must apply them
 *   before it makes the standby writable (a promotion that skips the drain loses all of them).
 *
 * The one outcome tolerated instead of "settled" is the one hactl is right to refuse: crash recovery
 * on the old primary committed a transaction no client saw acknowledged, so it holds a GTID the new
 * primary lacks and hactl will not re-point it (issue 12, item 6). That case must come with the
 * GTIDs in hactl's log, and everything else about the pair must be settled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pairProblems,
  runRep,
  WRITER_RATE,
  type ChaosFault,
  type RepResult,
} from '../../bench/chaos/faults.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { labPaths } from '../../src/lab/lab.js';
import { LAB_PROGRAMS, logSince, logSize, printNodeLogTails, testLab } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2ech');
const strictLab = testLab('e2ecs');

/**
 * The strict semi-sync short run, chosen for CI's budget: node loss (a crash with commits waiting
 * for the standby's acknowledgement: none may be lost, the old primary must rejoin by itself,
 * without a diverged GTID), mysqld SIGKILL on the primary (every path between the nodes stays up:
 * never two writable databases) and notify-burst cut to NOTIFY_BURST_HANDOVERS hand-overs
 * (keepalived on the VIP holder stopped with SIGTERM and restarted). This lab runs with `fencing`
 * (script mode: promote-anyway, no witness): keepalived 2.2.7 sends its priority-0 advert and
 * drops the VIPs before it runs the STOP notify, so only the promoting node fencing the old
 * primary first keeps the two from overlapping (README, chaos section; without fencing 0.5–2.6 s).
 */
const STRICT_FAULTS: ChaosFault[] = ['node-loss', 'mysqld-kill'];
const NOTIFY_BURST_HANDOVERS = 3;

/** Problems convergence reports for a diverged old primary that hactl left read-only and unattached. */
// What a diverged old primary shows while it is left out: no BACKUP applied, no replication, and
// keepalived still in FAULT when its checks have not risen again since the crash (the runner stops
// waiting at the divergence line, which comes first).
const DIVERGED_REPLICA =
  /notify has not applied BACKUP|database is no replica|replication from|keepalived not BACKUP for .*\(FAULT\)/;

/**
 * The writer was steady before the fault and the final primary took writes after it: half a second
 * of the writer's rate each side (the runner waits for a second's worth of each). Not a total, which shrinks when a diverged old primary ends the
 * settle wait at once (CI: 290 acknowledged after a 9.9 s script-mode failover).
 */
const WRITES_EACH_SIDE = WRITER_RATE / 2;

function expectWriterWorked(result: RepResult, why: string): void {
  expect(result.ackedBefore, `acknowledged before the fault: ${why}`).toBeGreaterThanOrEqual(
    WRITES_EACH_SIDE,
  );
  expect(result.ackedByNewPrimary, `acknowledged by the final primary: ${why}`).toBeGreaterThanOrEqual(
    WRITES_EACH_SIDE,
  );
}

function expectSafeAndSettled(result: RepResult): void {
  const why = JSON.stringify(result);
  expectWriterWorked(result, why);
  // Async: what reached the standby's relay log must survive; what never left the old primary (its
  // last few ms before a crash) may not, but must still be there and reported, never vanish.
  expect(result.lostReceived, `acknowledged writes lost that the standby had received: ${why}`).toBe(0);
  expect(result.lost, `every lost write is still on the old primary: ${why}`).toBe(result.lostButOnOther);
  expect(
    result.lost === 0 || result.diverged !== null,
    `hactl reported the old primary's extra GTIDs: ${why}`,
  ).toBe(true);
  expect(result.duplicated, why).toBe(0);
  expect(result.bothWritableS, `seconds with two writable databases: ${why}`).toBe(0);
  expect(result.to, `the standby took over: ${why}`).toBe(result.from === 'ha1' ? 'ha2' : 'ha1');
  expect(result.firstWriteS, `the new primary acknowledged writes: ${why}`).not.toBeNull();
  const unexplained = result.diverged
    ? result.problems.filter((p) => !p.startsWith(`${result.from}:`) || !DIVERGED_REPLICA.test(p))
    : result.problems;
  expect(unexplained, `the pair settled (or only the diverged old primary is left out): ${why}`).toEqual([]);
  if (result.diverged) console.warn(`chaos: old primary ${result.from} diverged (${result.diverged})`);
}

describe.skipIf(missing)(
  titled('chaos: acknowledged writes survive node loss and mysqld SIGKILL', missing),
  () => {
    let failed = false;
    beforeAll(async () => {
      assertBuilt();
      await lab.up();
    }, 240_000);
    afterAll(async () => {
      if (failed) printNodeLogTails(lab);
      await lab.down();
    }, 120_000);

    it('mysqld SIGKILL on the primary: 0 acknowledged writes lost, never two writable databases', async () => {
      try {
        const result = await runRep(lab, 'mysqld-kill', { settleBoundMs: 60_000, failoverBoundMs: 40_000 });
        expectSafeAndSettled(result);
      } catch (error) {
        failed = true;
        throw error;
      }
    }, 180_000);
    it('replica lag + node loss: 0 acknowledged writes lost, never two writable databases', async () => {
      try {
        // The previous repetition may have left a diverged old primary out of the pair: start afresh.
        if ((await pairProblems(lab)).problems.length > 0) await lab.up();
        const result = await runRep(lab, 'lag-node-loss', { settleBoundMs: 60_000, failoverBoundMs: 30_000 });
        expectSafeAndSettled(result);
      } catch (error) {
        failed = true;
        throw error;
      }
    }, 180_000);
  },
);

/**
 * Strict semi-sync (the lab as `hactl lab up --semi-sync strict`): every write a client saw
 * acknowledged is in the standby's relay log before the acknowledgement, so none may be lost, and
 * a crashed old primary truncates what its standby never acknowledged and rejoins by itself: the
 * pair must settle with no diverged node.
 */
function expectStrictSafeAndSettled(result: RepResult): void {
  const why = JSON.stringify(result);
  expectWriterWorked(result, why);
  expect(result.lost, `acknowledged writes lost under strict semi-sync: ${why}`).toBe(0);
  expect(result.duplicated, why).toBe(0);
  expect(result.bothWritableS, `seconds with two writable databases: ${why}`).toBe(0);
  expect(result.to, `the standby took over: ${why}`).toBe(result.from === 'ha1' ? 'ha2' : 'ha1');
  expect(result.firstWriteS, `the new primary acknowledged writes: ${why}`).not.toBeNull();
  expect(result.diverged, `no diverged old primary under strict semi-sync: ${why}`).toBeNull();
  expect(result.problems, `the pair settled: ${why}`).toEqual([]);
}

/**
 * Every promotion hactl made in `log` (the lab's hactl.log from some offset on) fenced the old
 * primary first: a `fence.done` of the same transition that reached it over at least one network.
 * The sampler's "0 s two writable" is the outcome; this is the cause, and unlike the outcome it does
 * not depend on who wins keepalived's race (the STOP demotion often does).
 */
function promotionsUnfenced(log: string): { promotions: number; unfenced: string[] } {
  const lines = log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const fenced = new Set(
    lines
      .filter((l) => l.event === 'fence.done' && Array.isArray(l.fenced) && l.fenced.length > 0)
      .map((l) => l.transition_id),
  );
  const promoted = lines.filter(
    (l) => l.event === 'notify.action' && l.action === 'mysql.promote' && l.result === 'ok',
  );
  return {
    promotions: promoted.length,
    unfenced: promoted.filter((l) => !fenced.has(l.transition_id)).map((l) => String(l.transition_id)),
  };
}

describe.skipIf(missing)(
  titled(
    'chaos under strict semi-sync with fencing: 0 acknowledged writes lost, pair healthy after',
    missing,
  ),
  () => {
    let failed = false;
    beforeAll(async () => {
      assertBuilt();
      await strictLab.up({ semiSync: 'strict', fencing: true });
    }, 240_000);
    afterAll(async () => {
      if (failed) printNodeLogTails(strictLab);
      await strictLab.down();
    }, 120_000);

    for (const fault of STRICT_FAULTS) {
      it(`${fault}: 0 acknowledged writes lost, never two writable databases, healthy after`, async () => {
        try {
          if ((await pairProblems(strictLab)).problems.length > 0)
            await strictLab.up({ semiSync: 'strict', fencing: true });

          const result = await runRep(strictLab, fault, {
            settleBoundMs: 60_000,
            failoverBoundMs: 30_000,
            strictSemiSync: true,
          });
          expectStrictSafeAndSettled(result);
        } catch (error) {
          failed = true;
          throw error;
        }
      }, 180_000);
    }
    it('table-lock: a lock that keeps read_only waiting on the old primary is ended, the standby promoted, 0 lost', async () => {
      try {
        if ((await pairProblems(strictLab)).problems.length > 0)
          await strictLab.up({ semiSync: 'strict', fencing: true });
        const logPath = labPaths(strictLab.dir).log;
        const logFrom = logSize(logPath);
        const result = await runRep(strictLab, 'table-lock', {
          settleBoundMs: 60_000,
          failoverBoundMs: 30_000,
          strictSemiSync: true,
        });
        expectStrictSafeAndSettled(result);
        // The lock is never released by its holder: only hactl ending it (the old primary's own
        // demotion or the fence, whichever waits a third of its budget first) lets read_only through.
        expect(logSince(logPath, logFrom)).toMatch(/"event":"(demote|fence)\.ended_read_only_blockers"/);
      } catch (error) {
        failed = true;
        throw error;
      }
    }, 180_000);
    it('notify-burst: every promotion fenced the old primary first, never two writable, 0 lost', async () => {
      try {
        if ((await pairProblems(strictLab)).problems.length > 0)
          await strictLab.up({ semiSync: 'strict', fencing: true });
        const logPath = labPaths(strictLab.dir).log;
        const logFrom = logSize(logPath);
        // Safety only, with a short settle bound: the last old primary can end up out of the pair
        // (diverged by commits that waited for an ACK when its demotion or the fence ended them:
        // never acknowledged, still in its binlog), and then strict semi-sync blocks every write
        // on the new primary until a human acts. A liveness defect, listed in the README, not
        // asserted here: how many writes the burst acknowledges depends on it.
        const result = await runRep(strictLab, 'notify-burst', {
          settleBoundMs: 20_000,
          failoverBoundMs: 30_000,
          strictSemiSync: true,
          burstHandovers: NOTIFY_BURST_HANDOVERS,
        });
        const why = JSON.stringify(result);
        expect(result.acked, `the writer got acknowledgements: ${why}`).toBeGreaterThan(0);
        expect(result.lost, `acknowledged writes lost under strict semi-sync: ${why}`).toBe(0);
        expect(result.duplicated, why).toBe(0);
        expect(result.bothWritableS, `seconds with two writable databases: ${why}`).toBe(0);
        expect(result.to, `the VIPs ended on the standby: ${why}`).toBe(
          result.from === 'ha1' ? 'ha2' : 'ha1',
        );
        const { promotions, unfenced } = promotionsUnfenced(logSince(logPath, logFrom));
        // Not one per hand-over: keepalived SIGTERMs a notify still promoting when the burst stops
        // that node's keepalived again (script_killall), so some promotions never finish.
        expect(promotions, 'promotions completed during the burst').toBeGreaterThanOrEqual(1);
        expect(unfenced, 'promotions that did not fence the old primary first').toEqual([]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }, 180_000);
  },
);
