/**
 * The chaos runner's end-of-repetition read of a node's writer table, against a real MariaDB whose
 * client sessions are ended the way a demotion (or a fence) ends them (src/mysql/client-sessions.ts:
 * every client session but replication and system threads, the runner's root session included). A
 * diverged old primary's agent retries its demotion at every keepalived event and on a timer, so
 * the runner can be killed mid-read; the read must then be tried again, and the failure reported,
 * never taken for an empty table ("acknowledged, on neither node").
 *
 * The read is made to wait on a table lock so that the kill lands on it deterministically.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepEvidence } from '../../bench/chaos/evidence.js';
import { idCounts, readIdCounts } from '../../bench/chaos/faults.js';
import { initMariadb, type MariadbServer } from '../../src/lab/mariadb.js';
import { endClientSessions } from '../../src/mysql/client-sessions.js';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { freePort } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

let dir = '';
let server: MariadbServer | undefined;
let admin: MysqlSession | undefined;
let locker: MysqlSession | undefined;

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < timeoutMs / 25 + 1; i++) {
    if (await probe()) return;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

describe.skipIf(missing)(
  titled('chaos: the end-of-repetition read of a node whose sessions are killed', missing),
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hactl-chaos-read-'));
      // The lab's layout: <lab dir>/<node>/mariadb/mariadb.sock is what the runner reads through.
      server = await initMariadb({
        dir: join(dir, 'ha1', 'mariadb'),
        port: await freePort(),
        serverId: 1,
        readOnly: false,
      });
      admin = await server.session();
      await admin.query('CREATE DATABASE IF NOT EXISTS app');
      await admin.query(
        'CREATE TABLE app.chaos (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, server_id INT NOT NULL, KEY (id))',
      );
      await admin.query('INSERT INTO app.chaos (id, server_id) VALUES (101, 1), (102, 1), (103, 1)');
      locker = await server.session();
    }, 120_000);
    afterAll(async () => {
      await locker?.close().catch(() => undefined);
      await admin?.close().catch(() => undefined);
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a read killed by a demotion’s session kill is reported and tried again, and then finds every id', async () => {
      const lockerId = Number((await locker!.query('SELECT CONNECTION_ID() AS id'))[0]?.id);
      await locker!.query('LOCK TABLES app.chaos WRITE');
      const reading = idCounts(() => readIdCounts(dir, 'ha1', 101, 103));
      const waitingRead = async () =>
        Number(
          (
            await admin!.query(
              "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE LIKE '%metadata lock%' AND INFO LIKE '%app.chaos%'",
            )
          )[0]?.n,
        ) > 0;
      await waitFor('the runner’s read waiting on the table lock', waitingRead, 10_000);
      // What demote does to every client session (the runner's root session is one).
      const killed = await endClientSessions(admin!, { keep: new Set([lockerId]), passes: 1, waitMs: 2_000 });
      expect(killed.length).toBeGreaterThan(0);
      await locker!.query('UNLOCK TABLES');
      const result = await reading;
      expect(result.failedReads).toHaveLength(1);
      expect(result.error).toBeNull();
      expect([...(result.counts ?? new Map()).keys()].sort()).toEqual([101, 102, 103]);
    }, 60_000);

    it('keeps the evidence of an id it cannot find: GTID state, the binlog events of its GTID, its rows, the logs', async () => {
      await admin!.query('INSERT INTO app.chaos (id, server_id) VALUES (104, 1)');
      const [row] = await admin!.query('SELECT @@last_gtid AS g, LAST_INSERT_ID() AS seq');
      const gtid = String(row?.g);
      writeFileSync(join(dir, 'hactl.log'), 'before\n{"event":"demote.killed_sessions"}\n');
      const suspect = {
        id: 104,
        sentAt: 1_000,
        ackAt: 1_010,
        serverId: 1,
        gtid,
        connectionId: 3,
        seq: Number(row?.seq),
        affectedRows: 1,
      };
      const file = await keepEvidence({
        prefix: 'vntest',
        dir,
        fault: 'node-loss',
        from: 'ha1',
        to: 'ha2',
        injectedAt: 900,
        firstId: 101,
        lastId: 104,
        unreadable: ['ha2: connect ENOENT'],
        suspects: [suspect],
        acks: [suspect],
        failures: [{ t: 1_500, code: '2013' }],
        logOffset: 'before\n'.length,
      });
      expect(file).not.toBeNull();
      try {
        const kept = JSON.parse(readFileSync(file!, 'utf8')) as {
          nodes: Record<string, Record<string, unknown>>;
          failuresNear: unknown[];
          logs: Record<string, string | null>;
        };
        const ha1 = kept.nodes.ha1!;
        expect((ha1.globals as Record<string, unknown>[])[0]?.gtid_binlog_pos).toBe(gtid);
        expect(JSON.stringify(ha1.suspectBinlog)).toContain(`GTID ${gtid}`);
        expect(JSON.stringify(ha1.suspectRows)).toContain('"id":104');
        expect(kept.nodes.ha2).toHaveProperty('error');
        expect(kept.failuresNear).toHaveLength(1);
        expect(readFileSync(kept.logs.hactlLog!, 'utf8')).toBe('{"event":"demote.killed_sessions"}\n');
        expect(kept.logs.ha1MariadbLog).not.toBeNull();
      } finally {
        const kept = JSON.parse(readFileSync(file!, 'utf8')) as { logs: Record<string, string | null> };
        for (const f of [file!, ...Object.values(kept.logs)]) if (f) rmSync(f, { force: true });
      }
    }, 60_000);
  },
);
