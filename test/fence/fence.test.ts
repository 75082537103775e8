/**
 * The fence (src/fence/fence.ts) against a real MariaDB whose own demotion ends the fence's session
 * mid-way: the old primary, stepping down at the same moment, kills every client session — the
 * fence's fresh connection included. It answered, so it is alive: the fence tries the path once
 * more and finds it read-only, instead of reporting it "not fenced" (which made a promote-anyway
 * pair promote unfenced in the strict chaos run).
 */
import { describe, expect, it } from 'vitest';
import { fence } from '../../src/fence/fence.js';
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
  },
);
