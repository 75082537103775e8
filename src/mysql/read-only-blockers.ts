/**
 * Making a semi-sync primary read-only while its commits wait for an acknowledgement that may never
 * come (issue 12). SET GLOBAL read_only=1 takes the global read lock: once it is pending no new
 * statement may start, but it waits for the statements and commits in progress, and under strict
 * semi-sync (no timeout fallback) a commit waiting for the ACK of an unreachable standby never
 * finishes. Ending those commits before read_only is not enough: a client that reconnects at once
 * commits again in between (chaos, peer-link: 27 s with two writable databases). So read_only is
 * issued first, and while it is pending a second connection to the same server ends those commits.
 *
 * Which sessions (MariaDB 10.11, measured in test/mysql/semi-sync-demote.test.ts): one session of a
 * binlog group commit waits for the ACK on behalf of the group; the others show state 'Commit'.
 * Ending only the one waiting released the rest of its group without an ACK, and their clients
 * were told they committed (a write acknowledged that the standby never had). So once one session
 * waits for an ACK, every session executing a statement is ended, the one waiting last: a session
 * killed before its commit completes gets an error, not an acknowledgement. Nothing is lost that a
 * client saw acknowledged; those transactions stay in this server's binlog only (AFTER_SYNC logs
 * before it waits), which the strict rejoin treats as unacknowledged.
 */
import { endClientSessions, type KilledSession } from './client-sessions.js';
import type { MysqlSession } from './connection.js';
import type { Flavour } from './flavour.js';
import { setReadOnly } from './server-state.js';

/** Under this `mysql.semi_sync` setting a commit may wait for an ACK, and read_only for that commit. */
export function commitsMayWaitForAck(semiSync: 'off' | 'expected' | 'strict' | undefined): boolean {
  return semiSync === 'strict' || semiSync === 'expected';
}

/** MariaDB: 'Waiting for semi-sync ACK from slave'; MySQL 8: '… from replica'. */
export const awaitingAck = (s: KilledSession): boolean => s.state.startsWith('Waiting for semi-sync ACK');

/**
 * Statements that wait for the global read lock: they started after read_only (ours, or another
 * demotion's) became pending, hold nothing it waits for, and fail as read-only once it is set.
 */
const WAITING_FOR_READ_LOCK = /^Waiting for (backup|global read) lock/;

/**
 * When a commit waits for an ACK: every session executing a statement that read_only may be
 * waiting for, the ones waiting for the ACK last (they hold the others' commits). Otherwise none:
 * read_only is then waiting for something that ends.
 */
export function commitsHeldByAck(sessions: KilledSession[]): KilledSession[] {
  if (!sessions.some(awaitingAck)) return [];
  const executing = sessions.filter(
    (s) => s.command.toLowerCase() !== 'sleep' && !WAITING_FOR_READ_LOCK.test(s.state),
  );
  return [...executing.filter((s) => !awaitingAck(s)), ...executing.filter(awaitingAck)];
}

export interface ReadOnlyUnderAckOptions {
  /** Opens a second session to the same server (bounded by its own connect timeout). */
  openSecond: () => Promise<MysqlSession>;
  /** How long to keep ending ACK waits: read_only's own statement timeout. */
  timeoutMs: number;
  /** Pause between two looks for commits waiting for an ACK (default 50 ms). */
  intervalMs?: number;
}

export interface ReadOnlyUnderAckReport {
  /** Sessions ended while read_only was pending, because commits waited for an ACK. */
  ended: KilledSession[];
  /** How many times the second connection looked. */
  rounds: number;
  /** How long SET GLOBAL read_only took. */
  ms: number;
  /** Why the second connection could not help (read_only then waited on its own). */
  problem?: string;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Sets read_only (as setReadOnly does) while a second connection ends commits held by an ACK. */
export async function setReadOnlyEndingAckWaits(
  session: MysqlSession,
  flavour: Flavour,
  options: ReadOnlyUnderAckOptions,
): Promise<ReadOnlyUnderAckReport> {
  const started = performance.now();
  const intervalMs = options.intervalMs ?? 50;
  let settled = false;
  const setting = setReadOnly(session, flavour, true);
  const done = setting.then(
    () => void (settled = true),
    () => void (settled = true),
  );
  let problem: string | undefined;
  const opening = options.openSecond().catch((error: unknown) => {
    problem = `no second connection to end commits waiting for an ACK: ${messageOf(error)}`;
    return undefined;
  });
  // read_only usually returns before the second connection is even open: then it is not waited for.
  const second = await Promise.race([opening, done.then(() => undefined)]);
  const ended: KilledSession[] = [];
  let rounds = 0;
  try {
    const keep = new Set([session.threadId]);
    const maxRounds = Math.ceil(options.timeoutMs / intervalMs) + 1;
    while (second && !settled && rounds < maxRounds && performance.now() - started < options.timeoutMs) {
      rounds++;
      let now: KilledSession[] = [];
      try {
        // Only while our read_only is pending does it keep new statements from starting.
        const pending = await second.query(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ? AND COMMAND = 'Query'",
          [session.threadId],
        );
        if (pending.length > 0)
          now = await endClientSessions(second, { select: commitsHeldByAck, keep, passes: 1, waitMs: 0 });
      } catch (error) {
        problem = `ending commits waiting for an ACK failed: ${messageOf(error)}`;
        break;
      }
      ended.push(...now);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
      clearTimeout(timer);
    }
  } finally {
    // Also a connection that completes after read_only returned is closed, not left open.
    if (second) await second.close();
    else void opening.then((late) => late?.close());
  }
  await setting;
  return {
    ended,
    rounds,
    ms: Math.round(performance.now() - started),
    ...(problem === undefined ? {} : { problem }),
  };
}
