/**
 * The fence (src/fence/fence.ts) against a real MariaDB whose own demotion ends the fence's session
 * mid-way: the old primary, stepping down at the same moment, kills every client session — the
 * fence's fresh connection included. It answered, so it is alive: the fence tries the path once
 * more and finds it read-only, instead of reporting it "not fenced" (which made a promote-anyway
 * pair promote unfenced in the strict chaos run).
 *
 * And against an old primary whose read_only waits behind a table lock or a long statement that
 * nobody ends: the fence ends them itself once read_only has waited a third of its budget, where
 * it used to report the path "reached, not read-only" (which keeps the promotion waiting for as
 * long as the lock is held).
 */
import { describe, expect, it } from 'vitest';
import { fence } from '../../src/fence/fence.js';
import { detectFlavour } from '../../src/mysql/flavour.js';
import { setReadOnlyEndingBlockers } from '../../src/mysql/read-only-blockers.js';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { until } from '../support/mariadb-pair.js';
import { oneMariadb, type OneMariadb } from '../support/one-mariadb.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

let db: OneMariadb;

/** The session(s) waiting in SET GLOBAL read_only, as the old primary's processlist shows them. */
async function pendingReadOnly(admin: MysqlSession): Promise<number[]> {
  const rows = await admin.query(
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SET GLOBAL read_only%' AND ID <> CONNECTION_ID()",
  );
  return rows.map((r) => Number(r.id));
}

/**
 * Holds the fence's SET GLOBAL read_only behind a LOCK TABLES … WRITE, ends the fence's session
 * as a demotion's kill pass would, `times` times, then ends the lock holder as that pass does.
 */
async function fenceAgainstADemotion(times: number) {
  const lines: { event: string; fields: Record<string, unknown> }[] = [];
  // The fence ends every client session it finds, so each run looks through sessions of its own.
  const admin = await db.server.session();
  const holder = await db.server.session(db.server.app);
  await admin.query('SET GLOBAL read_only = OFF');
  await holder.query('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY)');
  await holder.query('LOCK TABLES app.t WRITE');
  const fencing = fence([{ node: 'old', network: 'inside', host: db.server.host, port: db.server.port }], {
    credentialsFile: db.server.admin.defaultsFile,
    connectTimeoutMs: 2_000,
    queryTimeoutMs: 10_000,
    // Here the demotion, not the fence, ends the lock holder (the case below is the fence's own).
    endBlockersAfterMs: 10_000,
    log: (event, fields) => void lines.push({ event, fields }),
  });
  const killed: number[] = [];
  try {
    for (let i = 0; i < times; i++) {
      let ids: number[] = [];
      await until(
        `the fence's try ${i + 1} waits for read_only behind the lock`,
        async () => (ids = (await pendingReadOnly(admin)).filter((id) => !killed.includes(id))).length > 0,
      );
      for (const id of ids) await admin.query(`KILL CONNECTION ${id}`);
      killed.push(...ids);
    }
  } finally {
    // The demotion ends the lock holder too; the fence's own read_only then goes through.
    await holder.close().catch(() => undefined);
  }
  const report = await fencing;
  await admin.close().catch(() => undefined);
  return { report, lines, killed };
}

