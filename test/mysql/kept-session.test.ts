/**
 * The agent's kept database connection (src/mysql/connection.ts keepSessions): one connection
 * serves loan after loan, and a connection that died or was abandoned is never lent again but
 * replaced within the loan's bound.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, keepSessions, MysqlError, type MysqlSession } from '../../src/mysql/connection.js';
import { oneMariadb, type OneMariadb } from '../support/one-mariadb.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });

let db: OneMariadb;
let release: (() => Promise<void>) | undefined;

async function lend(options: { signal?: AbortSignal; maxReadBytes?: number } = {}): Promise<MysqlSession> {
  return connect(db.server.target(), { timeoutMs: 3000, ...options });
}

async function threadOf(session: MysqlSession): Promise<number> {
  return Number((await session.query('SELECT CONNECTION_ID() AS id'))[0]?.id);
}

async function gone(id: number): Promise<boolean> {
  const rows = await db.admin.query('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?', [
    id,
  ]);
  return Number(rows[0]?.n) === 0;
}

describe.skipIf(missing)(titled('kept sessions (agent mode)', missing), () => {
  db = oneMariadb('kept');
  afterEach(async () => {
    await release?.();
    release = undefined;
  });

  it('lends one connection loan after loan; checks (read cap) and other processes connect afresh', async () => {
    release = keepSessions();
    const first = await lend();
    const id = await threadOf(first);
    await first.close();
    const second = await lend();
    expect(await threadOf(second)).toBe(id);
    // Borrowed while the kept one is out: a connection of its own, not the same one twice.
    const third = await lend();
    expect(await threadOf(third)).not.toBe(id);
    await third.close();
    await second.close();
    const capped = await lend({ maxReadBytes: 1 << 20 });
    expect(await threadOf(capped)).not.toBe(id);
    await capped.close();
    await release();
    release = undefined;
    // Without keeping, connect() opens and closes as it always did.
    const plain = await lend();
    expect(await threadOf(plain)).not.toBe(id);
    await plain.close();
    await db.admin.query('SELECT 1');
    expect(await gone(id)).toBe(true);
  });

  it('a kept connection killed by the server is replaced at the next loan, checked or not', async () => {
    // freshMs 0: every loan is checked by a round trip; a long freshMs skips that round trip for a
    // connection the driver still holds open, so only the driver's own view can catch the kill.
    for (const freshMs of [0, 60_000]) {
      release = keepSessions({ freshMs });
      const first = await lend();
      const id = await threadOf(first);
      await first.close();
      await db.admin.query('KILL CONNECTION ?', [id]);
      const deadline = performance.now() + 10_000;
      while (!(await gone(id)) && performance.now() < deadline) await db.admin.query('SELECT SLEEP(0.01)');
      expect(await gone(id)).toBe(true);
      // Our awaits above let the driver read the kill off its socket: the very next loan works.
      const next = await lend();
      expect(await threadOf(next)).not.toBe(id);
      await next.close();
      await release();
      release = undefined;
    }
  });

  it("a borrower's abort destroys the connection: it is never lent again", async () => {
    release = keepSessions();
    const controller = new AbortController();
    const first = await lend({ signal: controller.signal });
    const id = await threadOf(first);
    const sleeping = first.query('SELECT SLEEP(5) AS s');
    controller.abort();
    await expect(sleeping).rejects.toBeInstanceOf(MysqlError);
    await first.close();
    const next = await lend();
    expect(await threadOf(next)).not.toBe(id);
    await next.close();
  });

  it('a connection handed back with a statement still running is not lent again', async () => {
    release = keepSessions();
    const first = await lend();
    const id = await threadOf(first);
    const sleeping = first.query('SELECT SLEEP(5) AS s').catch(() => undefined);
    await first.close();
    const t0 = performance.now();
    const next = await lend();
    expect(await threadOf(next)).not.toBe(id);
    // Not queued behind the abandoned statement.
    expect(performance.now() - t0).toBeLessThan(4_000);
    await next.close();
    await sleeping;
  });
});
