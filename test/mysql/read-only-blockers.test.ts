/**
 * setReadOnlyEndingBlockers (src/mysql/read-only-blockers.ts) without a server: which sessions it
 * ends and in what order, that it keeps looking while read_only is pending, and that its second
 * connection is closed in every path. test/mysql/semi-sync-demote.test.ts covers ACK waits on
 * MariaDB, test/fence/fence.test.ts a lock holder and a long statement.
 */
import { describe, expect, it } from 'vitest';
import {
  commitsHeldByAck,
  readOnlyBlockers,
  setReadOnlyEndingBlockers,
} from '../../src/mysql/read-only-blockers.js';
import type { KilledSession } from '../../src/mysql/client-sessions.js';
import type { MysqlSession, Row } from '../../src/mysql/connection.js';
import type { Flavour } from '../../src/mysql/flavour.js';

const mariadb = { kind: 'mariadb', hasSuperReadOnly: false } as Flavour;
const ACK = 'Waiting for semi-sync ACK from slave';
const row = (id: number, command: string, state: string): KilledSession => ({
  id,
  user: 'app',
  command,
  state,
});

/**
 * A server whose SET GLOBAL read_only returns once the ACK waiter (or `holder`) is killed (or fails
 * after `timeoutMs`, as the driver's statement timeout does), and whose PROCESSLIST shows `looks`
 * in turn.
 */
function server(looks: KilledSession[][], timeoutMs = 1_500, holder?: number) {
  const killed: number[] = [];
  let look = 0;
  let release: () => void = () => undefined;
  let closedSeconds = 0;
  const readOnly = new Promise<void>((resolve, reject) => {
    release = resolve;
    setTimeout(() => reject(new Error('no reply within the statement timeout (SET GLOBAL)')), timeoutMs);
  });
  readOnly.catch(() => undefined);
  const main: MysqlSession = {
    address: 'fake',
    threadId: 1,
    query: async (sql: string): Promise<Row[]> => {
      if (sql.startsWith('SET GLOBAL read_only')) await readOnly;
      return [];
    },
    close: () => Promise.resolve(),
  };
  const second = (): MysqlSession => ({
    address: 'fake',
    threadId: 2,
    query: (sql: string, params?: unknown[]): Promise<Row[]> => {
      if (sql.includes('WHERE ID = ?')) return Promise.resolve([{ ID: 1 }]); // read_only pending
      if (sql.startsWith('SELECT ID AS id')) {
        const rows = looks[Math.min(look++, looks.length - 1)]!;
        return Promise.resolve(rows.filter((r) => !killed.includes(r.id)).map((r) => ({ ...r })));
      }
      if (sql.startsWith('KILL CONNECTION')) {
        const id = Number(params?.[0]);
        killed.push(id);
        if (id === holder || looks.flat().some((r) => r.id === id && r.state === ACK)) release();
        return Promise.resolve([]);
      }
      throw new Error(`unexpected statement ${sql}`);
    },
    close: () => {
      closedSeconds++;
      return Promise.resolve();
    },
  });
  return { main, second, killed, release: () => release(), closedSeconds: () => closedSeconds };
}

describe('commitsHeldByAck', () => {
  it('ends every statement in progress once one waits for an ACK, the waiter last', () => {
    const picked = commitsHeldByAck([
      row(5, 'Query', ACK),
      row(6, 'Sleep', ''),
      row(7, 'Query', 'Commit'),
      row(8, 'Query', 'Sending data'),
      row(10, 'Query', 'Waiting for backup lock'), // another demotion's read_only, or a late INSERT
    ]);
    expect(picked.map((p) => p.id)).toEqual([7, 8, 5]);
  });

  it('ends nothing when no commit waits for an ACK', () => {
    expect(commitsHeldByAck([row(7, 'Query', 'Commit'), row(6, 'Sleep', '')])).toEqual([]);
  });
});

describe('readOnlyBlockers', () => {
  it('ends idle sessions too (a LOCK TABLES holder sleeps), never a session waiting for the lock, an ACK waiter last', () => {
    const picked = readOnlyBlockers([
      row(5, 'Query', ACK),
      row(6, 'Sleep', ''),
      row(8, 'Query', 'Sending data'),
      row(10, 'Query', 'Waiting for backup lock'),
      row(11, 'Query', 'Waiting for global read lock'),
    ]);
    expect(picked.map((p) => p.id)).toEqual([6, 8, 5]);
  });
});

