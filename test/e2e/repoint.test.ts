/**
 * Issue 12, agent mode: a standby whose demotion gave up re-pointing (its peer was not writable
 * within mysql.repoint_wait) is re-pointed by its agent once the peer is writable (decide's rule 7,
 * src/cluster/repoint-rule.ts), within STANDBY_PROBE_MS plus the agent's period and the re-point,
 * losing no acknowledged write.
 */
import { rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STANDBY_PROBE_MS } from '../../src/agent/loop.js';
import { labPaths } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { assertBuilt, runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  jsonLines,
  logSince,
  logSize,
  printNodeLogTails,
  rootSession,
  testLab,
  waitForConverged,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2erp');
/** The agent's default period (src/agent/agent.ts): a probe is due at most this long after it may run. */
const AGENT_PERIOD_MS = 5_000;
/** The probe's wait, one tick, and the re-point itself (connect, CHANGE MASTER, START) on a loaded machine. */
const REPOINT_BOUND_MS = STANDBY_PROBE_MS + AGENT_PERIOD_MS + 15_000;

async function rows(node: 'ha1' | 'ha2', sql: string): Promise<Record<string, unknown>[]> {
  const session = await rootSession(lab, node);
  try {
    return await session.query(sql);
  } finally {
    await session.close();
  }
}

/** ha2's replica status: replicating from ha1's inside address with both threads running. */
async function ha2Replicates(): Promise<boolean> {
  const status = (await rows('ha2', 'SHOW SLAVE STATUS'))[0];
  return (
    status !== undefined &&
    String(status.Master_Host) === '192.0.2.11' &&
    status.Slave_IO_Running === 'Yes' &&
    status.Slave_SQL_Running === 'Yes'
  );
}

interface LogLine {
  event?: string;
  transition_id?: string;
  repoint?: string;
  result?: string;
  reason?: string;
  action?: string;
  node?: string;
}

/** JSON lines the pair's log (and ha2's agent output) gained since the offsets. */
function linesSince(offsets: Map<string, number>): LogLine[] {
  return [...offsets].flatMap(([path, from]) => jsonLines<LogLine>(logSince(path, from)));
}

describe.skipIf(missing)(
  titled('hactl lab --mode agent: a standby whose demotion gave up re-pointing', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    const shortSpec = join(lab.dir, 'repoint-short.yaml');
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') printNodeLogTails(lab);
      rmSync(shortSpec, { force: true });
      await lab.down();
    });

    it('is re-pointed by its agent once the peer is writable, within its bound, losing no write', async () => {
      await lab.up({ mode: 'agent', fast: true });
      const paths = labPaths(lab.dir);
      const ns = namespacesFor(lab.prefix);
      const database = labDatabase({ dir: lab.dir, netns: (node) => ns[node] });
      const acked: string[] = [];
      const write = async () => {
        const id = await database.clientInsert(ns.client, vipOf('inside'));
        if (id !== null) acked.push(id);
      };
      for (let i = 0; i < 10; i++) await write();
      expect(acked.length).toBeGreaterThan(0);

      // ha1 (the primary) held read-only; ha2 without any replica configuration, as a demoted
      // primary is. A demotion with a 2 s repoint_wait then gives up re-pointing.
      await rows('ha1', 'SET GLOBAL read_only = 1');
      await waitFor(
        'ha2 has the first writes',
        async () => {
          const n = await rows('ha2', `SELECT COUNT(*) AS n FROM app.probe WHERE id IN (${acked.join(',')})`);
          return Number(n[0]?.n) === acked.length;
        },
        { timeoutMs: 30_000, everyMs: 200 },
      );
      await rows('ha2', 'STOP SLAVE');
      await rows('ha2', 'RESET SLAVE ALL');
      const spec = readFileSync(paths.specPath, 'utf8');
      const short = spec.replace(/^(\s+)catch_up_timeout: 10$/m, '$1catch_up_timeout: 10\n$1repoint_wait: 2');
      expect(short, 'the lab spec names catch_up_timeout (where repoint_wait goes)').not.toBe(spec);
      writeFileSync(shortSpec, short);
      const logs = new Map([paths.log, join(paths.node.ha2.dir, 'agent.log')].map((p) => [p, logSize(p)]));
      const demoted = await runHactl(['notify', '--spec', shortSpec, '--node', 'ha2', '--force', 'backup'], {
        netns: ns.ha2,
        timeoutMs: 60_000,
      });
      expect(demoted.exitCode, demoted.stderr).toBe(0);
      expect(
        linesSince(logs).some(
          (l) => l.event === 'demote.repoint_skipped' && /still read-only after waiting/.test(l.reason ?? ''),
        ),
        'the demotion gave up re-pointing',
      ).toBe(true);
      expect(await ha2Replicates()).toBe(false);

      // The agent sees it and waits for a writable peer, saying why.
      await waitFor(
        "ha2's agent reports the standby not replicating, ha1 not writable",
        () =>
          linesSince(logs).some(
            (l) =>
              l.event === 'agent.tick' &&
              l.repoint === 'refused' &&
              /standby not replicating: it replicates from nobody; ha1 is read-only/.test(l.reason ?? ''),
          ),
        { timeoutMs: REPOINT_BOUND_MS, everyMs: 250 },
      );
      expect(await ha2Replicates()).toBe(false);
      // hactl status names the standby that does not replicate.
      const shown = await runHactl(['status', '--json', '--spec', paths.specPath, '--node', 'ha2'], {
        netns: ns.ha2,
        timeoutMs: 60_000,
      });
      expect(shown.exitCode).toBe(1);
      expect((JSON.parse(shown.stdout) as { problems: string[] }).problems).toContain(
        'ha2 is read-only but replicates from nobody: it has no standby role',
      );

      const writableAt = Date.now();
      await rows('ha1', 'SET GLOBAL read_only = 0');
      await waitFor('ha2 replicates from ha1 again', ha2Replicates, {
        timeoutMs: REPOINT_BOUND_MS,
        everyMs: 100,
      });
      const repointMs = Date.now() - writableAt;
      console.log(
        `agent re-pointed ha2 ${repointMs} ms after ha1 became writable (bound ${REPOINT_BOUND_MS} ms)`,
      );
      expect(repointMs).toBeLessThanOrEqual(REPOINT_BOUND_MS);

      // One transition id from the decision to the step that re-pointed (its line may follow the
      // replica's start by a moment).
      let decision: LogLine | undefined;
      await waitFor(
        "ha2's agent logged the re-point decision and its mysql.demote step under one transition id",
        () => {
          const seen = linesSince(logs);
          const steps = seen.filter(
            (l) =>
              l.event === 'agent.action' &&
              l.action === 'mysql.demote' &&
              l.result === 'ok' &&
              l.repoint === 'repointed',
          );
          decision = seen.find(
            (l) =>
              l.event === 'agent.tick' &&
              l.repoint === 'allowed' &&
              steps.some((s) => s.transition_id === l.transition_id),
          );
          return decision !== undefined;
        },
        { timeoutMs: 15_000, everyMs: 250 },
      );
      expect(decision?.reason).toMatch(/ha1 is writable and holds everything this node logged: re-pointing/);
      expect(decision?.transition_id).toMatch(/^ha2-/);

      for (let i = 0; i < 10; i++) await write();
      await waitForConverged(lab, 'ha1', 'ha2');
      await waitFor(
        'ha2 has every acknowledged write',
        async () => {
          const n = await rows('ha2', `SELECT COUNT(*) AS n FROM app.probe WHERE id IN (${acked.join(',')})`);
          return Number(n[0]?.n) === acked.length;
        },
        { timeoutMs: 30_000, everyMs: 200 },
      );
      const onPrimary = await rows('ha1', `SELECT id FROM app.probe WHERE id IN (${acked.join(',')})`);
      expect(onPrimary.length, 'acknowledged writes on the primary').toBe(acked.length);
      expect(acked.length).toBeGreaterThanOrEqual(15);
    });
  },
);
