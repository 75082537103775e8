/**
 * `hactl status` against the real lab pair (keepalived, MariaDB, nginx in namespaces), run the way
 * an operator or monitoring would, inside a node's namespace: normal (exit 0), standby lagging with
 * its SQL thread held (exit 1, "lagging"), issue 8's stale standby (a lineage that says diverged:
 * exit 1, the refusal and the way out), and failed over after node loss (exit 1, no standby).
 * One lab for the file, in that order: the node loss comes last.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFail } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf, type LabNode } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { lineagePath } from '../../src/cluster/lineage.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { parseExposition } from '../status/exposition.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  rootSession,
  statusFrom,
  statusRun,
  statusUntil,
  testLab,
  waitForConverged,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2est');

/** Root on a node's own socket (no network): how the test holds and releases the SQL thread. */
async function rootQuery(node: LabNode, sql: string): Promise<void> {
  const session = await rootSession(lab, node);
  try {
    await session.query(sql);
  } finally {
    await session.close();
  }
}

describe.skipIf(missing)(
  titled('hactl status on the lab pair', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(async () => {
      assertBuilt();
      await lab.up();
    }, LAB_TEST_TIMEOUT_MS);
    afterAll(async () => {
      await lab.down();
    }, LAB_TEST_TIMEOUT_MS);

    it('normal: exit 0 from either node; ha1 primary with both VIPs, ha2 replicating; Prometheus text parses', async () => {
      // `up` returned converged; a just-converged replica may still report a moment of lag.
      const last = await statusUntil(
        lab,
        'ha2',
        'status healthy from ha2',
        ({ run }) => run.exitCode === 0,
        60_000,
      );
      const fromHa2 = last.report;
      expect(fromHa2).toMatchObject({
        verdict: 'healthy',
        problems: [],
        observed_from: 'ha2',
        cluster: 'lab',
      });
      // ha2 holds no VIP: the MySQL answering through each VIP says it is ha1's.
      expect(fromHa2.vips.map((v) => [v.name, v.held_by, v.source])).toEqual([
        ['inside', ['ha1'], 'probe'],
        ['outside', ['ha1'], 'probe'],
      ]);
      const [self, peer] = fromHa2.nodes;
      expect(self).toMatchObject({ name: 'ha2', self: true, source: 'local', vips_held: [] });
      expect(self!.database).toMatchObject({
        reachable: true,
        role: 'replica',
        read_only: true,
        server_id: 2,
      });
      expect(self!.database).toMatchObject({
        replication: { source: '192.0.2.11:3306', io_running: 'yes', sql_running: true, last_sql_errno: 0 },
      });
      expect(self!.promotion).toMatchObject({ allowed: true, hypothetical: true });
      expect(peer).toMatchObject({ name: 'ha1', self: false, source: 'probe', vips_held: null });
      expect(peer!.database).toMatchObject({
        reachable: true,
        role: 'primary',
        read_only: false,
        server_id: 1,
      });

      const fromHa1 = await statusFrom(lab, 'ha1');
      expect(fromHa1.run.exitCode, fromHa1.run.stdout).toBe(0);
      expect(fromHa1.report.vips.map((v) => [v.held_by, v.source])).toEqual([
        [['ha1'], 'local'],
        [['ha1'], 'local'],
      ]);
      expect(fromHa1.report.nodes[0]!.promotion).toMatchObject({ allowed: true, hypothetical: false });

      const prom = await statusRun(lab, 'ha1', '--prometheus');
      expect(prom.exitCode).toBe(0);
      const samples = parseExposition(prom.stdout);
      const one = (name: string, node?: string) =>
        samples
          .filter((s) => s.name === name && (node === undefined || s.labels.name === node))
          .map((s) => s.value);
      expect(one('hactl_pair_healthy')).toEqual([1]);
      expect(one('hactl_primary', 'ha1')).toEqual([1]);
      expect(one('hactl_replica', 'ha2')).toEqual([1]);
      expect(one('hactl_mysql_slave_status_slave_sql_running', 'ha2')).toEqual([1]);

      const table = await statusRun(lab, 'ha1');
      expect(table.exitCode).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^cluster lab, seen from ha1 at .*: HEALTHY$/);
      // No secret in any output: the lab's passwords are in its option files.
      const { credentialsFile } = labDatabase({ dir: lab.dir, netns: () => '' }).credentials();
      const password = /password="([^"]+)"/.exec(await readFile(credentialsFile, 'utf8'))![1]!;
      for (const out of [last.run.stdout, fromHa1.run.stdout, prom.stdout, table.stdout])
        expect(out).not.toContain(password);
    });

    it("standby lagging: ha2's SQL thread held while ha1 takes a write: exit 1, 'lagging' and the stopped thread", async () => {
      await rootQuery('ha2', 'STOP SLAVE SQL_THREAD');
      try {
        const database = labDatabase({ dir: lab.dir, netns: () => '' });
        expect(await database.clientWrite(namespacesFor(lab.prefix).client, vipOf('inside'))).toBe('ha1');
        for (const from of ['ha1', 'ha2'] as const) {
          const { run, report } = await statusFrom(lab, from);
          expect(run.exitCode, run.stdout).toBe(1);
          expect(report.verdict).toBe('degraded');
          expect(report.problems).toContain("ha2's replication is stopped: SQL thread not running");
          expect(
            report.problems.some((p) =>
              /^ha2 is lagging: it has applied .* while ha1 is at 0-1-\d+$/.test(p),
            ),
            report.problems.join('\n'),
          ).toBe(true);
          const ha2 = report.nodes.find((n) => n.name === 'ha2')!;
          expect(ha2.database).toMatchObject({
            replication: { sql_running: false, io_running: 'yes', lag_seconds: null },
          });
        }
      } finally {
        await rootQuery('ha2', 'START SLAVE SQL_THREAD');
      }
      await waitFor(
        'status healthy again once ha2 applied the write',
        async () => (await statusRun(lab, 'ha2')).exitCode === 0,
        {
          timeoutMs: 60_000,
          everyMs: 500,
        },
      );
    });

    it('issue 8: a standby whose lineage says it diverged: exit 1, the refusal with its reason and the way out', async () => {
      const path = lineagePath(join(lab.dir, 'state'), 'ha2');
      const before = await readFile(path, 'utf8').catch(() => undefined);
      await writeFile(
        path,
        JSON.stringify({
          node: 'ha2',
          primary: 'ha1',
          primaryPosition: '0-1-1',
          following: false,
          diverged: ['0-2-999'],
          reason: 'written by the status e2e test',
          at: new Date().toISOString(),
        }),
      );
      try {
        const { run, report } = await statusFrom(lab, 'ha2');
        expect(run.exitCode, run.stdout).toBe(1);
        const ha2 = report.nodes[0]!;
        expect(ha2.lineage).toMatchObject({ primary: 'ha1', diverged: ['0-2-999'] });
        expect(ha2.promotion).toMatchObject({ allowed: false, hypothetical: true });
        expect(ha2.promotion!.reason).toMatch(/it diverged from ha1 .*holds 0-2-999/);
        expect(report.problems).toHaveLength(1);
        expect(report.problems[0]).toMatch(/^ha2 could not take over: its promotion would be refused: /);
        expect(report.problems[0]).toContain('`hactl notify master --force --accept-stale "<reason>"`');
        const table = await statusRun(lab, 'ha2');
        expect(table.exitCode).toBe(1);
        expect(table.stdout).toMatch(/if it took the VIPs now, promotion would be REFUSED: .*diverged/);
        expect(table.stdout).toMatch(/way out: .*--accept-stale/);
      } finally {
        if (before === undefined) await rm(path, { force: true });
        else await writeFile(path, before);
      }
    });

    it('failed over after node loss of ha1: seen from ha2, exit 1 because there is no standby', async () => {
      await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'kill' });
      await waitForConverged(lab, 'ha2', null);
      const { run, report } = await statusFrom(lab, 'ha2');
      expect(run.exitCode, run.stdout).toBe(1);
      // ha1's links are down: connecting to its MySQL hangs, and the 5 s budget (default --timeout) ends it.
      expect(report.duration_ms).toBeLessThan(6_500);
      console.info(
        `status after node loss: exit ${run.exitCode}, collection ${report.duration_ms} ms, run ${Math.round(run.durationMs)} ms`,
      );
      expect(report.vips.map((v) => [v.held_by, v.source])).toEqual([
        [['ha2'], 'local'],
        [['ha2'], 'local'],
      ]);
      expect(report.nodes[0]!.database).toMatchObject({ reachable: true, role: 'primary', read_only: false });
      expect(report.nodes[1]!.database).toMatchObject({ reachable: false, address: '192.0.2.11:3306' });
      expect(report.problems).toContain('no standby: only ha2 answers, nothing can take over if it fails');
      expect(
        report.problems.some((p) => p.startsWith("ha1's database cannot be reached at 192.0.2.11:3306")),
      ).toBe(true);
    });
  },
);
