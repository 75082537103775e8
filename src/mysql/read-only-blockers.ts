/**
 * Making a primary read-only while read_only waits for something that may not end on its own:
 * commits held by a semi-sync acknowledgement, a long statement, a table lock.
 *
 * Semi-sync (issue 12): SET GLOBAL read_only=1 takes the global read lock: once it is pending no
 * new statement may start, but it waits for the statements and commits in progress, and under
 * strict semi-sync (no timeout fallback) a commit waiting for the ACK of an unreachable standby
 * never finishes. Ending those commits before read_only is not enough: a client that reconnects at once
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
 *
 * The same wait without semi-sync: a statement that runs for minutes, or an idle LOCK TABLES
 * holder, keeps read_only pending for as long. A demotion, a fence or an isolated node's own
 * step-down that gives up on it leaves the old primary writable (a fence then blocks the
 * promotion: the old primary answered). Each of them ends every client session right after
 * read_only anyway, so once read_only has been pending a third of its budget the same second
 * connection ends them all first (idle ones too: a LOCK TABLES holder sleeps), while the pending
 * lock keeps new writes and commits out. If read_only still fails (a killed statement can take
 * long to roll back), those sessions are gone all the same.
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
 * MariaDB shows 'Waiting for backup lock' for all of them; MySQL 'global read lock', then
 * 'commit lock' for a read_only in its second phase.
 */
const WAITING_FOR_READ_LOCK = /^Waiting for (backup|global read|commit) lock/;

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

/** The share of read_only's budget after which whatever it still waits for is ended (see above). */
export const END_BLOCKERS_AFTER_SHARE = 1 / 3;

/**
 * Once read_only has been pending a while: every client session it may be waiting for (not those
 * waiting for the lock themselves), the ones waiting for a semi-sync ACK last, as above.
 */
export function readOnlyBlockers(sessions: KilledSession[]): KilledSession[] {
  const blocking = sessions.filter((s) => !WAITING_FOR_READ_LOCK.test(s.state));
  return [...blocking.filter((s) => !awaitingAck(s)), ...blocking.filter(awaitingAck)];
}

export interface ReadOnlyBlockersOptions {
  /** Opens a second session to the same server (bounded by its own connect timeout). */
  openSecond: () => Promise<MysqlSession>;
  /** How long to keep ending what read_only waits for: read_only's own statement timeout. */
  timeoutMs: number;
  /** Pause between two looks (default 50 ms). */
  intervalMs?: number;
  /**
   * Commits may wait for a semi-sync ACK (commitsMayWaitForAck): the second connection is opened
   * at once and ends them from the first look. Otherwise it is opened only if read_only is still
   * pending at endBlockersAfterMs.
   */
  ackWaits: boolean;
  /** When read_only, still pending, has every session it waits for ended (default a third of timeoutMs). */
  endBlockersAfterMs?: number;
  /** Sessions to spare besides the two of this call (e.g. a fence's other paths), asked at each look. */
  keep?: () => Iterable<number>;
  /** Told when the second connection cannot help, also when read_only then fails. */
  onProblem?: (problem: string) => void;
}

export interface ReadOnlyBlockersReport {
  /** Sessions ended while read_only was pending, because commits waited for an ACK. */
  ended: KilledSession[];
  /** Sessions ended because read_only was still pending at endBlockersAfterMs. */
  endedBlockers: KilledSession[];
  /** How many times the second connection looked. */
  rounds: number;
  /** How long SET GLOBAL read_only took (and the second connection's close). */
  ms: number;
  /** Why the second connection could not help (read_only then waited on its own). */
  problem?: string;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Resolves after ms, or as soon as `done` settles. */
async function pause(done: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Sets read_only (as setReadOnly does) while a second connection ends what it waits for: commits
 * held by a semi-sync ACK at once, anything else once it has waited endBlockersAfterMs.
 */
export async function setReadOnlyEndingBlockers(
  session: MysqlSession,
  flavour: Flavour,
  options: ReadOnlyBlockersOptions,
): Promise<ReadOnlyBlockersReport> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const intervalMs = options.intervalMs ?? 50;
  const blockersAfterMs =
    options.endBlockersAfterMs ?? Math.round(options.timeoutMs * END_BLOCKERS_AFTER_SHARE);
  let settled = false;
  const setting = setReadOnly(session, flavour, true);
  const done = setting.then(
    () => void (settled = true),
    () => void (settled = true),
  );
  // Without ACK waits nothing needs a second look until read_only has been pending a while: most
  // calls end before that and open nothing.
  if (!options.ackWaits) await pause(done, blockersAfterMs);
  let problem: string | undefined;
  let opening: Promise<MysqlSession | undefined> | undefined;
  let second: MysqlSession | undefined;
  if (!settled) {
    opening = options.openSecond().catch((error: unknown) => {
      problem = `no second connection to end what read_only waits for: ${messageOf(error)}`;
      options.onProblem?.(problem);
      return undefined;
    });
    // read_only usually returns before the second connection is even open: then it is not waited for.
    second = await Promise.race([opening, done.then(() => undefined)]);
  }
  const ended: KilledSession[] = [];
  const endedBlockers: KilledSession[] = [];
  let rounds = 0;
  try {
    const maxRounds = Math.ceil(options.timeoutMs / intervalMs) + 1;
    while (second && !settled && rounds < maxRounds && elapsed() < options.timeoutMs) {
      rounds++;
      const keep = new Set([session.threadId, ...(options.keep?.() ?? [])]);
      const all = elapsed() >= blockersAfterMs;
      try {
        // Only while our read_only is pending does it keep new statements from starting.
        const pending = await second.query(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ? AND COMMAND = 'Query'",
          [session.threadId],
        );
        // Recorded as each kill lands: the server may end this connection mid-pass (another
        // demotion's kill pass), after it has already ended what read_only waited for.
        if (pending.length > 0)
          await endClientSessions(second, {
            select: all ? readOnlyBlockers : commitsHeldByAck,
            keep,
            passes: 1,
            waitMs: 0,
            onKilled: (victim) => void (all ? endedBlockers : ended).push(victim),
          });
      } catch (error) {
        problem = `ending what read_only waits for failed: ${messageOf(error)}`;
        options.onProblem?.(problem);
        break;
      }
      await pause(done, intervalMs);
    }
  } finally {
    // Also a connection that completes after read_only returned is closed, not left open.
    if (second) await second.close();
    else void opening?.then((late) => late?.close());
  }
  await setting;
  return {
    ended,
    endedBlockers,
    rounds,
    ms: Math.round(elapsed()),
    ...(problem === undefined ? {} : { problem }),
  };
}
