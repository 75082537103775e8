/** Demotion and re-pointing against a real MariaDB pair. */
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { DivergedError, demote, type DemoteOptions } from '../../src/mysql/demote.js';
import { promote } from '../../src/mysql/promote.js';
import { argvLeaks, createReplicatedTable, startPair, until, type Pair } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

describe.skipIf(missing)(titled('demote against real MariaDB', missing), () => {
  const pairs: Pair[] = [];
  const sessions: MysqlSession[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close().catch(() => undefined);
    for (const p of pairs.splice(0)) await p.stop();
  });
  const events: Array<Record<string, unknown>> = [];
  const log: DemoteOptions['log'] = (event, fields) => events.push({ event, ...fields });

  async function pairWithTable(): Promise<{ pair: Pair; primary: MysqlSession; replica: MysqlSession }> {
    const pair = await startPair();
    pairs.push(pair);
    await createReplicatedTable(pair);
    const primary = await pair.primary.session();
    const replica = await pair.replica.session();
    sessions.push(primary, replica);
    return { pair, primary, replica };
  }

  it('an open transaction cannot commit once demote() returned (also one that bypasses read_only)', async () => {
    const { pair, primary } = await pairWithTable();
    const app = await pair.primary.session(pair.primary.app);
    const admin = await pair.primary.session(pair.primary.admin);
    sessions.push(app, admin);
    await app.query('BEGIN');
    await app.query('INSERT INTO app.t (v) VALUES (1)');
    await admin.query('BEGIN');
    await admin.query('INSERT INTO app.t (v) VALUES (2)');
    const report = await demote(primary, { topology: 'one-way', log });
    expect(report.killedSessions.length).toBeGreaterThanOrEqual(2);
    expect(report.repoint.result).toBe('skipped');
    await expect(app.query('COMMIT')).rejects.toThrow();
    await expect(admin.query('COMMIT')).rejects.toThrow();
    expect(Number((await primary.query('SELECT COUNT(*) AS n FROM app.t'))[0]?.n)).toBe(0);
    expect(Number((await primary.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    // New application sessions are refused writes by read_only.
    const fresh = await pair.primary.session(pair.primary.app);
    sessions.push(fresh);
    await expect(fresh.query('INSERT INTO app.t (v) VALUES (3)')).rejects.toThrow(/read-only|1290/);
    expect(report.gtidPosition).toBe(
      String((await primary.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p),
    );
  });

  it('switchover: promote the replica, demote the old primary onto it; idempotent on repeat', async () => {
    const { pair, primary, replica } = await pairWithTable();
    await primary.query('INSERT INTO app.t (v) VALUES (1)');
    // Demote first (read-only, no peer yet), then promote the drained replica, then re-point.
    await demote(primary, { topology: 'one-way', log });
    await promote(replica, {
      topology: 'one-way',
      catchUpTimeoutSec: 10,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'off',
      log,
    });
    const started = Date.now();
    const report = await demote(primary, {
      topology: 'one-way',
      peer: { host: pair.replica.host, port: pair.replica.port },
      replication: { user: pair.replica.replication.user, password: pair.replica.replication.password },
      log,
    });
    console.log(`demote + re-point onto the new primary: ${Date.now() - started} ms`);
    expect(report.repoint.result).toBe('repointed');
    expect(report.replication).toMatchObject({ io: 'yes', sql: true, caughtUp: true });
    await replica.query('INSERT INTO app.t (v) VALUES (2)');
    await until(
      'new primary write on the old primary',
      async () => Number((await primary.query('SELECT COUNT(*) AS n FROM app.t'))[0]?.n) === 2,
    );
    const again = await demote(primary, {
      topology: 'one-way',
      peer: { host: pair.replica.host, port: pair.replica.port },
      replication: { user: pair.replica.replication.user, password: pair.replica.replication.password },
      log,
    });
    expect(again.repoint.result).toBe('already-replicating');
    expect(JSON.stringify(events)).not.toContain(pair.replica.replication.password);
    expect(argvLeaks(pair.secrets)).toEqual([]);
  });

  it('waits (bounded) for a peer that becomes primary a moment later, then re-points onto it', async () => {
    // The race seen in the lab: the old primary's BACKUP event runs before the new primary's promotion.
    const { pair, primary, replica } = await pairWithTable();
    await primary.query('INSERT INTO app.t (v) VALUES (1)');
    await demote(primary, { topology: 'one-way', log });
    const peer = { host: pair.replica.host, port: pair.replica.port };
    const replication = { user: pair.replica.replication.user, password: pair.replica.replication.password };
    // The peer is promoted only once demote() says it is waiting for it: the race is forced, not timed.
    let peerWaitedFor!: () => void;
    const waiting = new Promise<void>((resolve) => (peerWaitedFor = resolve));
    const order: string[] = [];
    const watch: DemoteOptions['log'] = (event, fields) => {
      order.push(event);
      if (event === 'demote.waiting_for_primary') peerWaitedFor();
      log(event, fields);
    };
    const promoting = waiting.then(async () => {
      order.push('peer promoted');
      await promote(replica, {
        topology: 'one-way',
        catchUpTimeoutSec: 10,
        onCatchUpTimeout: 'stay-read-only',
        semiSync: 'off',
        log,
      });
      order.push('peer writable');
    });
    const report = await demote(primary, {
      topology: 'one-way',
      peer,
      replication,
      log: watch,
      waitForPrimary: { timeoutSec: 15, keepWaiting: () => true },
    });
    const waited = order.includes('demote.waiting_for_primary');
    peerWaitedFor(); // had it not waited, let the promotion run anyway so the test ends cleanly
    await promoting;
    expect(waited).toBe(true);
    expect(report.repoint.result).toBe('repointed');
    // It waited, the peer was promoted, and only then did it re-point onto it.
    expect(order.indexOf('demote.waiting_for_primary')).toBeLessThan(order.indexOf('peer promoted'));
    expect(order.indexOf('peer promoted')).toBeLessThan(order.indexOf('demote.change_source'));
  });

  it('gives up waiting at once when keepWaiting() turns false, and at the deadline otherwise', async () => {
    const { pair, primary, replica } = await pairWithTable();
    await demote(primary, { topology: 'one-way', log });
    const peer = { host: pair.replica.host, port: pair.replica.port };
    const replication = { user: pair.replica.replication.user, password: pair.replica.replication.password };
    let started = Date.now();
    const stopped = await demote(primary, {
      topology: 'one-way',
      peer,
      replication,
      log,
      waitForPrimary: { timeoutSec: 30, keepWaiting: () => Date.now() - started < 500 },
    });
    expect(stopped.repoint.result).toBe('skipped');
    expect(Date.now() - started).toBeLessThan(5000);
    started = Date.now();
    const timedOut = await demote(primary, {
      topology: 'one-way',
      peer,
      replication,
      log,
      waitForPrimary: { timeoutSec: 1, keepWaiting: () => true },
    });
    expect(timedOut.repoint.reason).toMatch(/still read-only after waiting/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(8000);
    void replica;
  });

  it('does not re-point when the peer is read-only too (keepalived sends BACKUP to both at start-up)', async () => {
    const { pair, replica, primary } = await pairWithTable();
    await primary.query('SET GLOBAL read_only = 1');
    const report = await demote(replica, {
      topology: 'one-way',
      peer: { host: pair.primary.host, port: pair.primary.port },
      replication: { user: pair.primary.replication.user, password: pair.primary.replication.password },
      log,
    });
    expect(report.repoint).toMatchObject({ result: 'skipped' });
    expect(report.repoint.reason).toMatch(/peer is read-only/);
  });

  it('an unreachable peer leaves the node read-only without re-pointing', async () => {
    const { pair, primary } = await pairWithTable();
    const report = await demote(primary, {
      topology: 'one-way',
      peer: { host: '127.0.0.1', port: 1 },
      replication: { user: pair.replica.replication.user, password: pair.replica.replication.password },
      log,
      connectTimeoutSec: 2,
    });
    expect(report.repoint.result).toBe('skipped');
    expect(report.repoint.reason).toMatch(/unreachable.*refused/);
    expect(report.repoint.reason).not.toContain(pair.replica.replication.password);
  });

  it('an errant transaction on the standby: DivergedError with the exact GTIDs, stays read-only', async () => {
    const { pair, primary, replica } = await pairWithTable();
    await primary.query('INSERT INTO app.t (v) VALUES (1)');
    await until(
      'replicated',
      async () => Number((await replica.query('SELECT COUNT(*) AS n FROM app.t'))[0]?.n) === 1,
    );
    // The admin account bypasses read_only (READ_ONLY ADMIN), as root does in the seeds' set-ups.
    await replica.query('INSERT INTO app.t (v) VALUES (99)');
    await replica.query('INSERT INTO app.t (v) VALUES (100)');
    const errant = String((await replica.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    const error = await demote(replica, {
      topology: 'one-way',
      peer: { host: pair.primary.host, port: pair.primary.port },
      replication: { user: pair.primary.replication.user, password: pair.primary.replication.password },
      log,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergedError);
    const diverged = error as DivergedError;
    console.log(`diverged: ${diverged.message}`);
    expect(errant).toMatch(/^0-2-\d+$/);
    const seq = Number(errant.split('-')[2]);
    expect(diverged.extraGtids).toEqual([`0-2-${seq - 1}`, `0-2-${seq}`]);
    expect(diverged.message).toContain(errant);
    expect(diverged.message).toMatch(/rebuild this node/);
    expect(diverged.message).toMatch(/`hactl rebuild --discard <the extra GTIDs above>` on this node/);
    // A domain error: it names itself and carries no exit code (the command layer maps it).
    expect(diverged.name).toBe('DivergedError');
    expect(diverged).not.toHaveProperty('exitCode');
    for (const secret of pair.secrets) expect(diverged.message).not.toContain(secret);
    expect(Number((await replica.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
  });

  it('an old primary holding a write the new primary never received cannot rejoin (the 1950 case)', async () => {
    const { pair, primary, replica } = await pairWithTable();
    await primary.query('INSERT INTO app.t (v) VALUES (1)');
    await until(
      'replicated',
      async () => Number((await replica.query('SELECT COUNT(*) AS n FROM app.t'))[0]?.n) === 1,
    );
    // The last write never leaves the old primary (like one InnoDB crash recovery commits).
    await replica.query('STOP SLAVE IO_THREAD');
    await primary.query('INSERT INTO app.t (v) VALUES (2)');
    const lost = String((await primary.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    await promote(replica, {
      topology: 'one-way',
      catchUpTimeoutSec: 5,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'off',
      log,
    });
    await replica.query('INSERT INTO app.t (v) VALUES (3)');
    const error = await demote(primary, {
      topology: 'one-way',
      peer: { host: pair.replica.host, port: pair.replica.port },
      replication: { user: pair.replica.replication.user, password: pair.replica.replication.password },
      log,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DivergedError);
    expect((error as DivergedError).extraGtids).toEqual([lost]);
    expect(Number((await primary.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    expect((await primary.query('SHOW SLAVE STATUS')).length).toBe(0);
  });
});
