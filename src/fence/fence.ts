/**
 * The fencing act: reach the old primary over every path at once (its address on each network,
 * on the MySQL port, with the admin credentials hactl already uses), make it read-only
 * (super_read_only where the flavour has it), end its client sessions, and say per path what was
 * reached. Every path is bounded by the connect timeout and a short query budget, tried at most
 * twice (again only when the server ended a session it had answered on); no path waits for
 * another. The verdict on what this means for the promotion is src/cluster/fencing-rule.ts's.
 */
import type { FenceOutcome, FencePath } from '../cluster/fencing-rule.js';
import { describePath } from '../cluster/fencing-rule.js';
import { connectionLost, connectWith, credentialsFor, type MysqlSession } from '../mysql/connection.js';
import { detectFlavour } from '../mysql/flavour.js';
import { readReadOnly, type StepLogger } from '../mysql/server-state.js';
import { endClientSessions, type KilledSession } from '../mysql/client-sessions.js';
import { setReadOnlyEndingBlockers } from '../mysql/read-only-blockers.js';

export interface FenceOptions {
  /** MySQL option file with the admin account (mysql.credentials_file). */
  credentialsFile: string;
  connectTimeoutMs: number;
  /** Budget of each statement on a reached path (default QUERY_BUDGET_MS). */
  queryTimeoutMs?: number;
  /**
   * Semi-sync: its commits may wait for an ACK this node no longer sends, and read_only waits for
   * them; a second connection per path ends them while read_only is pending. Without it, that
   * connection opens only when read_only is still pending after a third of the query budget, and
   * ends whatever it waits for (src/mysql/read-only-blockers.ts).
   */
  endAckWaits?: boolean;
  /** When a pending read_only has what it waits for ended (default a third of the query budget). */
  endBlockersAfterMs?: number;
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

/** A reached server answers a statement within this, or the path is reported as not fenced. */
const QUERY_BUDGET_MS = 3_000;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function fence(paths: readonly FencePath[], options: FenceOptions): Promise<FenceReport> {
  const started = performance.now();
  const { log } = options;
  const base = await credentialsFor({ defaultsFile: options.credentialsFile });
  const sessions: MysqlSession[] = [];
  /** Every session this fence opened, by node (paths and their second connections): spared. */
  const ours = new Map<string, Set<number>>();
  const oursOn = (node: string) => ours.get(node) ?? ours.set(node, new Set()).get(node)!;
  const open = (path: FencePath) =>
    connectWith(
      {
        user: base.user,
        ...(base.password === undefined ? {} : { password: base.password }),
        host: path.host,
        port: path.port,
      },
      {
        timeoutMs: options.connectTimeoutMs,
        queryTimeoutMs: options.queryTimeoutMs ?? QUERY_BUDGET_MS,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    ).then((session) => {
      oursOn(path.node).add(session.threadId);
      return session;
    });
  const attempts = await Promise.all(
    paths.map(async (path): Promise<PathAttempt> => {
      const at = () => Math.round(performance.now() - started);
      const attempt = () =>
        fencePath(path, () => open(path), options, { sessions, ours: oursOn(path.node) }, at);
      const first = await attempt();
      // The old primary answered, then closed our session: its own demotion's kill pass ends every
      // client session, ours included. It is alive and reachable, so one more try is what tells
      // whether it is read-only now; a second close is reported as it is.
      if (!first.report.reached || first.report.readOnly || !connectionLost(first.failure)) return first;
      log('fence.path_retried', {
        path: describePath(path),
        reason: `the server ended the fence's session (${first.report.error ?? ''}); trying once more`,
      });
      return attempt();
    }),
  );
  const reports = attempts.map((a) => a.report);
  let killed: KilledSession[] = [];
  let finalState: FenceReport['finalState'];
  try {
    // Once, through one path that made it read-only: our own fencing sessions are spared.
    const keep = new Set(sessions.map((s) => s.threadId));
    const through = attempts.findIndex((a) => a.report.readOnly);
    const session = through >= 0 ? attempts[through]!.session : undefined;
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
      reached: r.reached,
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

interface PathAttempt {
  report: PathReport;
  /** Set when every statement ran; the first that made its path read-only ends the client sessions. */
  session?: MysqlSession;
  failure?: unknown;
}

/** One try at one path: connect, make it read-only, read it back. */
async function fencePath(
  path: FencePath,
  open: () => Promise<MysqlSession>,
  options: FenceOptions,
  { sessions, ours }: { sessions: MysqlSession[]; ours: ReadonlySet<number> },
  at: () => number,
): Promise<PathAttempt> {
  let session: MysqlSession;
  try {
    session = await open();
  } catch (error) {
    return {
      report: { path, reached: false, readOnly: false, ms: at(), error: messageOf(error) },
      failure: error,
    };
  }
  sessions.push(session);
  try {
    const flavour = await detectFlavour(session);
    const { ended, endedBlockers } = await setReadOnlyEndingBlockers(session, flavour, {
      openSecond: open,
      timeoutMs: options.queryTimeoutMs ?? QUERY_BUDGET_MS,
      ackWaits: options.endAckWaits === true,
      ...(options.endBlockersAfterMs === undefined ? {} : { endBlockersAfterMs: options.endBlockersAfterMs }),
      keep: () => ours,
      onProblem: (problem) =>
        options.log('fence.read_only_waits_not_ended', {
          level: 'warn',
          path: describePath(path),
          reason: problem,
        }),
    });
    if (ended.length > 0)
      options.log('fence.ended_commits_awaiting_ack', {
        path: describePath(path),
        sessions: ended,
        reason:
          'read_only waited for commits held by a semi-sync ACK that was not coming; the statements in progress were ended while it was pending, their clients never told they committed',
      });
    if (endedBlockers.length > 0)
      options.log('fence.ended_read_only_blockers', {
        level: 'warn',
        path: describePath(path),
        sessions: endedBlockers,
        reason:
          'read_only was still waiting (a long statement or a table lock on the old primary); the sessions it waited for were ended, as the fence ends every client session once read-only',
      });
    const now = await readReadOnly(session, flavour);
    const readOnly = now.readOnly && (!flavour.hasSuperReadOnly || now.superReadOnly);
    return { report: { path, reached: true, readOnly, ms: at() }, session };
  } catch (error) {
    return {
      report: { path, reached: true, readOnly: false, ms: at(), error: messageOf(error) },
      failure: error,
    };
  }
}
