/**
 * `hactl check replication`: this server replicates and keeps up — both threads running, no
 * error numbers, lag within --max-lag, and with --caught-up everything received is applied
 * (the failback gate). Columns are read by name for every flavour (src/mysql/replica-status.ts).
 */
import { UsageError } from '../errors.js';
import type { MysqlSession } from '../mysql/connection.js';
import {
  asResult,
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  connectionFromFlags,
  openCheckSession,
  type MysqlConnectionOptions,
} from './mysql.js';
import { booleanFlag, COMMON_FLAGS_USAGE, stringFlag } from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';
import { EXAMPLE_CHECKS } from './examples.js';
import { exampleBlock } from './spec-args.js';

export interface ReplicationCheckOptions extends MysqlConnectionOptions {
  maxLagSeconds: number | undefined;
  allowConnecting: boolean;
  caughtUp: boolean;
}

const USAGE = `hactl check replication --defaults-file PATH [--host HOST --port PORT | --socket PATH] [--max-lag N] [--allow-connecting] [--caught-up] [options]

Healthy when this server is a replica whose IO and SQL threads run, Last_IO_Errno and
Last_SQL_Errno are 0 and the lag (Seconds_Behind_Master/Source) is at most --max-lag. Works on
MySQL 5.7/8.0 (SHOW SLAVE STATUS), 8.0.22+/8.4 (SHOW REPLICA STATUS) and MariaDB 10.x.

Options:
${CONNECTION_USAGE}
  --max-lag N            most seconds behind the source that still counts as healthy (default: any)
  --allow-connecting     an IO thread still connecting (lag NULL) counts as healthy
  --caught-up            also require everything received to be applied (MariaDB: gtid_slave_pos has
                         reached Gtid_IO_Pos; MySQL: Retrieved_Gtid_Set within Executed_Gtid_Set);
                         use it to gate failback
  --timeout SECONDS      total budget, decimal; keep it below the vrrp_script timeout
${COMMON_FLAGS_USAGE}

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage or configuration error.

Example keepalived.conf block (on the standby), as render-config writes it:
${exampleBlock(EXAMPLE_CHECKS.replication)}`;

function fromFlags(values: FlagValues): ReplicationCheckOptions {
  const text = stringFlag(values, 'max-lag', 'replication');
  let maxLagSeconds: number | undefined;
  if (text !== undefined) {
    maxLagSeconds = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(maxLagSeconds)) {
      throw new UsageError(
        `--max-lag ${JSON.stringify(text)} is not a whole number of seconds`,
        'run `hactl check replication --help` for the flags',
      );
    }
  }
  return {
    ...connectionFromFlags(values, 'replication'),
    maxLagSeconds,
    allowConnecting: booleanFlag(values, 'allow-connecting'),
    caughtUp: booleanFlag(values, 'caught-up'),
  };
}

async function evaluate(session: MysqlSession, options: ReplicationCheckOptions): Promise<CheckResult> {
  const [
    { parseFlavour },
    { readReplicaStatus, explainErrno },
    { parseGtidList, positionGaps, formatGtidList },
  ] = await Promise.all([
    import('../mysql/flavour.js'),
    import('../mysql/replica-status.js'),
    import('../mysql/gtid.js'),
  ]);
  const row = (await session.query('SELECT VERSION() AS v, @@version_comment AS c'))[0] ?? {};
  const flavour = parseFlavour(String(row.v ?? ''), String(row.c ?? ''));
  const status = await readReplicaStatus(session, flavour);
  const where = session.address;
  if (!status)
    return { healthy: false, detail: `${where} is not a replica (no replication source configured)` };
  const source = `${status.sourceHost}:${status.sourcePort ?? '?'}`;
  const explain = (errno: number) => (explainErrno(errno) ? ` — ${explainErrno(errno)}` : '');

  if (
    status.lastIoErrno !== 0 &&
    status.ioRunning !== 'yes' &&
    !(status.ioRunning === 'connecting' && options.allowConnecting)
  ) {
    return {
      healthy: false,
      detail: `${where}: IO thread ${status.ioRunning} with error ${status.lastIoErrno}: ${status.lastIoError}${explain(status.lastIoErrno)}`,
    };
  }
  if (status.lastSqlErrno !== 0) {
    return {
      healthy: false,
      detail: `${where}: SQL thread error ${status.lastSqlErrno}: ${status.lastSqlError}${explain(status.lastSqlErrno)}`,
    };
  }
  if (status.ioRunning === 'no')
    return { healthy: false, detail: `${where}: IO thread is stopped (source ${source})` };
  if (status.ioRunning === 'connecting' && !options.allowConnecting) {
    return {
      healthy: false,
      detail: `${where}: IO thread is still connecting to ${source}${status.lastIoError ? ` (${status.lastIoError})` : ''}`,
    };
  }
  if (!status.sqlRunning) return { healthy: false, detail: `${where}: SQL thread is stopped` };
  if (status.lagSeconds === null && !options.allowConnecting) {
    return {
      healthy: false,
      detail: `${where}: lag unknown (Seconds_Behind NULL) while replicating from ${source}`,
    };
  }
  if (
    options.maxLagSeconds !== undefined &&
    status.lagSeconds !== null &&
    status.lagSeconds > options.maxLagSeconds
  ) {
    return {
      healthy: false,
      detail: `${where}: ${status.lagSeconds} s behind ${source}, more than --max-lag ${options.maxLagSeconds}`,
    };
  }
  let caught = '';
  if (options.caughtUp) {
    if (flavour.kind === 'mariadb') {
      const applied = String((await session.query('SELECT @@GLOBAL.gtid_slave_pos AS p'))[0]?.p ?? '');
      const gaps = positionGaps(parseGtidList(applied), parseGtidList(status.gtidIoPos));
      if (gaps.length > 0) {
        return {
          healthy: false,
          detail: `${where}: not caught up: received ${status.gtidIoPos}, applied ${applied || '(nothing)'} (behind in ${formatGtidList(gaps)})`,
        };
      }
      caught = `, caught up at ${applied || 'empty position'}`;
    } else {
      const retrieved = status.retrievedGtidSet ?? '';
      const ok = (await session.query('SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed) AS ok', [retrieved]))[0]
        ?.ok;
      if (Number(ok) !== 1)
        return {
          healthy: false,
          detail: `${where}: not caught up: received ${retrieved}, applied ${status.executedGtidSet ?? '?'}`,
        };
      caught = ', caught up';
    }
  }
  const lag = status.lagSeconds === null ? 'lag unknown' : `${status.lagSeconds} s behind`;
  return {
    healthy: true,
    detail: `${where}: replicating from ${source}, IO ${status.ioRunning}, SQL running, ${lag}${caught}`,
  };
}

async function run(options: ReplicationCheckOptions, signal: AbortSignal): Promise<CheckResult> {
  const opened = await openCheckSession(options.target, signal);
  if ('result' in opened) return opened.result;
  try {
    return await asResult(signal, () => evaluate(opened.session, options));
  } finally {
    await opened.session.close();
  }
}

export const replicationCheck: CheckKind<ReplicationCheckOptions> = {
  kind: 'replication',
  summary: 'replica threads running, no errors, lag within --max-lag; --caught-up gates failback',
  usage: USAGE,
  flags: {
    ...CONNECTION_FLAGS,
    'max-lag': { type: 'string' },
    'allow-connecting': { type: 'boolean' },
    'caught-up': { type: 'boolean' },
  },
  fromFlags,
  run,
};
