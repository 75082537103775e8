/**
 * MySQL promotion and demotion through `hactl notify` (built CLI) against a real MariaDB pair in
 * two namespaces. The VIP is an address on the node's loopback; notify runs inside the node.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { waitFor } from '../../src/lab/processes.js';
import { runHactl, type RunResult } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { addVip, removeVip } from './ns.js';
import { startNsPair, VIP, watchArgv, type NsPair } from './mysql-pair.js';

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

async function session(node: 'ha1' | 'ha2', who: 'admin' | 'app' = 'admin'): Promise<MysqlSession> {
  const db = pair!.db[node];
  const s = await db.session(who === 'admin' ? db.admin : db.app);
  open.push(s);
  return s;
}

async function scalar(s: MysqlSession, sql: string): Promise<string> {
  const row = (await s.query(sql))[0] ?? {};
  return String(Object.values(row)[0]);
}

function notify(node: 'ha1' | 'ha2', words: string[]): Promise<RunResult> {
  return runHactl(['notify', '--spec', pair!.spec, '--node', node, ...words], {
    netns: pair!.ns[node],
    timeoutMs: 90_000,
  });
}

function logLines(): Record<string, unknown>[] {
  return logText()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function logText(): string {
  return existsSync(pair!.log) ? readFileSync(pair!.log, 'utf8') : '';
}

/** Nothing we ran may show a password: argv (sampled), stdout/stderr, the log file. */
function expectNoSecrets(texts: string[], leaks: string[]): void {
  expect(leaks).toEqual([]);
  for (const secret of pair!.secrets) {
    for (const text of [...texts, logText()]) expect(text.includes(secret), 'a password leaked').toBe(false);
  }
}

/**
 * Stalls ha2's SQL thread on app.t (a table lock it waits for, however fast the machine), commits
 * `rows` rows on ha1, waits until ha2 received them all, and proves the lag: all received, not applied.
 */
async function relayedButUnapplied(rows: number): Promise<MysqlSession> {
  const locker = await session('ha2');
  await locker.query('LOCK TABLES app.t WRITE');
  const primary = await session('ha1');
  for (let i = 0; i < rows; i++) await primary.query('INSERT INTO app.t (v) VALUES (?)', [i]);
  const target = await scalar(primary, 'SELECT @@GLOBAL.gtid_binlog_pos');
  const watcher = await session('ha2');
  await waitFor(
    `ha2 to receive up to ${target}`,
    async () => String((await watcher.query('SHOW SLAVE STATUS'))[0]?.Gtid_IO_Pos) === target,
    { timeoutMs: 60_000, everyMs: 100 },
  );
  expect(String(await scalar(watcher, 'SELECT @@GLOBAL.gtid_slave_pos'))).not.toBe(target);
  return locker;
}

/**
 * A fencing pair whose standby ha2 no longer replicates (as after a demotion that failed half-way)
 * while ha1 goes on writing: row 777 is on ha1 only. Returns ha1's session.
 */
async function standbyLeftBehind(tag: string): Promise<MysqlSession> {
  pair = await startNsPair(tag, 'fencing: { unreachable: promote-anyway, connect_timeout: 2 }\n');
  const standby = await session('ha2');
  await standby.query('STOP SLAVE');
  await standby.query('RESET SLAVE ALL');
  const primary = await session('ha1');
  await primary.query('INSERT INTO app.t (v) VALUES (777)');
  return primary;
}

/** Some session of `on` is running exactly `sql` (seen in the process list). */
async function running(on: MysqlSession, sql: string): Promise<boolean> {
  const rows = await on.query('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO = ?', [
    sql,
  ]);
  return Number(rows[0]?.n) > 0;
}

