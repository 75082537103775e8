/**
 * Catching up from the fenced old primary. A promotion that finds the old primary logged
 * transactions this server lacks (src/mysql/promote.ts) would discard acknowledged writes; but
 * the fence left that server read-only with its client sessions ended, so its binlog is final and
 * it can serve them. This points replication at it, asking for what follows everything this
 * server holds, and waits until nothing is missing. A server that holds something the old
 * primary never logged cannot be served (the source refuses the position, error 1236), and the
 * wait ends there: the promotion is refused as before, with the reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MysqlSession } from './connection.js';
import { changeSource } from './demote.js';
import type { Flavour } from './flavour.js';
import { explainErrno, readReplicaStatus } from './replica-status.js';
import { readGtidState, replicationSql, type StepLogger } from './server-state.js';

const POLL_MS = 200;
const CONNECT_TIMEOUT_MS = 5_000;
/** STOP waits for the SQL thread's transaction in progress. */
const STOP_TIMEOUT_MS = 60_000;

export interface CatchUpSource {
  host: string;
  port: number;
  replication: { user: string; password: string };
}

export interface OldPrimaryCatchUp {
  caughtUp: boolean;
  waitedMs: number;
  detail: string;
}

export async function catchUpFromOldPrimary(
  session: MysqlSession,
  flavour: Flavour,
  options: {
    oldPrimary: string;
    source: CatchUpSource;
    timeoutMs: number;
    /** What this server still lacks of the old primary's final state (empty: nothing). */
    missingNow: () => Promise<string[]>;
    log: StepLogger;
    actions: string[];
    signal?: AbortSignal;
  },
): Promise<OldPrimaryCatchUp> {
  const { log, actions, source } = options;
  const started = Date.now();
  const waited = () => Date.now() - started;
  if (await readReplicaStatus(session, flavour)) {
    await session.query(replicationSql(flavour, 'STOP'), [], { timeoutMs: STOP_TIMEOUT_MS });
    actions.push('stop-replication');
  }
  const gtid = await readGtidState(session, flavour);
  await changeSource(
    session,
    flavour,
    gtid,
    { host: source.host, port: source.port },
    source.replication,
    log,
    actions,
    {
      step: 'promote',
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  await session.query(replicationSql(flavour, 'START'));
  actions.push('start-replication-from-old-primary');
  log('promote.catching_up_from_old_primary', {
    oldPrimary: options.oldPrimary,
    source: `${source.host}:${source.port}`,
    timeout_ms: options.timeoutMs,
    reason:
      'the fenced old primary is read-only with its sessions ended: what it logged is final, and it can serve it',
  });
  const maxPolls = Math.ceil(options.timeoutMs / POLL_MS) + 1;
  let missing: string[] = [];
  for (let poll = 0; poll < maxPolls && !options.signal?.aborted; poll++) {
    missing = await options.missingNow();
    if (missing.length === 0) {
      return {
        caughtUp: true,
        waitedMs: waited(),
        detail: `received and applied everything ${options.oldPrimary} logged`,
      };
    }
    const status = await readReplicaStatus(session, flavour);
    const errno = status ? status.lastIoErrno || status.lastSqlErrno : 0;
    if (status && errno !== 0) {
      const error = status.lastIoErrno ? status.lastIoError : status.lastSqlError;
      return {
        caughtUp: false,
        waitedMs: waited(),
        detail: `replication from ${options.oldPrimary} stopped with error ${errno} (${error.slice(0, 300)})${explainErrno(errno) ? `: ${explainErrno(errno)}` : ''}`,
      };
    }
    if (waited() >= options.timeoutMs) break;
    await sleep(POLL_MS, undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
  }
  return {
    caughtUp: false,
    waitedMs: waited(),
    detail: `still missing ${missing.join(', ')} after ${waited()} ms of replication from ${options.oldPrimary}`,
  };
}
