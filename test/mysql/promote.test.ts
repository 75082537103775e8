/**
 * Promotion against a real MariaDB pair. The key scenario: events received by the replica but not
 * applied (SQL thread stalled on a table lock) when the primary dies. Drain-first keeps them; the
 * seeds' naive STOP SLAVE; RESET SLAVE ALL; read_only=0 loses them. Both stay tests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { CatchUpTimeout, promote, PromotionAbandoned, type PromoteOptions } from '../../src/mysql/promote.js';
import { argvLeaks, startPair, until, type Pair } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });
const ROWS = 200;

interface Stalled {
  pair: Pair;
  /** Rows committed on the old primary (all acknowledged, all in the replica's relay log). */
  committed: number;
  replica: MysqlSession;
  /** Releases the table lock that stalls the replica's SQL thread. */
  release(): Promise<void>;
}

type Logged = { event: string } & Record<string, unknown>;

/** Collects promote()'s step log; `when` settles once a step matching `match` has been logged. */
function collect(): {
  log: PromoteOptions['log'];
  events: Logged[];
  when(match: (step: Logged) => boolean): Promise<void>;
} {
  const events: Logged[] = [];
  const waiters: { match: (step: Logged) => boolean; resolve: () => void }[] = [];
  return {
    events,
    log: (event, fields) => {
      const step = { event, ...fields };
      events.push(step);
      for (const waiter of waiters) if (waiter.match(step)) waiter.resolve();
    },
    when: (match) =>
      new Promise<void>((resolve) => {
        if (events.some(match)) resolve();
        else waiters.push({ match, resolve });
      }),
  };
}

/** promote() found received-but-unapplied events and now waits for the SQL thread. */
const waitingForSqlThread = (step: Logged) =>
  step.event === 'promote.catch_up' && step.decision === 'wait for the SQL thread';

async function count(session: MysqlSession): Promise<number> {
  return Number((await session.query('SELECT COUNT(*) AS n FROM app.t'))[0]?.n);
}

