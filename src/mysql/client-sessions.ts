/**
 * Ending a server's client sessions, for a demotion and a fence alike: read_only=1 returns while an
 * open transaction can still commit, so every session but replication threads (ours to a source, a
 * replica's binlog dump), system threads, sessions already being killed and the caller's own is
 * killed. Bounded: a few passes of KILL CONNECTION, then a bounded wait for the killed ones to
 * disappear (a killed session rolls back before it goes).
 */
import type { MysqlSession } from './connection.js';
import { awaitGone, killConnection } from './kill.js';

const REPLICATION_COMMANDS = new Set([
  'binlog dump',
  'binlog dump gtid',
  'slave_io',
  'slave_sql',
  'slave_worker',
  'daemon',
  'connect',
]);
const SYSTEM_USERS = new Set(['system user', 'event_scheduler']);

/** True for a PROCESSLIST row (USER, COMMAND) that is a client's session. */
export function isClientSession(user: string, command: string): boolean {
  const c = command.toLowerCase();
  return !REPLICATION_COMMANDS.has(c) && !SYSTEM_USERS.has(user.toLowerCase()) && c !== 'killed';
}

export interface KilledSession {
  id: number;
  user: string;
  command: string;
  /** PROCESSLIST STATE when it was picked, e.g. 'Waiting for semi-sync ACK from slave'. */
  state: string;
}

export interface EndSessionsOptions {
  /** Session ids to leave alone (e.g. a fence's own other connections). */
  keep?: ReadonlySet<number>;
  /** Passes of list-and-kill (a session may connect between them); default 2. */
  passes?: number;
  /** How long to wait for the killed sessions to be gone; default 1 s. */
  waitMs?: number;
  /** Pause between looks while waiting; default 20 ms. */
  pollMs?: number;
  /**
   * Picks, from each pass's client sessions, those to end and the order to end them in (default:
   * all of them, in PROCESSLIST order), e.g. by their STATE.
   */
  select?: (sessions: KilledSession[]) => KilledSession[];
  /** Told what each pass found to kill, before it kills it. */
  onPass?: (pass: number, victims: KilledSession[]) => void;
  /** Told of each session as soon as it is killed: a caller whose own connection dies mid-pass still knows. */
  onKilled?: (victim: KilledSession) => void;
}

/**
 * Kills every client session (or those `select` picks) but `keep`'s and the caller's; returns what
 * it killed. The one kill loop of demotion, fence, and the end of commits awaiting a semi-sync ACK.
 */
export async function endClientSessions(
  session: MysqlSession,
  options: EndSessionsOptions = {},
): Promise<KilledSession[]> {
  const keep = options.keep ?? new Set<number>();
  const killed = new Map<number, KilledSession>();
  for (let pass = 0; pass < (options.passes ?? 2); pass++) {
    const rows = await session.query(
      'SELECT ID AS id, USER AS user, COMMAND AS command, STATE AS state FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()',
    );
    const clients = rows
      .map((r) => ({
        id: Number(r.id),
        user: String(r.user ?? ''),
        command: String(r.command ?? ''),
        state: String(r.state ?? ''),
      }))
      .filter((v) => !keep.has(v.id) && isClientSession(v.user, v.command));
    const victims = options.select ? options.select(clients) : clients;
    if (victims.length === 0) break;
    options.onPass?.(pass, victims);
    for (const victim of victims) {
      if (await killConnection(session, victim.id)) {
        killed.set(victim.id, victim);
        options.onKilled?.(victim);
      }
    }
  }
  await awaitGone(session, [...killed.keys()], {
    waitMs: options.waitMs ?? 1_000,
    pollMs: options.pollMs ?? 20,
  });
  return [...killed.values()];
}
