/**
 * Issue 12 (strict peer-link, 3 of 20 repetitions left without a writable primary): a replica cut
 * off from its strict semi-sync source leaves a binlog dump thread there. When it came back and
 * re-pointed, the source's new dump thread ended the stale one itself and the source wedged: no
 * new connection, no new dump, the commits waiting for an ACK waiting on. The re-point now ends
 * its stale dumps first (src/mysql/stale-dumps.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { demote } from '../../src/mysql/demote.js';
import { STRICT_SEMI_SYNC_SERVER_OPTIONS, semiSyncSourceSettings } from '../../src/mysql/semi-sync.js';
import { addressOf, dumpsFrom, endDumps } from '../../src/mysql/stale-dumps.js';
import { one, startPair, statusValue, type Pair, until } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { silentRelay, type SilentRelay } from '../support/silent-relay.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

describe('which dump threads are stale', () => {
  it('takes the address from HOST, IPv4, IPv6 or a name', () => {
    expect(addressOf('192.0.2.11:41234')).toBe('192.0.2.11');
    expect(addressOf('fe80::1:5000')).toBe('fe80::1');
    expect(addressOf('localhost')).toBe('localhost');
  });

  it('picks the binlog dumps of the replica’s address only', () => {
    const rows = [
      { id: 1, host: '192.0.2.11:40000', command: 'Binlog Dump', state: '' },
      { id: 2, host: '192.0.2.11:40001', command: 'Binlog Dump GTID', state: '' },
      { id: 3, host: '192.0.2.13:40000', command: 'Binlog Dump', state: '' },
      { id: 4, host: '192.0.2.11:40002', command: 'Query', state: '' },
      { id: 5, host: '192.0.2.110:40003', command: 'Binlog Dump', state: '' },
    ];
    expect(dumpsFrom(rows, '192.0.2.11').map((r) => r.id)).toEqual([1, 2]);
  });
});

/** Milliseconds a fresh session to `pair.primary` takes to answer SELECT 1, or null within 1 s. */
async function freshSessionMs(pair: Pair): Promise<number | null> {
  const started = performance.now();
  try {
    const session = await pair.primary.session(undefined, 1_000);
    try {
      await session.query('SELECT 1', [], { timeoutMs: 1_000 });
    } finally {
      await session.close();
    }
    return Math.round(performance.now() - started);
  } catch {
    return null;
  }
}

/** Commits from `ids.length` application sessions that wait for an ACK; what each was finally told. */
async function commitsWaiting(
  pair: Pair,
  a: MysqlSession,
  ids: number[],
  sessions: MysqlSession[],
): Promise<Promise<string>[]> {
  const outcomes: Promise<string>[] = [];
  for (const id of ids) {
    const writer = await pair.primary.session(pair.primary.app, 30_000);
    sessions.push(writer);
    outcomes.push(
      writer.query('INSERT INTO app.t VALUES (?)', [id], { timeoutMs: 30_000 }).then(
        () => 'acknowledged',
        (error: Error) => `failed: ${error.message}`,
      ),
    );
  }
  await until(
    `${ids.length} commit(s) wait for the ACK`,
    async () =>
      Number(
        await one(
          a,
          "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE IN ('Commit', 'Waiting for semi-sync ACK from slave')",
        ),
      ) === ids.length,
  );
  return outcomes;
}

/** Wedged, a fresh session never gets past its handshake (the chaos runs: 3–4 s, then failover). */
async function expectAnswering(pair: Pair): Promise<void> {
  const answers = [];
  for (let i = 0; i < 5; i++) answers.push(await freshSessionMs(pair));
  expect(
    answers.every((ms) => ms !== null && ms < 1_000),
    JSON.stringify(answers),
  ).toBe(true);
}

