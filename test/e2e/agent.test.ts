/**
 * The pair on the agent (issue 10): keepalived feeds on track files and a notify FIFO, one
 * `hactl agent` per node runs the checks in-process and the transitions. Real keepalived, MariaDB
 * and nginx in the lab, fast profile (VRRPv3, 0.1 s adverts). Each test builds and removes its lab,
 * except that the SIGKILL case hands its converged pair on to the SIGSTOP case.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { holderOfBoth, labFail, labHeal, labPaths, labStatus } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { FAILBACK_COOLDOWN_MS } from '../../src/cluster/failback-gate.js';
import { connectWith } from '../../src/mysql/connection.js';
import { assertBuilt, runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  expectHolderStays,
  testLab,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2eag');

/**
 * after-catch-up: how much of the failback cooldown is left when ha1's agent starts (the heal, a
 * convergence and holding the SQL thread must fit in it: ~8 s in CI, 25 s seen at load 12), and
 * how long past its end the test watches the gate stay shut (a 1 s gate tick plus a preemption,
 * with room for load; with the lag check broken, ha1 took the VIPs back inside it).
 */
const COOLDOWN_LEFT_MS = 40_000;
const PAST_COOLDOWN_MS = 10_000;

/** ms from `since` until both VIPs sit on `node` alone (polled, bounded by `timeoutMs`). */
async function msUntilHolder(node: 'ha1' | 'ha2', since: number, timeoutMs: number): Promise<number> {
  await waitFor(`both VIPs on ${node}`, async () => (await holderOfBoth(lab.prefix)) === node, {
    timeoutMs,
    everyMs: 20,
  });
  return Date.now() - since;
}

async function rootQuery(node: 'ha1' | 'ha2', sql: string): Promise<string> {
  const socket = join(labPaths(lab.dir).node[node].dbDir, 'mariadb.sock');
  const session = await connectWith({ user: 'root', socket }, { timeoutMs: 5_000 });
  try {
    const row = (await session.query(sql))[0] ?? {};
    return String(Object.values(row)[0]);
  } finally {
    await session.close();
  }
}

async function status(
  node: 'ha1' | 'ha2',
): Promise<{ exitCode: number; report: { verdict: string; problems: string[] } }> {
  const result = await runHactl(['status', '--json', '--spec', labPaths(lab.dir).specPath, '--node', node], {
    netns: namespacesFor(lab.prefix)[node],
    timeoutMs: 60_000,
  });
  return {
    exitCode: result.exitCode,
    report: JSON.parse(result.stdout) as { verdict: string; problems: string[] },
  };
}

