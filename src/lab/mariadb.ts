/**
 * Throwaway MariaDB servers for tests and the lab: own option file, datadir, socket and pid file
 * under `dir`; started by hand (no systemd) and stopped only by our PID. Accounts get random
 * passwords that exist only in 0600 option files and in memory — never on a command line.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectWith, type MysqlSession, type MysqlTarget } from '../mysql/connection.js';
import { renderClientSection } from '../mysql/option-file.js';
import { isAlive, startDaemon, stopProcess, waitFor } from './processes.js';

const run = promisify(execFile);

export interface MariadbOptions {
  dir: string;
  port: number;
  serverId: number;
  /** Default 127.0.0.1; the lab binds 0.0.0.0 inside a namespace so the VIP reaches it. */
  bindAddress?: string;
  netns?: string;
  /** Start read-only (DESIGN safety rule 1). Default true. */
  readOnly?: boolean;
  /** More [mariadbd] options, e.g. { gtid_domain_id: 1, rpl_semi_sync_master_enabled: 'ON' }. */
  extra?: Record<string, string | number | boolean>;
  /** Bound for start-up readiness (default 30 s). */
  readyTimeoutMs?: number;
}

export interface Account {
  user: string;
  password: string;
  /** 0600 option file with [client] user/password/socket. */
  defaultsFile: string;
}

export interface MariadbServer {
  dir: string;
  port: number;
  serverId: number;
  /** Address clients use over TCP (the bind address, or 127.0.0.1 when bound to 0.0.0.0). */
  host: string;
  socket: string;
  configFile: string;
  logFile: string;
  /** Full privileges incl. READ_ONLY ADMIN and replication control (what promote/demote use). */
  admin: Account;
  /** REPLICATION SLAVE only: what CHANGE MASTER uses. */
  replication: Account;
  /** An application account: DML and DDL on `app`.*, bound by read_only. */
  app: Account;
  pid(): number | undefined;
  /** TCP target with the given account's option file (default admin). */
  target(account?: Account): MysqlTarget;
  /** Session over the unix socket (works across network namespaces). */
  session(account?: Account, timeoutMs?: number): Promise<MysqlSession>;
  start(): Promise<void>;
  /** SIGTERM (clean shutdown) or SIGKILL (crash); waits until the process is gone. */
  stop(options?: { kill?: boolean }): Promise<void>;
}

function randomPassword(): string {
  // Quotes, backslash and a semicolon: escaping mistakes show up in tests, not in production.
  return `${randomBytes(12).toString('base64url')}'"\\;#x`;
}

function serverConfig(
  o: MariadbOptions,
  paths: { data: string; socket: string; pidFile: string; tmp: string },
): string {
  const options: Record<string, string | number | boolean> = {
    datadir: paths.data,
    socket: paths.socket,
    'pid-file': paths.pidFile,
    tmpdir: paths.tmp,
    port: o.port,
    'bind-address': o.bindAddress ?? '127.0.0.1',
    server_id: o.serverId,
    log_bin: join(paths.data, 'binlog'),
    relay_log: join(paths.data, 'relay'),
    log_slave_updates: 'ON',
    gtid_strict_mode: 'ON',
    binlog_format: 'ROW',
    read_only: (o.readOnly ?? true) ? 'ON' : 'OFF',
    'skip-name-resolve': true,
    'skip-log-error': true,
    innodb_buffer_pool_size: '32M',
    innodb_log_file_size: '16M',
    innodb_log_buffer_size: '4M',
    performance_schema: 'OFF',
    max_connections: 50,
    ...o.extra,
  };
  const lines = ['[mariadbd]'];
  for (const [key, value] of Object.entries(options)) lines.push(value === true ? key : `${key}=${value}`);
  return lines.join('\n') + '\n';
}

/** Lines of an option file that name this server's own paths, address or id. */
const PER_SERVER_OPTION =
  /^(datadir|socket|pid-file|tmpdir|port|bind-address|server_id|log_bin|relay_log|read_only)=/;

let serverVersion: Promise<string> | undefined;

/**
 * Gives `data` the system tables of a new server. mariadb-install-db's bootstrap takes 3.5 s on an
 * idle machine and 8–10 s on a loaded one, twice per lab. What it writes depends on the server
 * binary and the storage options, not on paths, ports or server ids (bootstrap writes no binlog),
 * so it runs once per version and option set, into a directory under the system temp dir that
 * appears whole (built beside it, then renamed), and every server gets a copy.
 */
