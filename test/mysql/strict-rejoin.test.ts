/**
 * The agent's strict rejoin (src/cluster/rejoin-run.ts) against two real MariaDB servers under
 * strict semi-sync (127.0.0.2 = ha1, the old primary; 127.0.0.3 = ha2): ha1's insert waits for an
 * ACK that never comes (ha2's IO thread is stopped), ha1 is demoted (the wait is ended, MariaDB
 * commits it anyway: no client got an OK), ha2 is promoted, and ha1's re-point finds it diverged.
 * The rejoin refuses while ha1's settings would not have been strict (nothing changes), and then
 * rebuilds ha1 from ha2: it replicates from ha2 and acknowledges its commits, the unacknowledged
 * row and GTID are gone, and the binlog holding them is saved. Run through the lab lock.
 */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { writeLineage } from '../../src/cluster/lineage.js';
import type { MariadbServer } from '../../src/lab/mariadb.js';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { demote } from '../../src/mysql/demote.js';
import { promote } from '../../src/mysql/promote.js';
import { describeExtra, extraTransactions, parseGtidList } from '../../src/mysql/gtid.js';
import { markerPath } from '../../src/mysql/rebuild.js';
import { one, statusValue, until } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  commitAwaitingAck,
  recordDivergence,
  rejoin,
  startStrictPair,
  STRICT,
  type StrictPair,
} from '../support/strict-pair.js';

const missing = requirementsMissing({
  root: true,
  programs: ['mariadbd', 'mariadb-install-db', 'mariadb-dump', 'mariadb'],
});

