/**
 * `mysql.promote`: make the local database the writable primary, draining the relay log first
 * (src/mysql/promote.ts) — but only when this node can show it has every write the last primary
 * it knew of had (src/cluster/promotion-guard.ts). A refusal (stale or diverged node, catch-up
 * timeout under stay-read-only) is a failed result, so the default `abort` policy keeps the
 * application stopped. A successful promotion is remembered in the node's lineage.
 */
import { readLineage, writeLineage, type LineageRead } from '../cluster/lineage.js';
import { promotionVerdict, type ReplicaFacts } from '../cluster/promotion-guard.js';
import { connect, type MysqlSession } from '../mysql/connection.js';
import { coverageOf } from '../mysql/coverage.js';
import { detectFlavour } from '../mysql/flavour.js';
import { CatchUpTimeout, promote } from '../mysql/promote.js';
import { readReplicaStatus } from '../mysql/replica-status.js';
import { readReadOnly, setReadOnly } from '../mysql/server-state.js';
import { localTarget, mysqlSpec, stepLogger } from './mysql-common.js';
import {
  failed,
  messageOf,
  ok,
  type ActionContext,
  type ActionOf,
  type ActionResult,
  type ActionRun,
} from './types.js';

async function guard(
  session: MysqlSession,
  context: ActionContext,
  lineage: LineageRead,
): Promise<ActionResult | undefined> {
  const log = stepLogger(context, 'mysql.promote');
  const flavour = await detectFlavour(session);
  const status = await readReplicaStatus(session, flavour);
  const record = lineage.kind === 'ok' ? lineage.lineage : undefined;
  const coverage =
    record && record.primary !== context.node.name
      ? await coverageOf(session, flavour, status, record.primaryPosition)
      : undefined;
  const replica: ReplicaFacts | null = status && {
    io: status.ioRunning,
    sqlRunning: status.sqlRunning,
    lastIoErrno: status.lastIoErrno,
    lastIoError: status.lastIoError,
    lastSqlErrno: status.lastSqlErrno,
    lastSqlError: status.lastSqlError,
    source: `${status.sourceHost}:${status.sourcePort}`,
  };
  const verdict = promotionVerdict({
    self: context.node.name,
    lineage,
    replica,
    coverage,
    acceptStale: context.acceptStale,
  });
  const seen = {
    lineage: record
      ? {
          primary: record.primary,
          primary_position: record.primaryPosition,
          following: record.following,
          diverged: record.diverged,
          at: record.at,
        }
      : lineage.kind,
    coverage,
  };
  if (!verdict.allow) {
    // Refusing is not enough when the server is already writable (it started so): make it safe.
    const before = await readReadOnly(session, flavour);
    if (!before.readOnly) {
      await setReadOnly(session, flavour, true);
      log('promote.made_read_only', {
        level: 'error',
        reason:
          'the server was writable although this node cannot show it is current; set read_only=ON in its option file so it starts read-only',
      });
    }
    log('promote.refused_stale', {
      level: 'error',
      ...seen,
      decision: 'stay read-only',
      reason: verdict.reason,
      way_out: verdict.wayOut,
    });
    return failed(`stays read-only: ${verdict.reason}. Way out: ${verdict.wayOut}`, {
      stale: true,
      problems: verdict.problems,
    });
  }
  if (verdict.overridden.length > 0) {
    log('promote.override', { level: 'error', ...seen, decision: 'promote', reason: verdict.reason });
  } else {
    log('promote.guard', { ...seen, decision: 'promote', reason: verdict.reason });
  }
  return undefined;
}

export const run: ActionRun<ActionOf<'mysql.promote'>> = async (_action, context, signal) => {
  const mysql = mysqlSpec(context);
  const stateDir = context.spec.paths.state_dir;
  const [lineage, connected] = await Promise.all([
    readLineage(stateDir, context.node.name),
    connect(localTarget(mysql), { timeoutMs: 3000, signal }).then(
      (session) => ({ session }),
      (error: unknown) => ({ error }),
    ),
  ]);
  if ('error' in connected) return failed(`cannot reach the local database: ${messageOf(connected.error)}`);
  const { session } = connected;
  try {
    const refusal = await guard(session, context, lineage);
    if (refusal) return refusal;
    const report = await promote(session, {
      topology: mysql.topology,
      catchUpTimeoutSec: mysql.catch_up_timeout,
      onCatchUpTimeout: mysql.on_catch_up_timeout,
      semiSync: mysql.semi_sync,
      log: stepLogger(context, 'mysql.promote'),
      takingOver: (applied) => remember(context, applied, 'promotion under way: relay log drained'),
    });
    await remember(context, report.gtidPosition, `promoted (${report.outcome})`);
    const semi = report.semiSync.verdict;
    return ok(
      `${report.outcome} (${report.flavour}, catch-up ${report.catchUp.result}, gtid ${report.gtidPosition}); ${semi}`,
      {
        outcome: report.outcome,
        catch_up: report.catchUp.result,
        catch_up_ms: report.catchUp.waitedMs,
        gtid_position: report.gtidPosition,
      },
    );
  } catch (error) {
    if (error instanceof CatchUpTimeout) {
      return failed(`stays read-only: ${error.message}`, {
        catch_up: error.reason,
        target: error.target,
        applied: error.applied,
      });
    }
    const diverged = (error as { name?: string }).name === 'DivergedError';
    const result = failed(`stays read-only: ${messageOf(error)}`);
    return diverged ? { ...result, diverged: true } : result;
  } finally {
    await session.close();
  }
};

/**
 * Records this node as the primary. Called when the drain is done (the promotion is under way)
 * and again once writable; a failed write is reported, not fatal: the database is (about to be)
 * writable whatever happens here.
 */
async function remember(context: ActionContext, position: string, what: string): Promise<void> {
  const log = stepLogger(context, 'mysql.promote');
  const lineage = {
    node: context.node.name,
    primary: context.node.name,
    primaryPosition: position,
    following: false,
    diverged: [],
    reason:
      context.acceptStale === undefined ? what : `${what}, by operator override: ${context.acceptStale}`,
    at: new Date().toISOString(),
  };
  try {
    await writeLineage(context.spec.paths.state_dir, lineage);
    log('promote.lineage', { primary: lineage.primary, primary_position: position, reason: lineage.reason });
  } catch (error) {
    log('promote.lineage_not_saved', {
      level: 'error',
      reason: `the lineage record could not be written (${messageOf(error)}): after a restart this node cannot show it was primary`,
    });
  }
}
