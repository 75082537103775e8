/**
 * The fencing act: reach the old primary over every path at once (its address on each network,
 * on the MySQL port, with the admin credentials hactl already uses), make it read-only
 * (super_read_only where the flavour has it), end its client sessions, and say per path what was
 * reached. Every path is bounded by the connect timeout and a short query budget; no path waits
 * for another. The verdict on what this means for the promotion is src/cluster/fencing-rule.ts's.
 */
import type { FenceOutcome, FencePath } from '../cluster/fencing-rule.js';
import { describePath } from '../cluster/fencing-rule.js';
import { connectWith, credentialsFor, type MysqlSession } from '../mysql/connection.js';
import { detectFlavour } from '../mysql/flavour.js';
import { readReadOnly, setReadOnly, type StepLogger } from '../mysql/server-state.js';
import { endClientSessions, type KilledSession } from '../mysql/client-sessions.js';
import { setReadOnlyEndingAckWaits } from '../mysql/ack-waits.js';

export interface FenceOptions {
  /** MySQL option file with the admin account (mysql.credentials_file). */
  credentialsFile: string;
  connectTimeoutMs: number;
  /** Budget of each statement on a reached path (default 3 s). */
  queryTimeoutMs?: number;
  /**
   * Semi-sync: its commits may wait for an ACK this node no longer sends, and read_only waits for
   * them; a second connection per path ends them while read_only is pending (src/mysql/ack-waits.ts).
   */
  endAckWaits?: boolean;
  signal?: AbortSignal;
  log: StepLogger;
}

export interface PathReport {
  path: FencePath;
  reached: boolean;
  readOnly: boolean;
  /** Ends when this path's own work ended (connect + read-only), ms from the fence's start. */
  ms: number;
  error?: string;
}

export interface FenceReport extends FenceOutcome {
  paths: PathReport[];
  killed: KilledSession[];
  /**
   * MariaDB: the fenced old primary's gtid_binlog_state once it was read-only and its client
   * sessions were ended — everything it will ever have logged as the primary. The promotion must
   * hold all of it, or it would discard writes the old primary acknowledged.
   */
  finalState?: { node: string; state: string };
  durationMs: number;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function fence(paths: readonly FencePath[], options: FenceOptions): Promise<FenceReport> {
  const started = performance.now();
  const { log } = options;
  const base = await credentialsFor({ defaultsFile: options.credentialsFile });
  const sessions: MysqlSession[] = [];
  const reports = await Promise.all(
    paths.map(async (path): Promise<PathReport> => {
      const at = () => Math.round(performance.now() - started);
      const open = () =>
        connectWith(
          {
            user: base.user,
            ...(base.password === undefined ? {} : { password: base.password }),
            host: path.host,
            port: path.port,
          },
          {
            timeoutMs: options.connectTimeoutMs,
            queryTimeoutMs: options.queryTimeoutMs ?? 3_000,
            ...(options.signal ? { signal: options.signal } : {}),
          },
        );
      let session: MysqlSession;
      try {
        session = await open();
      } catch (error) {
        return { path, reached: false, readOnly: false, ms: at(), error: messageOf(error) };
      }
      sessions.push(session);
      try {
        const flavour = await detectFlavour(session);
        if (options.endAckWaits) {
          const { ended } = await setReadOnlyEndingAckWaits(session, flavour, {
            openSecond: open,
            timeoutMs: options.queryTimeoutMs ?? 3_000,
          });
          if (ended.length > 0)
            log('fence.ended_commits_awaiting_ack', {
              path: describePath(path),
              sessions: ended.map((k) => ({ id: k.id, user: k.user, command: k.command, state: k.state })),
              reason:
                'read_only waited for commits held by a semi-sync ACK that was not coming; the statements in progress were ended while it was pending, their clients never told they committed',
            });
        } else await setReadOnly(session, flavour, true);
        const now = await readReadOnly(session, flavour);
        const readOnly = now.readOnly && (!flavour.hasSuperReadOnly || now.superReadOnly);
        return { path, reached: true, readOnly, ms: at() };
      } catch (error) {
        return { path, reached: true, readOnly: false, ms: at(), error: messageOf(error) };
      }
    }),
  );
  let killed: KilledSession[] = [];
  let finalState: FenceReport['finalState'];
  try {
    // Once, through one path that made it read-only: our own fencing sessions are spared.
    const keep = new Set(sessions.map((s) => s.threadId));
    const through = reports.findIndex((r) => r.readOnly);
    const session = through >= 0 ? sessionFor(sessions, reports[through]!.path) : undefined;
    if (session) {
      try {
        killed = await endClientSessions(session, { keep });
      } catch (error) {
        log('fence.sessions_not_ended', {
          level: 'error',
          path: describePath(reports[through]!.path),
          reason: `read-only, but its client sessions could not all be ended: ${messageOf(error)}`,
        });
      }
      finalState = await readFinalState(session, reports[through]!.path, log);
    }
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
  for (const report of reports) {
    log('fence.path', {
      level: report.readOnly ? 'info' : 'warn',
      node: report.path.node,
      network: report.path.network,
      address: `${report.path.host}:${report.path.port}`,
      reached: report.reached,
      read_only: report.readOnly,
      ms: report.ms,
      ...(report.error === undefined ? {} : { reason: report.error }),
    });
  }
  const fenced = reports.filter((r) => r.readOnly).map((r) => describePath(r.path));
  const notFenced = reports
    .filter((r) => !r.readOnly)
    .map((r) => ({
      path: describePath(r.path),
      why: r.error ?? (r.reached ? 'reached, but read_only is still off' : 'not reached'),
    }));
  const durationMs = Math.round(performance.now() - started);
  log('fence.done', {
    level: fenced.length > 0 ? 'info' : 'warn',
    fenced,
    not_fenced: notFenced,
    killed_sessions: killed.map((k) => ({ id: k.id, user: k.user, command: k.command })),
    duration_ms: durationMs,
  });
  return { fenced, notFenced, paths: reports, killed, ...(finalState ? { finalState } : {}), durationMs };
}

/** The fenced server's GTID state (MariaDB), or undefined when it cannot be read (logged). */
async function readFinalState(
  session: MysqlSession,
  path: FencePath,
  log: StepLogger,
): Promise<FenceReport['finalState']> {
  try {
    if ((await detectFlavour(session)).kind !== 'mariadb') return undefined;
    const row = (await session.query('SELECT @@GLOBAL.gtid_binlog_state AS state'))[0] ?? {};
    const state = String(row.state ?? '');
    log('fence.final_state', { node: path.node, gtid_binlog_state: state });
    return { node: path.node, state };
  } catch (error) {
    log('fence.final_state_unread', {
      level: 'warn',
      node: path.node,
      reason: `its GTID state could not be read: ${messageOf(error)}`,
    });
    return undefined;
  }
}

/** The session opened for `path` (sessions are pushed in connect order, so look it up by address). */
function sessionFor(sessions: MysqlSession[], path: FencePath): MysqlSession | undefined {
  return sessions.find((s) => s.address === `${path.host}:${path.port}`);
}