describe.skipIf(missing)(
  titled('strict semi-sync: a replica back from a cut re-points without wedging its source', missing),
  () => {
    const pairs: Pair[] = [];
    const relays: SilentRelay[] = [];
    const sessions: MysqlSession[] = [];
    afterEach(async () => {
      for (const session of sessions.splice(0)) await session.close().catch(() => undefined);
      for (const relay of relays.splice(0)) relay.close();
      for (const pair of pairs.splice(0)) await pair.stop();
    });

    /** A strict source a, and b acknowledging through a relay the test can cut; app.t exists. */
    async function strictPairThroughRelay(replicaSettings: string[] = [], changeMaster = '') {
      const pair = await startPair({ extra: { ...STRICT_SEMI_SYNC_SERVER_OPTIONS }, replicate: false });
      pairs.push(pair);
      const relay = await silentRelay(pair.primary.port);
      relays.push(relay);
      const a = await pair.primary.session();
      const b = await pair.replica.session();
      sessions.push(a, b);
      const viaRelay = { host: '127.0.0.1', port: relay.port };
      const replication = {
        user: pair.primary.replication.user,
        password: pair.primary.replication.password,
      };
      for (const statement of semiSyncSourceSettings()) await a.query(statement);
      for (const statement of replicaSettings) await b.query(statement);
      await b.query(
        `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1${changeMaster}`,
        [viaRelay.host, viaRelay.port, replication.user, replication.password],
        { secrets: [replication.password] },
      );
      await b.query('SET GLOBAL rpl_semi_sync_slave_enabled = ON');
      await b.query('START SLAVE');
      await until(
        'b acknowledges',
        async () => (await statusValue(a, 'Rpl_semi_sync_master_clients')) !== '0',
      );
      await a.query('CREATE TABLE app.t (id INT PRIMARY KEY)');
      return { pair, relay, a, b, viaRelay, replication };
    }

    it('ends the stale dump thread first; the source keeps answering and the waiting commits are acknowledged', async () => {
      const { pair, relay, a, b, viaRelay, replication } = await strictPairThroughRelay();
      const steps: string[] = [];
      const log = (event: string, fields: Record<string, unknown>) =>
        steps.push(`${event} ${JSON.stringify(fields)}`);
      await a.query('INSERT INTO app.t VALUES (1)');
      await until(
        'row 1 on b',
        async () => (await one(b, 'SELECT COUNT(*) FROM app.t').catch(() => '')) === '1',
      );

      // The cut: b stops replicating and its close never reaches a, which keeps b's dump thread.
      relay.cut();
      await b.query('STOP SLAVE');
      relay.heal();
      const dumps = async () =>
        (
          await a.query(
            "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
          )
        ).map((r) => Number(r.id));
      const stale = await dumps();
      expect(stale).toHaveLength(1);
      const outcomes = await commitsWaiting(pair, a, [10, 11, 12], sessions);

      const report = await demote(b, {
        topology: 'one-way',
        semiSync: 'strict',
        peer: viaRelay,
        replication,
        log,
      });
      expect(report.repoint.result, steps.join('\n')).toBe('repointed');
      const ended = steps.find((s) => s.startsWith('demote.stale_dumps_ended'));
      expect(ended, steps.join('\n')).toContain(`"id":${stale[0]}`);

      expect(await Promise.all(outcomes)).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
      await expectAnswering(pair);
      expect(await dumps()).not.toContain(stale[0]);
      expect(await one(b, 'SELECT COUNT(*) FROM app.t')).toBe('4');
    }, 90_000);

    it('a source that ends its dumps to a silent replica is not wedged when the replica reconnects by itself', async () => {
      // The IO thread gives up on a silent source after 3 s and reconnects on its own.
      const { pair, relay, a } = await strictPairThroughRelay(
        ['SET GLOBAL slave_net_timeout = 3'],
        ', MASTER_HEARTBEAT_PERIOD = 1',
      );
      relay.cut();
      const [outcome] = await commitsWaiting(pair, a, [1], sessions);
      // What the witness monitor does when the path to the peer goes silent (src/fence/witness-monitor.ts).
      const { ended, lingering } = await endDumps(a, ['127.0.0.1'], { waitMs: 2_000 });
      expect(ended).toHaveLength(1);
      expect(lingering).toEqual([]);
      relay.heal();

      expect(await outcome).toBe('acknowledged');
      await expectAnswering(pair);
    }, 90_000);
  },
);
