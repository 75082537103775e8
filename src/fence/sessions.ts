/**
 * Ending a server's client sessions: read_only=1 returns while an open transaction can still
 * commit, so every session but replication, system threads and the caller's own is killed. Bounded:
 * two passes of KILL CONNECTION, then a short wait for the killed ones to disappear.
 */
import { isClientSession } from '../mysql/client-sessions.js';
import { MysqlError, type MysqlSession } from '../mysql/connection.js';

export interface KilledSession {
  id: number;
  user: string;
  command: string;
}

/** Kills every client session whose id is not in `keep`; returns what it killed. */
export async function endClientSessions(
  session: MysqlSession,
  keep: ReadonlySet<number>,
  options: { waitMs?: number } = {},
): Promise<KilledSession[]> {
  const killed = new Map<number, KilledSession>();
  for (let pass = 0; pass < 2; pass++) {
    const rows = await session.query(
      'SELECT ID AS id, USER AS user, COMMAND AS command FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()',
    );
    const victims = rows
      .map((r) => ({
        id: Number(r.id),
        user: String(r.user ?? ''),
        command: String(r.command ?? ''),
      }))
      .filter((v) => !keep.has(v.id) && isClientSession(v.user, v.command));
    if (victims.length === 0) break;
    for (const victim of victims) {
      try {
        await session.query('KILL CONNECTION ?', [victim.id]);
        killed.set(victim.id, victim);
      } catch (error) {
        if (!(error instanceof MysqlError && error.errno === 1094)) throw error; // 1094: already gone
      }
    }
  }
  const ids = [...killed.keys()];
  const deadline = performance.now() + (options.waitMs ?? 1_000);
  // A killed session rolls back before it disappears; bounded, since the fence must not hang on it.
  for (let i = 0; i < 50 && ids.length > 0 && performance.now() < deadline; i++) {
    const rows = await session.query(
      `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID IN (${ids.map(() => '?').join(',')})`,
      ids,
    );
    if (Number(rows[0]?.n ?? 0) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return [...killed.values()];
}
