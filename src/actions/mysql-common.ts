/** The local database as the spec describes it, and the mysql library's step log mapped onto pino. */
import type { MysqlTarget } from '../mysql/connection.js';
import { readOptionFile } from '../mysql/option-file.js';
import type { MysqlSpec } from '../spec/schema.js';
import type { ActionContext } from './types.js';

export function mysqlSpec(context: ActionContext): MysqlSpec {
  const mysql = context.spec.mysql;
  // The schema refuses mysql.* actions without a mysql section; this guards direct callers.
  if (!mysql) throw new Error('the spec has no mysql section');
  return mysql;
}

export function localTarget(mysql: MysqlSpec): MysqlTarget {
  return mysql.socket
    ? { socket: mysql.socket, defaultsFile: mysql.credentials_file }
    : { host: mysql.host, port: mysql.port, defaultsFile: mysql.credentials_file };
}

type Level = 'debug' | 'info' | 'warn' | 'error';

export function stepLogger(context: ActionContext, action: string) {
  return (event: string, fields: Record<string, unknown>): void => {
    const { level, ...rest } = fields;
    const chosen: Level = level === 'warn' || level === 'error' || level === 'debug' ? level : 'info';
    context.log[chosen]({ ...rest, event, state: context.state, action });
  };
}

export type ReplicationAccount =
  | { account: { user: string; password: string }; problem?: undefined }
  | { account?: undefined; problem: string | undefined };

/**
 * The replication account (mysql.replication_credentials_file), or why there is none. Never
 * throws: a broken file must not stop the read-only part of a step, only what needs the account.
 */
export async function replicationAccount(mysql: MysqlSpec): Promise<ReplicationAccount> {
  if (!mysql.replication_credentials_file) return { problem: undefined };
  try {
    const file = await readOptionFile(mysql.replication_credentials_file);
    if (file.user === undefined || file.password === undefined)
      throw new Error(
        `${mysql.replication_credentials_file} needs user and password in its [client] section`,
      );
    return { account: { user: file.user, password: file.password } };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}