/** Primary commits ROWS rows while the replica's SQL thread waits on a lock; then the primary dies. */
async function stalledReplica(pairs: Pair[]): Promise<Stalled> {
  const pair = await startPair();
  pairs.push(pair);
  const primary = await pair.primary.session();
  const replica = await pair.replica.session();
  const holder = await pair.replica.session();
  await primary.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)');
  await primary.query('INSERT INTO app.t (v) VALUES (0)');
  await until(
    'table on the replica',
    async () =>
      (await replica.query("SHOW TABLES FROM app LIKE 't'")).length === 1 && (await count(replica)) === 1,
  );
  await holder.query('LOCK TABLES app.t WRITE');
  for (let i = 1; i <= ROWS; i++) await primary.query('INSERT INTO app.t (v) VALUES (?)', [i]);
  const sent = String((await primary.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
  await until(
    'all events in the relay log',
    async () => (await replica.query('SHOW SLAVE STATUS'))[0]?.Gtid_IO_Pos === sent,
  );
  await primary.close();
  await pair.primary.stop({ kill: true });
  // The table is locked, so count nothing here: the applied position shows the SQL thread is stuck.
  const applied = String((await replica.query('SELECT @@GLOBAL.gtid_slave_pos AS p'))[0]?.p);
  expect(applied).not.toBe(sent);
  return {
    pair,
    committed: ROWS + 1,
    replica,
    release: async () => {
      await holder.query('UNLOCK TABLES');
      await holder.close();
    },
  };
}

describe.skipIf(missing)(titled('promote against real MariaDB', missing), () => {
  const pairs: Pair[] = [];
  const sessions: MysqlSession[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close().catch(() => undefined);
    for (const p of pairs.splice(0)) await p.stop();
  });

  it('drain-first: every row that reached the relay log is present after promote()', async () => {
    const s = await stalledReplica(pairs);
    sessions.push(s.replica);
    const { log, events, when } = collect();
    // The lock goes only once promote() has decided about catching up (it must have decided to
    // wait): a release before that would let the replica catch up on its own and prove nothing.
    const release = when((step) => step.event === 'promote.catch_up').then(() => s.release());
    const started = Date.now();
    const report = await promote(s.replica, {
      topology: 'one-way',
      catchUpTimeoutSec: 30,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'off',
      log,
    });
    expect(events.some(waitingForSqlThread)).toBe(true);
    await release;
    const present = await count(s.replica);
    console.log(
      `drain-first: ${present} of ${s.committed} committed rows present, ${s.committed - present} lost; promote took ${Date.now() - started} ms (catch-up wait ${report.catchUp.waitedMs} ms)`,
    );
    expect(present).toBe(s.committed);
    expect(report.outcome).toBe('promoted');
    expect(report.catchUp.result).toBe('caught-up');
    expect(report.actions).toEqual([
      'stop-io-thread',
      'stop-replication',
      'reset-replication-all',
      'read-only-off',
    ]);
    expect(report.semiSync.replicaActive).toBe(false);
    expect(report.semiSync.verdict).toMatch(/not active/);
    const ro = (await s.replica.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro;
    expect(Number(ro)).toBe(0);
    expect((await s.replica.query('SHOW SLAVE STATUS')).length).toBe(0);
    expect(events.map((e) => e.event)).toContain('promote.caught_up');
    expect(JSON.stringify(events)).not.toMatch(
      new RegExp(s.pair.secrets.map((x) => x.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')).join('|')),
    );

    // Idempotent: a second promotion changes nothing.
    const again = await promote(s.replica, {
      topology: 'one-way',
      catchUpTimeoutSec: 5,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'off',
      log,
    });
    expect(again.outcome).toBe('already-primary');
    expect(again.actions).toEqual([]);
  });

  it('the naive seed sequence (STOP SLAVE; RESET SLAVE ALL; read_only=0) loses the same rows', async () => {
    const s = await stalledReplica(pairs);
    sessions.push(s.replica);
    const started = Date.now();
    // STOP SLAVE waits for the SQL thread, stuck on the lock: release it once STOP SLAVE is in.
    const stopping = s.replica.query('STOP SLAVE', [], { timeoutMs: 30_000 });
    const watcher = await s.pair.replica.session();
    sessions.push(watcher);
    await until(
      'STOP SLAVE to be waiting',
      async () =>
        (await watcher.query("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'STOP SLAVE%'"))
          .length > 0,
    );
    await s.release();
    await stopping;
    await s.replica.query('RESET SLAVE ALL');
    await s.replica.query('SET GLOBAL read_only = 0');
    const took = Date.now() - started;
    // No replication is left that could still apply anything: what is missing now stays missing.
    expect(await s.replica.query('SHOW SLAVE STATUS')).toEqual([]);
    const present = await count(s.replica);
    console.log(
      `naive sequence: ${present} of ${s.committed} committed rows present, ${s.committed - present} lost (took ${took} ms)`,
    );
    expect(present).toBeLessThan(s.committed);
    expect(s.committed - present).toBe(ROWS);
  });

  it('catch-up timeout with stay-read-only refuses, stays read-only, keeps the relay log; a retry then promotes', async () => {
    const s = await stalledReplica(pairs);
    sessions.push(s.replica);
    const { log, events } = collect();
    const options: PromoteOptions = {
      topology: 'one-way',
      catchUpTimeoutSec: 1,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'expected',
      log,
    };
    const error = await promote(s.replica, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CatchUpTimeout);
    expect((error as CatchUpTimeout).reason).toBe('timeout');
    expect((error as Error).message).toMatch(/stays read-only/);
    expect(Number((await s.replica.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe(1);
    expect(events.find((e) => e.event === 'promote.semi_sync')?.level).toBe('warn');
    await s.release();
    const report = await promote(s.replica, { ...options, catchUpTimeoutSec: 30 });
    expect(report.outcome).toBe('promoted');
    expect(await count(s.replica)).toBe(s.committed);
  });

  it('promote-anyway promotes after the timeout and says loudly what it abandoned', async () => {
    const s = await stalledReplica(pairs);
    sessions.push(s.replica);
    const { log, events, when } = collect();
    // STOP SLAVE waits for the stalled SQL thread: the lock goes once promote() gave up waiting.
    const release = when((step) => step.event === 'promote.catch_up_abandoned').then(() => s.release());
    const report = await promote(s.replica, {
      topology: 'one-way',
      catchUpTimeoutSec: 0.5,
      onCatchUpTimeout: 'promote-anyway',
      semiSync: 'off',
      log,
    });
    await release;
    expect(report.outcome).toBe('promoted-without-catch-up');
    expect(report.catchUp.result).toBe('timeout');
    const abandoned = events.find((e) => e.event === 'promote.catch_up_abandoned');
    expect(abandoned?.level).toBe('error');
    expect(String(abandoned?.reason)).toMatch(/LOST/);
  });

  it('dual-master keeps the link and only flips read_only; caught-up promotion is fast', async () => {
    const pair = await startPair();
    pairs.push(pair);
    const replica = await pair.replica.session();
    sessions.push(replica);
    const { log } = collect();
    const report = await promote(replica, {
      topology: 'dual-master',
      catchUpTimeoutSec: 5,
      onCatchUpTimeout: 'stay-read-only',
      semiSync: 'off',
      log,
    });
    console.log(`caught-up dual-master promotion: ${report.durationMs} ms`);
    expect(report.actions).toEqual(['read-only-off']);
    expect(report.durationMs).toBeLessThan(1000);
    const row = (await replica.query('SHOW SLAVE STATUS'))[0];
    expect(row?.Slave_IO_Running).toBe('Yes');
    expect(argvLeaks(pair.secrets)).toEqual([]);
  });

  it('abandons, read-only, when its premise is gone (chaos round 17: 0.51 s of two writable)', async () => {
    const pair = await startPair();
    pairs.push(pair);
    const replica = await pair.replica.session();
    sessions.push(replica);
    const readOnly = async () => String((await replica.query('SELECT @@GLOBAL.read_only AS ro'))[0]?.ro);
    const options = (stillWanted: () => string | undefined, log: PromoteOptions['log']) =>
      ({
        topology: 'one-way',
        catchUpTimeoutSec: 5,
        onCatchUpTimeout: 'stay-read-only',
        semiSync: 'off',
        stillWanted,
        log,
      }) as const;
    // Gone after the drain: nothing was changed, the server is still the replica it was.
    const early = collect();
    await expect(
      promote(
        replica,
        options(() => 'the VIPs moved', early.log),
      ),
    ).rejects.toBeInstanceOf(PromotionAbandoned);
    expect(await readOnly()).toBe('1');
    expect(early.events.find((e) => e.event === 'promote.abandoned')).toMatchObject({
      where: 'before it changed anything',
      reason: 'the VIPs moved',
      decision: 'stay read-only',
    });
    const status = (await replica.query('SHOW SLAVE STATUS'))[0];
    expect(status?.Slave_IO_Running).not.toBe('No');
    // Gone during the last steps: asked again right before read_only=OFF, it stays read-only.
    const late = collect();
    let asked = 0;
    await expect(
      promote(
        replica,
        options(() => (++asked === 1 ? undefined : 'the VIPs moved'), late.log),
      ),
    ).rejects.toBeInstanceOf(PromotionAbandoned);
    expect(asked).toBe(2);
    expect(await readOnly()).toBe('1');
    expect(late.events.find((e) => e.event === 'promote.abandoned')).toMatchObject({
      where: 'before read_only=OFF',
    });
    // With its premise back, it promotes.
    await promote(
      replica,
      options(() => undefined, late.log),
    );
    expect(await readOnly()).toBe('0');
  });
});
