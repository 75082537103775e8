/**
 * Direct, bounded probes of a MySQL/MariaDB server for `hactl status` without an agent: the
 * server's role, read_only, GTID position and replication threads, and which server answers
 * through a VIP. Credentials come from the spec's option files, read asynchronously after the
 * path is vetted (no synchronous call on a user path inside the budget); no message carries them.
 */
import { readFile, stat } from 'node:fs/promises';
import { problemWithUserPath } from '../fs/user-path.js';
import type { Credentials } from '../mysql/connection.js';
import { parseOptionFile } from '../mysql/option-file.js';
import type { DatabaseStatus } from './types.js';

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The account in an option file, or why it cannot be used. Never the file's content in a message. */
export async function readCredentials(
  file: string,
  field: string,
  signal: AbortSignal,
): Promise<{ ok: true; credentials: Credentials } | { ok: false; problem: string }> {
  const problem = await problemWithUserPath(file, field);
  if (problem) return { ok: false, problem };
  try {
    const mode = (await stat(file)).mode;
    if ((mode & 0o077) !== 0)
      return {
        ok: false,
        problem: `${field} ${file} is readable by others (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${file}\``,
      };
    const text = await readFile(file, { encoding: 'utf8', signal });
    const options = parseOptionFile(text, file);
    const credentials: Credentials = { user: options.user ?? 'root' };
    if (options.password !== undefined) credentials.password = options.password;
    return { ok: true, credentials };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, problem: `${field} ${file} cannot be read (${code ?? messageOf(error)})` };
  }
}

export type Where = { host: string; port: number } | { socket: string };

function addressOf(where: Where): string {
  return 'socket' in where ? where.socket : `${where.host}:${where.port}`;
}

function withWhere(credentials: Credentials, where: Where): Credentials {
  const { user, password } = credentials;
  const base: Credentials = password === undefined ? { user } : { user, password };
  return 'socket' in where
    ? { ...base, socket: where.socket }
    : { ...base, host: where.host, port: where.port };
}

/** MySQL "access denied" errors: the next account may be let in where this one is not. */
const DENIED = new Set([1044, 1045, 1130, 1227]);

/** Reads one server's state in one short session; every failure becomes `reachable: false`. */
export async function probeDatabase(
  accounts: readonly Credentials[],
  where: Where,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<DatabaseStatus> {
  const address = addressOf(where);
  const [
    { connectWith, MysqlError },
    { detectFlavour },
    { readReplicaStatus },
    { readReadOnly, readGtidState, readSemiSync },
  ] = await Promise.all([
    import('../mysql/connection.js'),
    import('../mysql/flavour.js'),
    import('../mysql/replica-status.js'),
    import('../mysql/server-state.js'),
  ]);
  let lastProblem = 'no account to connect with (mysql.credentials_file)';
  for (const account of accounts) {
    let session;
    try {
      session = await connectWith(withWhere(account, where), {
        timeoutMs,
        signal,
        queryTimeoutMs: timeoutMs,
        // A status probe reads a few small rows: a peer that floods is cut off.
        maxReadBytes: 1024 * 1024,
      });
    } catch (error) {
      lastProblem = messageOf(error);
      if (error instanceof MysqlError && error.errno !== undefined && DENIED.has(error.errno)) continue;
      return { reachable: false, address, problem: lastProblem };
    }
    try {
      const flavour = await detectFlavour(session);
      const [readOnly, gtid, idRow] = [
        await readReadOnly(session, flavour),
        await readGtidState(session, flavour),
        (await session.query('SELECT @@GLOBAL.server_id AS id'))[0] ?? {},
      ];
      let replication: Extract<DatabaseStatus, { reachable: true }>['replication'];
      try {
        const status = await readReplicaStatus(session, flavour);
        replication = status && {
          source: `${status.sourceHost}:${status.sourcePort ?? ''}`,
          io_running: status.ioRunning,
          sql_running: status.sqlRunning,
          lag_seconds: status.lagSeconds,
          last_io_errno: status.lastIoErrno,
          last_io_error: status.lastIoError,
          last_sql_errno: status.lastSqlErrno,
          last_sql_error: status.lastSqlError,
          gtid_io_pos: status.gtidIoPos,
        };
      } catch (error) {
        // The replication account may read read_only and GTIDs but not the replica status.
        replication = { unknown: messageOf(error) };
      }
      const semiSync = await readSemiSync(session).catch((error: unknown) => ({ unknown: messageOf(error) }));
      const ro = readOnly.readOnly || readOnly.superReadOnly;
      return {
        reachable: true,
        address,
        server_id: Number(idRow.id),
        flavour: flavour.kind,
        read_only: ro,
        role: ro ? 'replica' : 'primary',
        gtid_position: gtid.position,
        gtid_applied: gtid.slavePos,
        replication,
        semi_sync: semiSync,
      };
    } catch (error) {
      return { reachable: false, address, problem: messageOf(error) };
    } finally {
      await session.close();
    }
  }
  return { reachable: false, address, problem: lastProblem };
}

/** The server_id of whatever MySQL answers at `where`, or why none does. */
export async function probeServerId(
  accounts: readonly Credentials[],
  where: Where,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ ok: true; serverId: number } | { ok: false; problem: string }> {
  const { connectWith, MysqlError } = await import('../mysql/connection.js');
  let lastProblem = 'no account to connect with (mysql.credentials_file)';
  for (const account of accounts) {
    try {
      const session = await connectWith(withWhere(account, where), {
        timeoutMs,
        signal,
        queryTimeoutMs: timeoutMs,
        maxReadBytes: 64 * 1024,
      });
      try {
        const row = (await session.query('SELECT @@GLOBAL.server_id AS id'))[0] ?? {};
        return { ok: true, serverId: Number(row.id) };
      } finally {
        await session.close();
      }
    } catch (error) {
      lastProblem = messageOf(error);
      if (error instanceof MysqlError && error.errno !== undefined && DENIED.has(error.errno)) continue;
      return { ok: false, problem: lastProblem };
    }
  }
  return { ok: false, problem: lastProblem };
}