describe('setReadOnlyEndingBlockers', () => {
  it('keeps looking while read_only is pending, and ends a commit that starts waiting later', async () => {
    // The first looks find nothing to end (e.g. they ran before the commit reached its ACK wait).
    const fake = server([[], [row(7, 'Query', 'Commit')], [row(7, 'Query', 'Commit'), row(9, 'Query', ACK)]]);
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: true,
      openSecond: () => Promise.resolve(fake.second()),
      timeoutMs: 1_000,
      intervalMs: 10,
    });
    expect(fake.killed).toEqual([7, 9]);
    expect(report.ended.map((e) => e.id)).toEqual([7, 9]);
    expect(report.rounds).toBeGreaterThanOrEqual(3);
    expect(fake.closedSeconds()).toBe(1);
  });

  it('says why when no second connection opens, and still waits for read_only', async () => {
    const fake = server([[]]);
    const timer = setTimeout(fake.release, 50); // read_only returns by itself
    const told: string[] = [];
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: true,
      openSecond: () => Promise.reject(new Error('connection refused')),
      timeoutMs: 1_000,
      onProblem: (problem) => void told.push(problem),
    });
    clearTimeout(timer);
    expect(report.problem).toMatch(/no second connection .*connection refused/);
    expect(told).toEqual([report.problem]);
    expect(report.rounds).toBe(0);
  });

  it('closes the second connection when read_only fails', async () => {
    const fake = server([[row(7, 'Query', 'Commit')]], 200); // nothing waits for an ACK: nothing ended
    await expect(
      setReadOnlyEndingBlockers(fake.main, mariadb, {
        ackWaits: true,
        openSecond: () => Promise.resolve(fake.second()),
        timeoutMs: 1_000,
        intervalMs: 10,
      }),
    ).rejects.toThrow(/no reply/);
    expect(fake.killed).toEqual([]);
    expect(fake.closedSeconds()).toBe(1);
  });

  it('without ACK waits opens no second connection when read_only returns within its grace', async () => {
    const fake = server([[row(6, 'Sleep', '')]]);
    const timer = setTimeout(fake.release, 20);
    let opened = 0;
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: false,
      openSecond: () => {
        opened++;
        return Promise.resolve(fake.second());
      },
      timeoutMs: 3_000,
    });
    clearTimeout(timer);
    expect(opened).toBe(0);
    expect(report.endedBlockers).toEqual([]);
    expect(fake.killed).toEqual([]);
  });

  it('without ACK waits ends what read_only still waits for after its grace, sparing the sessions named', async () => {
    // 6 holds a table lock, idle; 12 is another fence path's session; 10 waits for the lock too.
    const looks = [
      [row(6, 'Sleep', ''), row(12, 'Query', 'Sending data'), row(10, 'Query', 'Waiting for backup lock')],
    ];
    const fake = server(looks, 5_000, 6);
    const started = performance.now();
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: false,
      openSecond: () => Promise.resolve(fake.second()),
      timeoutMs: 1_500,
      intervalMs: 10,
      keep: () => [12],
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(490);
    expect(fake.killed).toEqual([6]);
    expect(report.endedBlockers.map((e) => e.id)).toEqual([6]);
    expect(report.ended).toEqual([]);
    expect(fake.closedSeconds()).toBe(1);
  });

  it('with ACK waits ends only commits held by an ACK before the grace, anything after it', async () => {
    // Nothing waits for an ACK; the idle lock holder 6 is left alone until a third of 3 s.
    const fake = server([[row(6, 'Sleep', '')]], 5_000, 6);
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: true,
      openSecond: () => Promise.resolve(fake.second()),
      timeoutMs: 3_000,
      intervalMs: 10,
    });
    expect(report.rounds).toBeGreaterThan(1);
    expect(report.ended).toEqual([]);
    expect(report.endedBlockers.map((e) => e.id)).toEqual([6]);
  });

  it('reports a session it ended even when its own connection is ended later in the same pass', async () => {
    // 6 holds the lock; ending it lets read_only through, and then another demotion's kill pass
    // ends our second connection before it reaches 8.
    const fake = server([[row(6, 'Sleep', ''), row(8, 'Sleep', '')]], 5_000, 6);
    const base = fake.second();
    const told: string[] = [];
    const report = await setReadOnlyEndingBlockers(fake.main, mariadb, {
      ackWaits: false,
      openSecond: () =>
        Promise.resolve({
          ...base,
          query: (sql: string, params?: unknown[]) =>
            sql.startsWith('KILL CONNECTION') && Number(params?.[0]) === 8
              ? Promise.reject(new Error('the server closed the connection (KILL CONNECTION)'))
              : base.query(sql, params),
        }),
      timeoutMs: 1_500,
      intervalMs: 10,
      onProblem: (problem) => void told.push(problem),
    });
    expect(report.endedBlockers.map((e) => e.id)).toEqual([6]);
    expect(told).toEqual([expect.stringMatching(/closed the connection/)]);
  });
});