describe.skipIf(missing)(
  titled('hactl lab --mode agent: the pair on the agent', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterAll(() => lab.downForGood());
    afterEach(async (context) => {
      // A failure in agent mode is explained by the agents' and keepalived's own logs: print their
      // tails before the lab (and its directory) goes.
      if (context.task.result?.state === 'fail') {
        for (const node of ['ha1', 'ha2'] as const) {
          const dir = labPaths(lab.dir).node[node].dir;
          for (const file of ['agent.log', 'keepalived.log']) {
            const path = join(dir, file);
            const tail = existsSync(path)
              ? readFileSync(path, 'utf8').split('\n').slice(-60).join('\n')
              : '(none)';
            console.log(`--- ${node} ${file} (tail) ---\n${tail}`);
          }
        }
        await lab.downForGood();
      } else {
        await lab.down();
      }
    });

    it('converges on the agent; nginx stopped on the MASTER with a 250 ms check: both VIPs move within 1.5 s', async () => {
      await lab.up({ mode: 'agent', fast: true });
      const up = await labStatus(lab);
      expect(up.nodes.map((n) => n.agent)).toEqual(['running', 'running']);
      expect(up.pair).toEqual({ primary: 'ha1', replica: 'ha2', problems: [] });
      expect((await status('ha1')).exitCode).toBe(0);

      const injectedAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'nginx' });
      const movedMs = await msUntilHolder('ha2', injectedAt, 30_000);
      console.log(`agent mode: nginx stopped on ha1 -> both VIPs on ha2 in ${movedMs} ms`);
      expect(movedMs).toBeLessThanOrEqual(1_500);
      await waitForConverged(lab, 'ha2', null);
    });

    // SIGKILL: the sentinel sees the heartbeat pipe close at once. SIGSTOP: it sees no heartbeat
    // for heartbeat_timeout (2 s in the lab spec). Then FAULT and a 0.1 s-advert election.
    it.each([
      ['SIGKILL', 'agent-kill', 3_000],
      ['SIGSTOP', 'agent-stop', 4_500],
    ] as const)(
      'agent %s on the MASTER: the pair fails over within its bound, the old primary is read-only, status names the agent; healed, it rejoins without moving the VIPs',
      async (signal, how, boundMs) => {
        // The SIGSTOP case may get the pair the SIGKILL case left (converged on ha2, ha1 its
        // replica) and fail the other way round: what is claimed does not depend on the direction.
        const { primary: from, replica: to } = await lab.up(
          { mode: 'agent', fast: true },
          { eitherWay: true },
        );
        const injectedAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: from, how });
        const movedMs = await msUntilHolder(to, injectedAt, 30_000);
        console.log(`agent mode: agent ${signal} on ${from} -> both VIPs on ${to} in ${movedMs} ms`);
        expect(movedMs).toBeLessThanOrEqual(boundMs);
        await waitForConverged(lab, to, null);
        // keepalived's FAULT demotes the old primary through notify although its agent cannot act.
        await waitFor(
          `${from} read-only`,
          // The demotion ends client sessions, this probe's too (EPIPE): that is "not yet", not a failure.
          async () => (await rootQuery(from, 'SELECT @@GLOBAL.read_only').catch(() => '')) === '1',
          { timeoutMs: 30_000, everyMs: 250 },
        );
        const shown = await status(from);
        expect(shown.exitCode).toBe(1);
        expect(shown.report.problems).toContain(
          `${from}'s agent: the agent is down or frozen (its liveness file reads 1): keepalived keeps this node in FAULT`,
        );

        await labHeal({ prefix: lab.prefix, dir: lab.dir, node: from });
        await waitForConverged(lab, to, from);
        await expectHolderStays(lab.prefix, to, 5_000);
        expect((await status(to)).exitCode).toBe(0);
        lab.handOn(to);
      },
    );

    it('after-catch-up: ha1 returns lagging and takes the VIPs back only once caught up, losing no acknowledged write', async () => {
      await lab.up({ mode: 'agent', fast: true, failback: 'after-catch-up' });
      const database = labDatabase({ dir: lab.dir, netns: (node) => namespacesFor(lab.prefix)[node] });
      const client = namespacesFor(lab.prefix).client;
      const vip = vipOf('inside');
      await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'kill' });
      await waitForConverged(lab, 'ha2', null);
      const acked: string[] = [];
      const write = async () => {
        const id = await database.clientInsert(client, vip);
        if (id !== null) acked.push(id);
      };
      for (let i = 0; i < 20; i++) await write();

      // A failback earlier (as if ha1 had handed back FAILBACK_COOLDOWN_MS - COOLDOWN_LEFT_MS ago): the
      // persisted cooldown keeps ha1's gate shut across the agent's restart for COOLDOWN_LEFT_MS more,
      // which gives the test time to hold its SQL thread; the rest of the 60 s need not be waited out.
      const openedAt = Date.now() - FAILBACK_COOLDOWN_MS + COOLDOWN_LEFT_MS;
      const cooldownEndsAt = openedAt + FAILBACK_COOLDOWN_MS;
      const state = join(lab.dir, 'state');
      mkdirSync(state, { recursive: true });
      writeFileSync(
        join(state, 'ha1.failback.json'),
        JSON.stringify({ node: 'ha1', openedAt: new Date(openedAt).toISOString() }),
      );
      await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
      await waitForConverged(lab, 'ha2', 'ha1');
      await rootQuery('ha1', 'STOP SLAVE SQL_THREAD');
      expect(
        cooldownEndsAt - Date.now(),
        "ha1's SQL thread is held while the cooldown still shuts the gate (else raise COOLDOWN_LEFT_MS)",
      ).toBeGreaterThan(0);
      console.log(
        `after-catch-up: SQL thread held ${cooldownEndsAt - Date.now()} ms before the cooldown ended`,
      );
      for (let i = 0; i < 20; i++) await write();
      // Past the cooldown (by more than a gate tick plus a preemption) the gate is still shut: ha1
      // has not applied what it received.
      await expectHolderStays(lab.prefix, 'ha2', Math.max(0, cooldownEndsAt - Date.now()) + PAST_COOLDOWN_MS);

      await rootQuery('ha1', 'START SLAVE SQL_THREAD');
      await waitForHolder(lab.prefix, 'ha1', 60_000);
      await waitForConverged(lab, 'ha1', 'ha2');
      for (let i = 0; i < 5; i++) await write();
      const present = new Set(
        (
          await rootQuery('ha1', `SELECT GROUP_CONCAT(id) FROM app.probe WHERE id IN (${acked.join(',')})`)
        ).split(','),
      );
      expect(
        acked.filter((id) => !present.has(id)),
        'acknowledged writes missing on the new primary',
      ).toEqual([]);
    });
  },
);