describe.skipIf(missing)(
  titled('strict semi-sync: the agent rejoins a diverged old primary', missing),
  () => {
    let pair: StrictPair;
    let stateDir: string;
    let a: MariadbServer;
    let b: MariadbServer;
    let sa: MysqlSession;
    let sb: MysqlSession;
    let unacknowledged: string;
    const steps: string[] = [];
    const stepLog = (event: string, fields: Record<string, unknown>) =>
      void steps.push(`${event} ${JSON.stringify(fields)}`);

    beforeAll(async () => {
      pair = await startStrictPair('strict-rejoin', stepLog);
      ({ stateDir, a, b, sa, sb } = pair);
      await sa.query('CREATE TABLE app.t (id INT PRIMARY KEY, v INT)');
      await sa.query('INSERT INTO app.t VALUES (1, 1)');
      await until(
        'row 1 on b',
        async () => (await one(sb, 'SELECT COUNT(*) FROM app.t').catch(() => '')) === '1',
      );

      // The commit that never gets its ACK: b stops receiving.
      await sb.query('STOP SLAVE IO_THREAD');
      const { told } = await commitAwaitingAck(pair, a, sa, 'INSERT INTO app.t VALUES (2, 2)');
      // The demotion ends the wait (issue 12): MariaDB commits the row, its client is told nothing.
      await demote(sa, {
        topology: 'one-way',
        semiSync: 'strict',
        log: stepLog,
        openSession: () => a.session(),
      });
      expect(await told).toMatch(/^not acknowledged/);
      expect(await one(sa, 'SELECT COUNT(*) FROM app.t WHERE id = 2')).toBe('1');
      unacknowledged = await one(sa, 'SELECT @@GLOBAL.gtid_binlog_pos');
      expect(unacknowledged).toMatch(/^0-1-\d+$/);

      await promote(sb, { ...STRICT, semiSync: 'strict', log: stepLog });
      // ha1's re-point finds the divergence and records it, as the mysql.demote action does.
      expect(await recordDivergence(pair, 'ha1', sa, stepLog)).toEqual([unacknowledged]);
    }, 180_000);

    afterAll(async () => {
      await pair?.stop();
    });

    const rejoinHa1 = () => rejoin(pair, 'ha1');

    it("MariaDB 10.11's counters cannot tell an async fallback from the demotion (the rule does not judge them)", async () => {
      const status = async (name: string) =>
        String((await sa.query('SHOW GLOBAL STATUS LIKE ?', [name]))[0]?.Value ?? 'not shown');
      expect(await status('Rpl_semi_sync_master_wait_timeouts')).toBe('not shown');
      // No timeout happened, yet both count: the demotion's switch-off, and the ACK wait it killed.
      expect(Number(await status('Rpl_semi_sync_master_no_times'))).toBeGreaterThan(0);
      expect(Number(await status('Rpl_semi_sync_master_no_tx'))).toBeGreaterThan(0);
    });

    it("refuses, changing nothing, while this server's settings would not have been strict", async () => {
      await sa.query("SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_COMMIT'");
      try {
        const outcome = await rejoinHa1();
        expect(outcome.result).toBe('refused');
        expect(outcome.reason).toMatch(
          /settings were not strict: rpl_semi_sync_master_wait_point is AFTER_COMMIT/,
        );
        expect(await one(sa, 'SELECT @@GLOBAL.gtid_binlog_pos')).toBe(unacknowledged);
        expect(readdirSync(stateDir).filter((f) => f.startsWith('discarded-'))).toEqual([]);
      } finally {
        await sa.query("SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'");
      }
    }, 60_000);

    it('rebuilds: replicating from the new primary and acknowledging it, the unacknowledged GTID gone, its binlog saved', async () => {
      onTestFailed(() => console.log(steps.join('\n')));
      // While ha1 is out, ha2's strict commits wait for an ACK (in production the application keeps
      // writing): the copy must not include this one, and the rejoined ha1 must acknowledge it.
      const pending = await b.session(b.app, 120_000);
      pair.keep(pending);
      const pendingCommit = pending.query('INSERT INTO app.t VALUES (4, 4)').then(
        () => 'acknowledged',
        (e: unknown) => `failed: ${(e as Error).message}`,
      );
      await until(
        "ha2's insert waits for an ACK",
        async () =>
          (
            await sb.query(
              "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for semi-sync ACK%'",
            )
          ).length === 1,
      );
      const outcome = await rejoinHa1();
      expect(outcome, JSON.stringify(outcome)).toMatchObject({
        result: 'rebuilt',
        discarded: [unacknowledged],
      });
      if (outcome.result !== 'rebuilt') return;
      expect(existsSync(markerPath(stateDir, 'ha1'))).toBe(false);
      expect(readdirSync(outcome.savedBinlogDir)).toContain('DISCARDED.txt');
      expect(readdirSync(outcome.savedBinlogDir).some((f) => /\.\d{6}$/.test(f))).toBe(true);

      const again = await a.session();
      pair.keep(again);
      expect(await one(again, 'SELECT COUNT(*) FROM app.t WHERE id = 2')).toBe('0');
      expect(await one(again, 'SELECT @@GLOBAL.read_only')).toBe('1');
      const state = await one(again, 'SELECT @@GLOBAL.gtid_binlog_state');
      expect(state.split(',')).not.toContain(unacknowledged);
      // The commit that waited through the rebuild is acknowledged by the rejoined ha1.
      const acknowledged = await Promise.race([
        pendingCommit,
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 20 s'), 20_000)),
      ]);
      expect(acknowledged).toBe('acknowledged');
      expect(await one(again, 'SELECT COUNT(*) FROM app.t WHERE id = 4')).toBe('1');
      // ha2's strict commits now wait for ha1's ACK and get it.
      const writer = await b.session(b.app, 30_000);
      pair.keep(writer);
      await writer.query('INSERT INTO app.t VALUES (3, 3)');
      await until(
        'row 3 on the rejoined ha1',
        async () => (await one(again, 'SELECT COUNT(*) FROM app.t WHERE id = 3')) === '1',
      );
      const status = (await again.query('SHOW SLAVE STATUS'))[0] ?? {};
      expect(status.Master_Host).toBe('127.0.0.3');
      expect(status.Slave_IO_Running).toBe('Yes');
      expect(await statusValue(sb, 'Rpl_semi_sync_master_yes_tx')).not.toBe('0');
      // The pair's history came with the copy: a failover the other way finds nothing "extra" on ha2.
      const history = async (x: MysqlSession) =>
        parseGtidList(await one(x, 'SELECT @@GLOBAL.gtid_binlog_state'));
      expect(extraTransactions(await history(sb), await history(again)).map(describeExtra)).toEqual([]);
    }, 180_000);

    it('never discards a transaction another server wrote: refused, nothing changed', async () => {
      // A write here under another server_id (and its own domain, for gtid_strict_mode), as a
      // third server replicating into this one, or a human, would leave it.
      const again = await a.session();
      pair.keep(again);
      await again.query('STOP SLAVE');
      await again.query('SET SESSION server_id = 7');
      await again.query('SET SESSION gtid_domain_id = 9');
      await again.query('INSERT INTO app.t VALUES (70, 7)');
      const before = await one(again, 'SELECT @@GLOBAL.gtid_binlog_state');
      expect(before).toContain('9-7-');
      const foreign = before.split(',').find((g) => g.startsWith('9-7-'))!;
      await writeLineage(stateDir, {
        node: 'ha1',
        primary: 'ha2',
        primaryPosition: await one(sb, 'SELECT @@GLOBAL.gtid_binlog_pos'),
        following: false,
        diverged: [foreign],
        reason: 'diverged from ha2, the writable primary: not re-pointed',
        at: new Date().toISOString(),
      });
      const outcome = await rejoinHa1();
      expect(outcome.result).toBe('refused');
      expect(outcome.reason).toContain(
        `${foreign} was written by another server than this one (server_id 1)`,
      );
      expect(await one(again, 'SELECT @@GLOBAL.gtid_binlog_state')).toBe(before);
      expect(await one(again, 'SELECT COUNT(*) FROM app.t WHERE id = 70')).toBe('1');
    }, 60_000);
  },
);