describe.skipIf(missing)(
  titled('the fence, when the old primary ends its session (real MariaDB)', missing),
  () => {
    db = oneMariadb('fence');

    it('tries the path once more and reports it fenced', async () => {
      const { report, lines, killed } = await fenceAgainstADemotion(1);
      expect(killed).toHaveLength(1);
      expect(report.fenced, JSON.stringify(report.notFenced)).toEqual([
        `inside ${db.server.host}:${db.server.port}`,
      ]);
      expect(lines.map((l) => l.event)).toContain('fence.path_retried');
      const after = await db.server.session();
      expect(await after.query('SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: 1 }]);
      await after.close();
    }, 60_000);

    it('tries only once: a second close is reported as not fenced', async () => {
      const { report, lines, killed } = await fenceAgainstADemotion(2);
      expect(killed).toHaveLength(2);
      expect(report.fenced).toEqual([]);
      expect(report.notFenced).toHaveLength(1);
      expect(report.notFenced[0]!.why).toMatch(/killed|closed/i);
      expect(lines.filter((l) => l.event === 'fence.path_retried')).toHaveLength(1);
    }, 60_000);

    it('ends a LOCK TABLES holder that keeps read_only waiting, and reports the path fenced', async () => {
      const admin = await db.server.session();
      const holder = await db.server.session(db.server.app);
      const lines: { event: string; fields: Record<string, unknown> }[] = [];
      try {
        await admin.query('SET GLOBAL read_only = OFF');
        await holder.query('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY)');
        await holder.query('LOCK TABLES app.t WRITE');
        const report = await fence(
          [{ node: 'old', network: 'inside', host: db.server.host, port: db.server.port }],
          {
            credentialsFile: db.server.admin.defaultsFile,
            connectTimeoutMs: 2_000,
            queryTimeoutMs: 3_000,
            log: (event, fields) => void lines.push({ event, fields }),
          },
        );
        expect(report.fenced, JSON.stringify({ notFenced: report.notFenced, lines })).toEqual([
          `inside ${db.server.host}:${db.server.port}`,
        ]);
        // Every idle client session is ended with it (the fence ends them all once read-only anyway).
        const ended = lines.find((l) => l.event === 'fence.ended_read_only_blockers');
        expect(ended?.fields.sessions, JSON.stringify(lines)).toContainEqual(
          expect.objectContaining({ id: holder.threadId, user: db.server.app.user }),
        );
        await expect(holder.query('SELECT 1')).rejects.toThrow();
        const after = await db.server.session();
        expect(await after.query('SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: 1 }]);
        await after.close();
      } finally {
        await holder.close().catch(() => undefined);
        await admin.close().catch(() => undefined);
      }
    }, 60_000);

    it('ends a statement that keeps read_only waiting (a demotion or a self-fence), not the one waiting for the lock', async () => {
      const admin = await db.server.session();
      const slow = await db.server.session(db.server.app, 60_000);
      const stepping = await db.server.session();
      try {
        await admin.query('SET GLOBAL read_only = OFF');
        await slow.query('CREATE TABLE IF NOT EXISTS app.u (id INT PRIMARY KEY, v INT)');
        await slow.query('REPLACE INTO app.u VALUES (1, 0)');
        const running = slow.query('UPDATE app.u SET v = v + SLEEP(30) WHERE id = 1').catch((e: Error) => e);
        await until(
          'the UPDATE is running',
          async () =>
            (
              await admin.query(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE app.u%'",
              )
            ).length > 0,
        );
        // Another session waits for the global read lock too (a second demotion): it must be spared.
        const other = await db.server.session();
        const otherReadOnly = other.query('SET GLOBAL read_only = ON').catch((e: Error) => e);
        await until('the other read_only is pending', async () => (await pendingReadOnly(admin)).length > 0);
        const started = performance.now();
        const report = await setReadOnlyEndingBlockers(stepping, await detectFlavour(stepping), {
          openSecond: () => db.server.session(),
          timeoutMs: 3_000,
          ackWaits: false,
        });
        const ms = performance.now() - started;
        // The idle admin session goes too; the other read_only, waiting for the lock itself, stays.
        const ended = report.endedBlockers.map((k) => k.id);
        expect(ended).toContain(slow.threadId);
        expect(ended).not.toContain(other.threadId);
        expect(ms).toBeGreaterThanOrEqual(900);
        expect(ms).toBeLessThan(3_000);
        expect(await running).toBeInstanceOf(Error);
        expect(await otherReadOnly).not.toBeInstanceOf(Error);
        await other.close();
        expect(await stepping.query('SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: 1 }]);
      } finally {
        for (const s of [slow, stepping, admin]) await s.close().catch(() => undefined);
      }
    }, 60_000);
  },
);
