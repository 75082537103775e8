/**
 * `mysql.promote`: make the local database the writable primary, draining the relay log first
 * (src/mysql/promote.ts) — when the decision core's verdict allows it (src/cluster/decide.ts, which
 * applies src/cluster/promotion-guard.ts to what it observed). This action never judges for itself:
 * told no, it keeps the database read-only (making it so if it started writable) and fails, so the
 * default `abort` policy keeps the application stopped. With `fencing`, the old primary is fenced
 * (src/fence/) before anything here becomes writable. A successful promotion is remembered in
 * the node's lineage.
 */
import { writeLineage } from '../cluster/lineage.js';
import { fenceBeforePromoting } from '../fence/before-promote.js';
import type { PromotionVerdict } from '../cluster/promotion-guard.js';
import { connect, type MysqlSession } from '../mysql/connection.js';
import { detectFlavour } from '../mysql/flavour.js';
import { CatchUpTimeout, promote } from '../mysql/promote.js';
import { readReadOnly, setReadOnly } from '../mysql/server-state.js';
import { commitsMayWaitForAck } from '../mysql/read-only-blockers.js';
import type { CatchUpSource } from '../mysql/old-primary-catch-up.js';
import { peerAddresses } from './addresses.js';
import { localTarget, mysqlSpec, replicationAccount, stepLogger } from './mysql-common.js';
import {
  failed,
  messageOf,
  ok,
  type ActionContext,
  type ActionOf,
  type ActionResult,
  type ActionRun,
} from './types.js';

/** Without a verdict from the core (a caller that skipped the decision), the safe answer is no. */
const NO_VERDICT: NonNullable<ActionContext['promotion']> = {
  verdict: {
    allow: false,
    reason: 'no promotion verdict was given to this step (it runs only as part of a decided plan)',
    problems: ['no verdict'],
    wayOut: 'run the transition through `hactl notify`, which decides before it acts',
  },
  evidence: {},
};

/** Acts on a refusal: read-only it stays (or becomes), and the step fails with the way out. */
async function holdReadOnly(
  session: MysqlSession,
  context: ActionContext,
  verdict: Extract<PromotionVerdict, { allow: false }>,
  evidence: Record<string, unknown>,
): Promise<ActionResult> {
  const log = stepLogger(context, 'mysql.promote');
  const flavour = await detectFlavour(session);
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
    ...evidence,
    decision: 'stay read-only',
    reason: verdict.reason,
    way_out: verdict.wayOut,
  });
  return failed(`stays read-only: ${verdict.reason}. Way out: ${verdict.wayOut}`, {
    stale: true,
    problems: verdict.problems,
  });
}

/** The fenced old primary on the replication network, with the replication account, if both are known. */
async function catchUpSource(context: ActionContext, oldPrimary: string): Promise<CatchUpSource | undefined> {
  const peer = peerAddresses(context.spec, context.node).find((p) => p.node === oldPrimary);
  const { account } = await replicationAccount(mysqlSpec(context));
  return peer && account ? { host: peer.host, port: peer.port, replication: account } : undefined;
}

export const run: ActionRun<ActionOf<'mysql.promote'>> = async (_action, context, signal) => {
  const mysql = mysqlSpec(context);
  const { verdict, evidence } = context.promotion ?? NO_VERDICT;
  let session: MysqlSession;
  try {
    session = await connect(localTarget(mysql), { timeoutMs: 3000, signal });
  } catch (error) {
    return failed(`cannot reach the local database: ${messageOf(error)}`);
  }
  try {
    if (!verdict.allow) return await holdReadOnly(session, context, verdict, evidence);
    const log = stepLogger(context, 'mysql.promote');
    // Recorded with the lineage only when the operator's reason actually overrode a refusal.
    const override = verdict.overridden.length > 0 ? context.acceptStale : undefined;
    if (verdict.overridden.length > 0) {
      log('promote.override', { level: 'error', ...evidence, decision: 'promote', reason: verdict.reason });
    } else {
      log('promote.guard', { ...evidence, decision: 'promote', reason: verdict.reason });
    }
    let fencedFinalState: { node: string; state: string } | undefined;
    if (context.fencing) {
      const fenced = await fenceBeforePromoting(context.fencing, {
        credentialsFile: mysql.credentials_file,
        endAckWaits: commitsMayWaitForAck(mysql.semi_sync),
        log,
        signal,
      });
      if (!fenced.verdict.promote) {
        return failed(`stays read-only: ${fenced.verdict.reason}. Way out: ${fenced.verdict.wayOut}`, {
          fenced: fenced.report.fenced,
        });
      }
      fencedFinalState = fenced.report.finalState;
    }
    const catchUpFrom = fencedFinalState ? await catchUpSource(context, fencedFinalState.node) : undefined;
    const report = await promote(session, {
      ...(fencedFinalState ? { oldPrimary: fencedFinalState } : {}),
      ...(catchUpFrom ? { catchUpFrom } : {}),
      topology: mysql.topology,
      catchUpTimeoutSec: mysql.catch_up_timeout,
      onCatchUpTimeout: mysql.on_catch_up_timeout,
      semiSync: mysql.semi_sync,
      ...(context.promotionStillWanted ? { stillWanted: context.promotionStillWanted } : {}),
      log: stepLogger(context, 'mysql.promote'),
      takingOver: (applied) => remember(context, applied, 'promotion under way: relay log drained', override),
    });
    await remember(context, report.gtidPosition, `promoted (${report.outcome})`, override);
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
    return failed(`stays read-only: ${messageOf(error)}`);
  } finally {
    await session.close();
  }
};

/**
 * Records this node as the primary. Called when the drain is done (the promotion is under way)
 * and again once writable; a failed write is reported, not fatal: the database is (about to be)
 * writable whatever happens here.
 */
async function remember(
  context: ActionContext,
  position: string,
  what: string,
  override: string | undefined,
): Promise<void> {
  const log = stepLogger(context, 'mysql.promote');
  const lineage = {
    node: context.node.name,
    primary: context.node.name,
    primaryPosition: position,
    following: false,
    diverged: [],
    reason: override === undefined ? what : `${what}, by operator override: ${override}`,
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