// Each test builds a pair (two mariadb-install-db runs) and runs notify processes: on a loaded
// 2-core machine that alone can take most of a minute.
describe.skipIf(missing)(
  titled('hactl notify with a real MariaDB pair', missing),
  { timeout: 240_000 },
  () => {
    it('promotion after events received but not applied loses none of them', async () => {
      pair = await startNsPair('p');
      const locker = await relayedButUnapplied(200);
      await pair.db.ha1.stop({ kill: true });
      removeVip(pair.ns.ha1, VIP);
      addVip(pair.ns.ha2, VIP);
      let finished = false;
      const promoting = watchArgv(pair.secrets, () =>
        notify('ha2', ['GROUP', 'db_vips', 'MASTER', '0']).finally(() => (finished = true)),
      );
      // Release the SQL thread only once the promotion has decided how to catch up (it must see the
      // gap and wait for it to close; asserted below).
      await waitFor(
        'the promotion to decide on catching up (or end)',
        () => finished || logLines().some((l) => l.event === 'promote.catch_up'),
        { timeoutMs: 60_000, everyMs: 100 },
      );
      await locker.query('UNLOCK TABLES');
      const { value: result, leaks } = await promoting;
      expect(
        logLines().find((l) => l.event === 'promote.catch_up'),
        'the promotion found received events not yet applied',
      ).toMatchObject({ decision: 'wait for the SQL thread' });
      expect(result.exitCode, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toMatch(/MASTER ok/);
      const s = await session('ha2');
      expect(await scalar(s, 'SELECT COUNT(*) FROM app.t')).toBe('201');
      expect(await scalar(s, 'SELECT @@GLOBAL.read_only')).toBe('0');
      expect(logText()).toMatch(/"event":"promote.caught_up"/);
      expectNoSecrets([result.stdout, result.stderr], leaks);
    });

    it('the naive sequence (STOP SLAVE; RESET SLAVE ALL; read_only=0) loses those rows', async () => {
      pair = await startNsPair('n');
      const locker = await relayedButUnapplied(200);
      await pair.db.ha1.stop({ kill: true });
      const s = await session('ha2');
      // STOP SLAVE waits for the stalled SQL thread; it stops after the transaction it is in. The
      // lock goes only once STOP SLAVE is really waiting, so the thread cannot apply everything first.
      let stopped = false;
      const stopping = s.query('STOP SLAVE', [], { timeoutMs: 60_000 }).finally(() => (stopped = true));
      const watcher = await session('ha2');
      await waitFor(
        'STOP SLAVE to be waiting for the SQL thread (or done)',
        async () => stopped || (await running(watcher, 'STOP SLAVE')),
        { timeoutMs: 30_000, everyMs: 50 },
      );
      await locker.query('UNLOCK TABLES');
      await stopping;
      await s.query('RESET SLAVE ALL');
      await s.query('SET GLOBAL read_only = 0');
      const count = Number(await scalar(s, 'SELECT COUNT(*) FROM app.t'));
      expect(count).toBeLessThan(201);
    });

    it('demotion ends an open transaction so it cannot commit, and re-points to the new primary', async () => {
      pair = await startNsPair('d');
      addVip(pair.ns.ha1, VIP);
      expect((await notify('ha1', ['master'])).exitCode).toBe(0);
      const app = await session('ha1', 'app');
      await app.query('BEGIN');
      await app.query('INSERT INTO app.t (v) VALUES (999)');

      removeVip(pair.ns.ha1, VIP);
      addVip(pair.ns.ha2, VIP);
      const { value: results, leaks } = await watchArgv(pair.secrets, async () => [
        await notify('ha2', ['INSTANCE', 'inside', 'MASTER', '120']),
        await notify('ha1', ['INSTANCE', 'inside', 'BACKUP', '150']),
      ]);
      for (const r of results) expect(r.exitCode, r.stderr + r.stdout).toBe(0);
      await expect(app.query('COMMIT')).rejects.toThrow();

      const s1 = await session('ha1');
      const s2 = await session('ha2');
      expect(await scalar(s1, 'SELECT @@GLOBAL.read_only')).toBe('1');
      expect(await scalar(s2, 'SELECT @@GLOBAL.read_only')).toBe('0');
      expect(await scalar(s1, 'SELECT COUNT(*) FROM app.t WHERE v = 999')).toBe('0');
      expect(await scalar(s2, 'SELECT COUNT(*) FROM app.t WHERE v = 999')).toBe('0');
      // ha1 now replicates from ha2.
      await s2.query('INSERT INTO app.t (v) VALUES (4242)');
      await waitFor(
        'ha1 to apply the row written on ha2',
        async () => (await scalar(s1, 'SELECT COUNT(*) FROM app.t WHERE v = 4242')) === '1',
        { timeoutMs: 60_000, everyMs: 100 },
      );
      const demoted = logLines().find((l) => l.event === 'notify.action' && l.action === 'mysql.demote');
      expect(demoted).toMatchObject({ result: 'ok', repoint: 'repointed', killed_sessions: 1 });
      expectNoSecrets(
        results.flatMap((r) => [r.stdout, r.stderr]),
        leaks,
      );
    });

    it('with fencing, a standby lacking what the fenced old primary logged catches up from it, then promotes', async () => {
      const primary = await standbyLeftBehind('f');
      const ahead = await scalar(primary, 'SELECT @@GLOBAL.gtid_binlog_pos');
      addVip(pair!.ns.ha2, VIP);
      const { value: result, leaks } = await watchArgv(pair!.secrets, () =>
        notify('ha2', ['INSTANCE', 'inside', 'MASTER', '120']),
      );
      expect(result.exitCode, result.stderr + result.stdout).toBe(0);
      const promoted = await session('ha2');
      expect(await scalar(promoted, 'SELECT @@GLOBAL.read_only')).toBe('0');
      expect(await scalar(promoted, 'SELECT COUNT(*) FROM app.t WHERE v = 777')).toBe('1');
      // One-way: the link used to catch up is gone once it is the primary.
      expect((await promoted.query('SHOW SLAVE STATUS')).length).toBe(0);
      // The fence made ha1 read-only, and it still holds the write.
      const old = await session('ha1');
      expect(await scalar(old, 'SELECT @@GLOBAL.read_only')).toBe('1');
      const caught = logLines().find((l) => l.event === 'promote.caught_up_from_old_primary');
      expect(caught, 'the promotion caught up from the fenced old primary').toBeDefined();
      expect(String((caught!.was_missing as string[]).join(' '))).toContain(ahead);
      expect(logLines().some((l) => l.event === 'promote.refused')).toBe(false);
      expectNoSecrets([result.stdout, result.stderr], leaks);
    });

    it('with fencing, a standby that cannot catch up from the old primary (it refuses the replication account) is not promoted: read-only both, the missing GTIDs and the reason named', async () => {
      const primary = await standbyLeftBehind('g');
      // The old primary no longer knows the replication account: it cannot serve the write.
      const accounts = await primary.query(
        "SELECT user AS u, host AS h FROM mysql.user WHERE user LIKE 'hactl_rep%'",
      );
      expect(accounts.length).toBeGreaterThan(0);
      for (const a of accounts) await primary.query('DROP USER ?@?', [String(a.u), String(a.h)]);
      // Read after the DROP USERs, which are logged too.
      const ahead = await scalar(primary, 'SELECT @@GLOBAL.gtid_binlog_pos');
      addVip(pair!.ns.ha2, VIP);
      const result = await notify('ha2', ['INSTANCE', 'inside', 'MASTER', '120']);
      expect(result.exitCode, result.stderr + result.stdout + logText()).not.toBe(0);
      expect(await scalar(await session('ha2'), 'SELECT @@GLOBAL.read_only')).toBe('1');
      const old = await session('ha1');
      expect(await scalar(old, 'SELECT @@GLOBAL.read_only')).toBe('1');
      expect(await scalar(old, 'SELECT COUNT(*) FROM app.t WHERE v = 777')).toBe('1');
      const refused = logLines().find((l) => l.event === 'promote.refused');
      expect(String(refused?.reason)).toContain('fenced old primary ha1');
      expect(String((refused?.missing as string[] | undefined)?.join(' '))).toContain(ahead);
      expect(String(refused?.catch_up)).toMatch(/replication from ha1 stopped with error \d+/);
    });

    it('a rebuild that stopped half-way (its marker): demotion stays read-only, does not re-point, exits 1 and names the command that resumes it', async () => {
      pair = await startNsPair('h');
      const standby = await session('ha2');
      await standby.query('STOP SLAVE');
      await standby.query('RESET SLAVE ALL');
      const marker = `${pair.dir}/state/ha2.rebuild-in-progress.json`;
      mkdirSync(dirname(marker), { recursive: true });
      writeFileSync(
        marker,
        JSON.stringify({
          discarded: ['0-2-7'],
          savedBinlogDir: '/saved',
          peer: 'ha1',
          at: '2026-11-30T20:00:00Z',
        }),
      );
      const held = await notify('ha2', ['INSTANCE', 'inside', 'BACKUP', '120']);
      expect(held.exitCode, held.stderr + held.stdout).not.toBe(0);
      // The demotion ended every client session, this test's too.
      const after = await session('ha2');
      expect(await scalar(after, 'SELECT @@GLOBAL.read_only')).toBe('1');
      expect(await after.query('SHOW SLAVE STATUS')).toEqual([]);
      const skipped = logLines().find((l) => l.event === 'demote.repoint_skipped');
      expect(String(skipped?.reason)).toContain('hactl rebuild --discard 0-2-7');

      // The marker gone (the rebuild finished), the same event re-points.
      rmSync(marker);
      const repointed = await notify('ha2', ['INSTANCE', 'inside', 'BACKUP', '120']);
      expect(repointed.exitCode, repointed.stderr + repointed.stdout).toBe(0);
      expect((await (await session('ha2')).query('SHOW SLAVE STATUS')).length).toBe(1);
    });

    it('an errant transaction on the standby: demotion refuses to re-point, stays read-only, exits 1 and logs the GTIDs', async () => {
      pair = await startNsPair('e');
      const standby = await session('ha2');
      // The admin account bypasses read_only: a write a human made on the standby by hand.
      await standby.query('INSERT INTO app.t (v) VALUES (666)');
      const errant = await scalar(standby, 'SELECT @@GLOBAL.gtid_binlog_pos');
      expect(errant).toMatch(/^0-2-\d+$/);

      const { value: result, leaks } = await watchArgv(pair.secrets, () =>
        notify('ha2', ['INSTANCE', 'inside', 'BACKUP', '120']),
      );
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/DIVERGED/);
      expect(result.stderr).toContain(errant);
      // Demotion ended every client session, ours included.
      expect(await scalar(await session('ha2'), 'SELECT @@GLOBAL.read_only')).toBe('1');
      const lines = logLines();
      const step = lines.find((l) => l.event === 'notify.action' && l.action === 'mysql.demote')!;
      expect(step).toMatchObject({ result: 'failed', diverged: true, needs_human: true });
      expect(step.extra_gtids).toEqual([errant]);
      expect(lines.find((l) => l.event === 'notify.summary')).toMatchObject({
        result: 'diverged',
        exit_code: 1,
      });
      expectNoSecrets([result.stdout, result.stderr], leaks);
    });
  },
);