async function freshDataDir(configFile: string, data: string): Promise<void> {
  serverVersion ??= run('mariadbd', ['--version'], { timeout: 30_000 }).then((r) => r.stdout.trim());
  const options = readFileSync(configFile, 'utf8')
    .split('\n')
    .filter((line) => !PER_SERVER_OPTION.test(line))
    .join('\n');
  const key = createHash('sha256')
    .update(`${await serverVersion}\n${options}`)
    .digest('hex')
    .slice(0, 16);
  const template = join(tmpdir(), `hactl-mariadb-datadir-${key}`);
  if (
    !(await stat(template).then(
      (st) => st.isDirectory(),
      () => false,
    ))
  ) {
    const building = `${template}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await run(
        'mariadb-install-db',
        [
          `--defaults-file=${configFile}`,
          `--datadir=${building}`,
          '--auth-root-authentication-method=normal',
          '--user=root',
          '--skip-test-db',
        ],
        { timeout: 60_000 },
      ).catch((error: { stderr?: string; message: string }) => {
        throw new Error(
          `mariadb-install-db failed for ${data}: ${error.stderr?.slice(-2000) ?? error.message}`,
        );
      });
      // Another process may have renamed its copy into place first; either one will do.
      await rename(building, template).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    } finally {
      await rm(building, { recursive: true, force: true });
    }
  }
  await run('cp', ['-a', '--', `${template}/.`, data], { timeout: 60_000 });
}

function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

export async function initMariadb(options: MariadbOptions): Promise<MariadbServer> {
  const dir = options.dir;
  const data = join(dir, 'data');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const socket = join(dir, 'mariadb.sock');
  const pidFile = join(dir, 'mariadbd.pid');
  const ourPidFile = join(dir, 'daemon.pid');
  const configFile = join(dir, 'my.cnf');
  const logFile = join(dir, 'mariadbd.log');
  writeFileSync(configFile, serverConfig(options, { data, socket, pidFile, tmp }));

  await freshDataDir(configFile, data);

  const bind = options.bindAddress ?? '127.0.0.1';
  const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
  const account = (user: string): Account => {
    const password = randomPassword();
    const defaultsFile = join(dir, `${user}.cnf`);
    writePrivate(defaultsFile, renderClientSection({ user, password, socket }));
    return { user, password, defaultsFile };
  };
  const admin = account('hactl_admin');
  const replication = account('hactl_repl');
  const app = account('app');
  const marker = `--defaults-file=${configFile}`;
  let pid: number | undefined;

  const server: MariadbServer = {
    dir,
    port: options.port,
    serverId: options.serverId,
    host,
    socket,
    configFile,
    logFile,
    admin,
    replication,
    app,
    pid: () => pid,
    target: (who = admin) => ({ host, port: options.port, defaultsFile: who.defaultsFile }),
    session: (who = admin, timeoutMs = 5000) =>
      connectWith({ user: who.user, password: who.password, socket }, { timeoutMs }),
    async start() {
      if (pid !== undefined && isAlive(pid)) return;
      const daemon = startDaemon(['mariadbd', marker, '--user=root'], {
        netns: options.netns,
        logFile,
        pidFile: ourPidFile,
      });
      pid = daemon.pid;
      const started = pid;
      try {
        await waitFor(
          `mariadbd on ${socket}`,
          async () => {
            if (!isAlive(started))
              throw new Error(`mariadbd exited during start-up; log ${logFile}:\n${tail(logFile)}`);
            try {
              const s = await connectWith({ user: 'root', socket }, { timeoutMs: 1000 });
              await s.close();
              return true;
            } catch {
              return false;
            }
          },
          { timeoutMs: options.readyTimeoutMs ?? 30_000, everyMs: 50 },
        );
      } catch (error) {
        // Never leave a server behind that the caller has no handle on.
        await stopProcess(started, marker, { signal: 'SIGKILL', waitMs: 10_000 });
        pid = undefined;
        throw error;
      }
    },
    async stop({ kill = false } = {}) {
      if (pid === undefined) return;
      await stopProcess(pid, marker, { signal: kill ? 'SIGKILL' : 'SIGTERM', waitMs: 20_000 });
      pid = undefined;
    },
  };

  await server.start();
  try {
    await createAccounts();
  } catch (error) {
    await server.stop({ kill: true });
    throw error;
  }
  return server;

  async function createAccounts(): Promise<void> {
    const root = await connectWith({ user: 'root', socket }, { timeoutMs: 5000 });
    try {
      const create = async (who: Account, grants: string[]) => {
        await root.query("CREATE USER ?@'%' IDENTIFIED BY ?", [who.user, who.password], {
          secrets: [who.password],
        });
        for (const grant of grants) await root.query(`GRANT ${grant} TO ?@'%'`, [who.user]);
      };
      // Accounts are created on every node: keep them out of the binlog so GTIDs stay equal.
      await root.query('SET SESSION sql_log_bin = 0');
      await create(admin, ['ALL PRIVILEGES ON *.*']);
      await create(replication, ['REPLICATION SLAVE ON *.*']);
      await root.query('CREATE DATABASE IF NOT EXISTS app');
      await create(app, ['SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, LOCK TABLES ON app.*']);
      // Only the socket root stays passwordless; nothing reaches the server over TCP without a password.
      await root.query("DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1'");
      const hostRows = await root.query(
        "SELECT Host AS h FROM mysql.user WHERE User = 'root' AND Host NOT IN ('localhost')",
      );
      for (const row of hostRows) await root.query('DROP USER ?@?', ['root', String(row.h)]);
    } finally {
      await root.close();
    }
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Makes `replica` replicate from `source` with GTID slave_pos; waits until both threads run. */
export async function startReplication(
  replica: MariadbServer,
  source: { host: string; port: number; account: Account },
  options: { delaySec?: number; timeoutMs?: number } = {},
): Promise<void> {
  const session = await replica.session();
  try {
    await session.query('STOP SLAVE');
    await session.query(
      `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_DELAY = ?`,
      [source.host, source.port, source.account.user, source.account.password, options.delaySec ?? 0],
      { secrets: [source.account.password] },
    );
    await session.query('START SLAVE');
    await waitFor(
      `replication ${source.host}:${source.port} → ${replica.host}:${replica.port}`,
      async () => {
        const row = (await session.query('SHOW SLAVE STATUS'))[0];
        if (row && row.Slave_IO_Running === 'No' && Number(row.Last_IO_Errno) !== 0)
          throw new Error(`replica IO error ${String(row.Last_IO_Errno)}: ${String(row.Last_IO_Error)}`);
        return row?.Slave_IO_Running === 'Yes' && row?.Slave_SQL_Running === 'Yes';
      },
      { timeoutMs: options.timeoutMs ?? 15_000, everyMs: 50 },
    );
  } finally {
    await session.close();
  }
}
