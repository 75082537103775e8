/**
 * `hactl check mysql`: the server answers with our credentials and, optionally, plays the expected
 * role (primary = writable, replica = read_only). Credentials only from an option file: there is
 * deliberately no --password flag. mysql2 loads lazily inside connect().
 */
import { stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { problemWithUserPath } from '../fs/user-path.js';
import type { MysqlError, MysqlSession, MysqlTarget } from '../mysql/connection.js';
import { COMMON_FLAGS_USAGE, intFlag, requiredString, stringFlag, wireValue } from './options.js';
import type { CheckFlags, CheckKind, CheckResult, FlagValues } from './types.js';
import { EXAMPLE_CHECKS } from './examples.js';
import { exampleBlock } from './spec-args.js';

export interface MysqlConnectionOptions {
  target: MysqlTarget;
}

export interface MysqlCheckOptions extends MysqlConnectionOptions {
  expectRole: 'primary' | 'replica' | undefined;
}

export const CONNECTION_FLAGS: CheckFlags = {
  'defaults-file': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  socket: { type: 'string' },
};

export const CONNECTION_USAGE = `  --defaults-file PATH   MySQL option file with a [client] section: user, password and optionally
                         host/port/socket (required; mode 0600 or 0400, else exit 2)
  --host HOST            server address (overrides the file; default 127.0.0.1)
  --port PORT            TCP port (overrides the file; default 3306)
  --socket PATH          unix socket instead of TCP`;

export function connectionFromFlags(values: FlagValues, kind: string): MysqlConnectionOptions {
  const defaultsFile = requiredString(values, 'defaults-file', kind);
  const target: MysqlTarget = { defaultsFile };
  const hostText = stringFlag(values, 'host', kind);
  const host = hostText === undefined ? undefined : wireValue(hostText, 'host', kind);
  const socket = stringFlag(values, 'socket', kind);
  const port = intFlag(values, 'port', kind, { min: 1, max: 65535 });
  if (host !== undefined && socket !== undefined) {
    throw new UsageError(
      '--host and --socket exclude each other',
      `run \`hactl check ${kind} --help\` for the flags`,
    );
  }
  if (host !== undefined) target.host = host;
  if (socket !== undefined) target.socket = socket;
  if (port !== undefined) target.port = port;
  return { target };
}

/**
 * Most bytes a check session reads from the server: its answers are a few rows, and a peer that
 * floods is cut off here instead of filling memory (mysql2 buffers whole packets of up to 16 MiB).
 */
export const MAX_CHECK_READ_BYTES = 1024 * 1024;

/** Largest credentials file read: it holds a [client] section of a few lines. */
const MAX_OPTION_FILE_BYTES = 64 * 1024;

/**
 * The credentials file is read synchronously by the option-file parser, so it is vetted first,
 * asynchronously: a pseudo-filesystem, a FIFO or a device there would block or never end.
 */
async function vetOptionFile(path: string): Promise<void> {
  const problem = await problemWithUserPath(path, '--defaults-file');
  if (problem) throw new UsageError(problem, 'give the MySQL option file with the [client] credentials');
  let info;
  try {
    info = await stat(path);
  } catch {
    return; // missing or unreadable: the option-file reader says so in its own words
  }
  if (!info.isFile() || info.size > MAX_OPTION_FILE_BYTES) {
    throw new UsageError(
      `--defaults-file ${JSON.stringify(path)} is ${info.isFile() ? `${info.size} bytes long` : 'not a regular file'}`,
      `give a MySQL option file (a regular file of at most ${MAX_OPTION_FILE_BYTES / 1024} KiB with a [client] section)`,
    );
  }
}

/** Connects within the check's signal; an unreachable server is a result, a bad credentials file throws. */
export async function openCheckSession(
  target: MysqlTarget,
  signal: AbortSignal,
): Promise<{ session: MysqlSession } | { result: CheckResult }> {
  await vetOptionFile(target.defaultsFile);
  const { connect, MysqlError } = await import('../mysql/connection.js');
  try {
    // The signal carries the real budget; the driver timeouts are only a backstop.
    return {
      session: await connect(target, { timeoutMs: 10_000, signal, maxReadBytes: MAX_CHECK_READ_BYTES }),
    };
  } catch (error) {
    if (error instanceof MysqlError)
      return { result: { healthy: false, detail: unreachableDetail(error, signal) } };
    throw error;
  }
}

export function unreachableDetail(error: MysqlError, signal: AbortSignal): string {
  if (error.code === 'ABORTED') {
    const reason: unknown = signal.reason;
    return `${error.message}: ${reason instanceof Error ? reason.message : 'aborted'}`;
  }
  return error.message;
}

/** Every failure while talking to the server becomes an unhealthy result, never a crash. */
export async function asResult(signal: AbortSignal, body: () => Promise<CheckResult>): Promise<CheckResult> {
  const { MysqlError } = await import('../mysql/connection.js');
  try {
    return await body();
  } catch (error) {
    if (error instanceof MysqlError) return { healthy: false, detail: unreachableDetail(error, signal) };
    throw error;
  }
}

const USAGE = `hactl check mysql --defaults-file PATH [--host HOST --port PORT | --socket PATH] [--expect-role primary|replica] [options]

Healthy when the server accepts the credentials from the option file and answers a query, and,
with --expect-role, plays that role: primary = read_only OFF (and super_read_only OFF on MySQL),
replica = read_only ON. There is no --password flag: passwords never go on a command line.

Options:
${CONNECTION_USAGE}
  --expect-role ROLE     primary or replica (default: any)
  --timeout SECONDS      total budget, decimal; keep it below the vrrp_script timeout
${COMMON_FLAGS_USAGE}

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage or configuration error.

Example keepalived.conf block, as render-config writes it:
${exampleBlock(EXAMPLE_CHECKS.mysql)}`;

function fromFlags(values: FlagValues): MysqlCheckOptions {
  const role = stringFlag(values, 'expect-role', 'mysql');
  if (role !== undefined && role !== 'primary' && role !== 'replica') {
    throw new UsageError(
      `--expect-role ${JSON.stringify(role)} is neither primary nor replica`,
      'run `hactl check mysql --help` for the flags',
    );
  }
  return { ...connectionFromFlags(values, 'mysql'), expectRole: role };
}

async function run(options: MysqlCheckOptions, signal: AbortSignal): Promise<CheckResult> {
  const opened = await openCheckSession(options.target, signal);
  if ('result' in opened) return opened.result;
  const { session } = opened;
  try {
    return await asResult(signal, async () => {
      const row =
        (await session.query('SELECT VERSION() AS v, @@version_comment AS c, @@GLOBAL.read_only AS ro'))[0] ??
        {};
      const mariadb = /mariadb/i.test(`${String(row.v)} ${String(row.c)}`);
      let superReadOnly = false;
      if (!mariadb) {
        const sro = await session.query("SHOW GLOBAL VARIABLES LIKE 'super_read_only'");
        superReadOnly = /^(1|ON)$/i.test(String(sro[0]?.Value ?? ''));
      }
      const readOnly = /^(1|ON)$/i.test(String(row.ro));
      const name = `${mariadb ? 'MariaDB' : 'MySQL'} ${String(row.v).split('-')[0]} at ${session.address}`;
      const state = `read_only=${readOnly ? 'ON' : 'OFF'}${superReadOnly ? ', super_read_only=ON' : ''}`;
      if (options.expectRole === 'primary' && (readOnly || superReadOnly)) {
        return { healthy: false, detail: `${name} is read-only (${state}), expected a writable primary` };
      }
      if (options.expectRole === 'replica' && !readOnly) {
        return { healthy: false, detail: `${name} is writable (${state}), expected a read-only replica` };
      }
      return {
        healthy: true,
        detail: `${name} is up, ${state}${options.expectRole ? ` (${options.expectRole})` : ''}`,
      };
    });
  } finally {
    await session.close();
  }
}

export const mysqlCheck: CheckKind<MysqlCheckOptions> = {
  kind: 'mysql',
  summary: 'MySQL/MariaDB answers with the option-file credentials; optional role (read_only) check',
  usage: USAGE,
  flags: { ...CONNECTION_FLAGS, 'expect-role': { type: 'string' } },
  fromFlags,
  run,
};
