/**
 * Ending server connections by id, for client sessions (src/mysql/client-sessions.ts) and stale
 * binlog dumps (src/mysql/stale-dumps.ts) alike: KILL CONNECTION returns before the thread is
 * gone (a killed session rolls back first), so a caller that needs it gone waits, bounded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MysqlError, type MysqlSession } from './connection.js';

/** KILL CONNECTION `id`; false when it was already gone (error 1094). */
export async function killConnection(session: MysqlSession, id: number): Promise<boolean> {
  try {
    await session.query('KILL CONNECTION ?', [id]);
    return true;
  } catch (error) {
    if (error instanceof MysqlError && error.errno === 1094) return false;
    throw error;
  }
}

/**
 * Looks until none of `ids` is in PROCESSLIST or `waitMs` is over (bounded in looks too: each is
 * a query with its own timeout); returns the ids still there.
 */
export async function awaitGone(
  session: MysqlSession,
  ids: readonly number[],
  options: { waitMs: number; pollMs: number },
): Promise<number[]> {
  let left = [...ids];
  const deadline = performance.now() + options.waitMs;
  const looks = Math.ceil(options.waitMs / options.pollMs) + 1;
  for (let look = 0; look < looks && left.length > 0; look++) {
    const rows = await session.query(
      `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID IN (${left.map(() => '?').join(',')})`,
      left,
    );
    left = rows.map((r) => Number(r.id));
    if (left.length === 0 || performance.now() >= deadline) break;
    await sleep(options.pollMs);
  }
  return left;
}
