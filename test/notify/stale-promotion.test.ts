/**
 * A node that cannot show it has every acknowledged write is never made writable, through the
 * built `hactl notify` against a real MariaDB pair in two namespaces: the returning old primary
 * that diverged (an errant transaction) is refused when the other node then fails — also after
 * its database and runtime dir are gone and back (the lineage lives in paths.state_dir) — and the
 * operator's explicit override promotes it, logged at error level. A replica whose replication was
 * stopped by hand is refused too.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { runHactl, type RunResult } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { addVip, removeVip } from './ns.js';
import { startNsPair, VIP, type NsPair } from './mysql-pair.js';

const missing = requirementsMissing({
  root: true,
  programs: ['ip', 'flock', 'mariadbd', 'mariadb-install-db'],
});
let pair: NsPair | undefined;
const open: MysqlSession[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  await pair?.stop();
  pair = undefined;
});

type Node = 'ha1' | 'ha2';

async function session(node: Node, who: 'admin' | 'app' = 'admin'): Promise<MysqlSession> {
  const db = pair!.db[node];
  const s = await db.session(who === 'admin' ? db.admin : db.app);
  open.push(s);
  return s;
}

async function scalar(node: Node, sql: string): Promise<string> {
  const row = (await (await session(node)).query(sql))[0] ?? {};
  return String(Object.values(row)[0]);
}

function notify(node: Node, words: string[]): Promise<RunResult> {
  return runHactl(['notify', '--spec', pair!.spec, '--node', node, ...words], {
    netns: pair!.ns[node],
    timeoutMs: 120_000,
  });
}

function logLines(): Record<string, unknown>[] {
  const text = existsSync(pair!.log) ? readFileSync(pair!.log, 'utf8') : '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function moveVip(to: Node): void {
  const from: Node = to === 'ha1' ? 'ha2' : 'ha1';
  removeVip(pair!.ns[from], VIP);
  addVip(pair!.ns[to], VIP);
}

/** Acknowledged inserts by the application account; returns the ids the server acknowledged. */
async function appWrites(node: Node, count: number, base: number): Promise<number[]> {
  const app = await session(node, 'app');
  const acked: number[] = [];
  for (let i = 0; i < count; i++) {
    await app.query('INSERT INTO app.t (v) VALUES (?)', [base + i]);
    acked.push(base + i);
  }
  return acked;
}

async function promoteFirst(node: Node): Promise<void> {
  moveVip(node);
  const result = await notify(node, ['master']);
  expect(result.exitCode, result.stderr + result.stdout).toBe(0);
  expect(await scalar(node, 'SELECT @@GLOBAL.read_only')).toBe('0');
}

// Each test restarts MariaDB servers and runs the CLI several times: sized for a loaded machine.
const TEST_TIMEOUT_MS = 240_000;

