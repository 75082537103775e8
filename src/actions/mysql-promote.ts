/**
 * `mysql.promote`: make the local database the writable primary, draining the relay log first
 * (src/mysql/promote.ts). A refusal (catch-up timeout under stay-read-only, diverged data) is a
 * failed result, so the default `abort` policy keeps the application stopped.
 */
import { connect } from '../mysql/connection.js';
import { CatchUpTimeout, promote } from '../mysql/promote.js';
import { localTarget, mysqlSpec, stepLogger } from './mysql-common.js';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

export const run: ActionRun<ActionOf<'mysql.promote'>> = async (_action, context, signal) => {
  const mysql = mysqlSpec(context);
  let session;
  try {
    session = await connect(localTarget(mysql), { timeoutMs: 3000, signal });
  } catch (error) {
    return failed(`cannot reach the local database: ${messageOf(error)}`);
  }
  try {
    const report = await promote(session, {
      topology: mysql.topology,
      catchUpTimeoutSec: mysql.catch_up_timeout,
      onCatchUpTimeout: mysql.on_catch_up_timeout,
      semiSync: mysql.semi_sync,
      log: stepLogger(context, 'mysql.promote'),
    });
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