describe.skipIf(missing)(titled('hactl notify never promotes a stale database', missing), () => {
  it(
    'the returning old primary diverged; when the new primary fails it stays read-only until an operator overrides',
    async () => {
      pair = await startNsPair('s');
      await promoteFirst('ha1');
      await appWrites('ha1', 20, 1000);

      // Node loss of ha1; ha2 takes over and acknowledges writes ha1 never sees.
      await pair.db.ha1.stop({ kill: true });
      moveVip('ha2');
      const takeover = await notify('ha2', ['GROUP', 'db_vips', 'MASTER', '120']);
      expect(takeover.exitCode, takeover.stderr + takeover.stdout).toBe(0);
      const ackedOnHa2 = await appWrites('ha2', 50, 2000);

      // ha1 returns carrying a transaction nobody saw acknowledged (crash recovery committed it).
      await pair.db.ha1.start();
      const ha1 = await session('ha1');
      await ha1.query('INSERT INTO app.t (v) VALUES (666)');
      const errant = await scalar('ha1', 'SELECT @@GLOBAL.gtid_binlog_pos');
      const rejoin = await notify('ha1', ['GROUP', 'db_vips', 'BACKUP', '150']);
      expect(rejoin.exitCode).toBe(1);
      expect(rejoin.stderr).toMatch(/DIVERGED/);
      expect(await scalar('ha1', 'SELECT @@GLOBAL.read_only')).toBe('1');

      // Now ha2 is lost too, and keepalived makes ha1 MASTER. Its database has restarted and its
      // runtime dir (tmpfs on a real node) is gone: only the lineage in state_dir remembers.
      await pair.db.ha2.stop({ kill: true });
      await pair.db.ha1.stop();
      await pair.db.ha1.start();
      rmSync(join(pair.dir, 'run'), { recursive: true, force: true });
      moveVip('ha1');
      const refused = await notify('ha1', ['GROUP', 'db_vips', 'MASTER', '150']);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/MASTER aborted/);
      expect(refused.stderr).toContain(errant);
      expect(refused.stderr).toMatch(/--accept-stale/);
      expect(await scalar('ha1', 'SELECT @@GLOBAL.read_only')).toBe('1');
      const app = await session('ha1', 'app');
      await expect(app.query('INSERT INTO app.t (v) VALUES (7)')).rejects.toThrow(/read-only|READ.ONLY/i);
      // None of the writes ha2 acknowledged is on ha1: serving writes from it would have lost them.
      expect(Number(await scalar('ha1', 'SELECT COUNT(*) FROM app.t WHERE v >= 2000 AND v < 3000'))).toBe(0);
      expect(ackedOnHa2).toHaveLength(50);
      const refusal = logLines().find((l) => l.event === 'promote.refused_stale');
      expect(refusal).toMatchObject({ level: 'error', decision: 'stay read-only' });
      expect(String(refusal!.reason)).toMatch(/diverged from ha2/);
      expect(String(refusal!.way_out)).toMatch(/--accept-stale/);

      // The same event again is refused again (nothing was recorded as applied).
      expect((await notify('ha1', ['GROUP', 'db_vips', 'MASTER', '150'])).exitCode).toBe(1);
      expect(await scalar('ha1', 'SELECT @@GLOBAL.read_only')).toBe('1');

      // The operator accepts the loss explicitly.
      const forced = await notify('ha1', [
        '--force',
        '--accept-stale',
        'ha2 lost for good, ticket 4711',
        'master',
      ]);
      expect(forced.exitCode, forced.stderr + forced.stdout).toBe(0);
      expect(await scalar('ha1', 'SELECT @@GLOBAL.read_only')).toBe('0');
      const override = logLines().find((l) => l.event === 'promote.override');
      expect(override).toMatchObject({ level: 'error', decision: 'promote' });
      expect(String(override!.reason)).toMatch(/^operator override \(ha2 lost for good, ticket 4711\)/);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a replica whose replication was stopped by hand is not promoted when its primary dies',
    async () => {
      pair = await startNsPair('r');
      await promoteFirst('ha1');
      const ha2 = await session('ha2');
      await ha2.query('STOP SLAVE');
      const acked = await appWrites('ha1', 30, 5000);
      expect(acked).toHaveLength(30);
      await pair.db.ha1.stop({ kill: true });
      moveVip('ha2');
      const refused = await notify('ha2', ['GROUP', 'db_vips', 'MASTER', '120']);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toMatch(/replication from \S+ is stopped/);
      expect(await scalar('ha2', 'SELECT @@GLOBAL.read_only')).toBe('1');
      expect(Number(await scalar('ha2', 'SELECT COUNT(*) FROM app.t WHERE v >= 5000'))).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a healthy replica is promoted as before, and its lineage then names it primary',
    async () => {
      pair = await startNsPair('h');
      await promoteFirst('ha1');
      const acked = await appWrites('ha1', 30, 8000);
      // Wait (bounded) for ha2 to have applied them, so the kill cannot race replication.
      const target = await scalar('ha1', 'SELECT @@GLOBAL.gtid_binlog_pos');
      expect(
        await scalar('ha2', `SELECT MASTER_GTID_WAIT('${target}', 30)`),
        'ha2 applied the writes within 30 s',
      ).toBe('0');
      await pair.db.ha1.stop({ kill: true });
      moveVip('ha2');
      const promoted = await notify('ha2', ['GROUP', 'db_vips', 'MASTER', '120']);
      expect(promoted.exitCode, promoted.stderr + promoted.stdout).toBe(0);
      expect(Number(await scalar('ha2', 'SELECT COUNT(*) FROM app.t WHERE v >= 8000'))).toBe(acked.length);
      const lineage = JSON.parse(readFileSync(join(pair.dir, 'state', 'ha2.lineage.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(lineage).toMatchObject({ node: 'ha2', primary: 'ha2', following: false, diverged: [] });
    },
    TEST_TIMEOUT_MS,
  );
});
