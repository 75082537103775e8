/**
 * The lab's two MariaDB servers, built with src/lab/mariadb.ts at `up`. Later `hactl lab`
 * invocations are separate processes, so stop/kill/start/status work from the files that module
 * leaves in each server's directory (option file, our pid file, socket) rather than from its
 * in-memory handle.
 *
 * The spec is one file for both nodes, so both servers get the same lab-wide passwords for the
 * accounts hactl uses, written once to option files under <dir>/db (mode 0600, never on argv).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectWith, type MysqlSession } from '../mysql/connection.js';
import { readOptionFile, renderClientSection } from '../mysql/option-file.js';
import { parseReplicaStatus } from '../mysql/replica-status.js';
import { initMariadb, startReplication, type Account, type MariadbServer } from './mariadb.js';
import { addressOf, run, type LabNode } from './network.js';
import { commandLineOf, isAlive, readPidFile, startDaemon, stopProcess, waitFor } from './processes.js';

const SERVER_ID: Record<LabNode, number> = { ha1: 1, ha2: 2 };
const PORT = 3306;

export interface DbStatus {
  alive: boolean;
  /** primary (writable), replica (read-only, replicating), read-only (neither), down. */
  role: 'primary' | 'replica' | 'read-only' | 'down' | 'unknown';
  readOnly: boolean | null;
  lag: number | null;
  replication: string | null;
  /** The replica side as SHOW SLAVE STATUS reports it, or null when the server is no replica. */
  replica: {
    /** host:port it replicates from. */
    source: string;
    io: 'yes' | 'no' | 'connecting';
    sql: boolean;
    /** The last IO or SQL error, e.g. "1236: …", or null. */
    error: string | null;
  } | null;
  gtid: string | null;
}

interface ServerFiles {
  dir: string;
  configFile: string;
  socket: string;
  ourPidFile: string;
  logFile: string;
}

/** The layout src/lab/mariadb.ts uses inside a server's directory. */
function serverFiles(dir: string): ServerFiles {
  return {
    dir,
    configFile: join(dir, 'my.cnf'),
    socket: join(dir, 'mariadb.sock'),
    ourPidFile: join(dir, 'daemon.pid'),
    logFile: join(dir, 'mariadbd.log'),
  };
}

export interface LabDatabaseOptions {
  /** The lab directory. */
  dir: string;
  netns: (node: LabNode) => string;
  /** More [mariadbd] option lines for both servers (e.g. strict semi-sync's). */
  serverOptions?: Readonly<Record<string, string | number>>;
}

export function labDatabase(options: LabDatabaseOptions) {
  const credsDir = join(options.dir, 'db');
  const creds = {
    admin: join(credsDir, 'admin.cnf'),
    replication: join(credsDir, 'replication.cnf'),
    app: join(credsDir, 'app.cnf'),
  };
  const files = (node: LabNode) => serverFiles(join(options.dir, node, 'mariadb'));
  const marker = (node: LabNode) => `--defaults-file=${files(node).configFile}`;

  const pidOf = (node: LabNode): number | undefined => {
    const pid = readPidFile(files(node).ourPidFile);
    return pid !== undefined && isAlive(pid) && (commandLineOf(pid)?.includes(marker(node)) ?? false)
      ? pid
      : undefined;
  };

  const rootSession = (node: LabNode, timeoutMs = 2_000): Promise<MysqlSession> =>
    connectWith({ user: 'root', socket: files(node).socket }, { timeoutMs });

  /** Runs `sql` (its last statement SELECT @@server_id) as the app account from the client namespace. */
  async function clientQuery(
    clientNs: string,
    host: string,
    sql: string,
    timeoutSec: number,
  ): Promise<LabNode | null> {
    const argv = ['ip', 'netns', 'exec', clientNs, 'mariadb', `--defaults-extra-file=${creds.app}`];
    argv.push('-h', host, '-P', String(PORT), `--connect-timeout=${timeoutSec}`, '-N', '-B', '-e', sql);
    const result = await run(argv, (timeoutSec + 3) * 1000);
    if (result.exitCode !== 0) return null;
    const id = Number(result.stdout.trim().split('\n').pop());
    return (Object.keys(SERVER_ID) as LabNode[]).find((node) => SERVER_ID[node] === id) ?? null;
  }

  return {
    credentials(): { credentialsFile: string; replicationCredentialsFile: string } {
      return { credentialsFile: creds.admin, replicationCredentialsFile: creds.replication };
    },

    appCredentialsFile: creds.app,

    /** Both servers, each read-only, with the same account passwords; replication is set up next. */
    async initBoth(): Promise<Record<LabNode, MariadbServer>> {
      const servers = await Promise.all(
        (['ha1', 'ha2'] as const).map((node) =>
          initMariadb({
            dir: files(node).dir,
            port: PORT,
            serverId: SERVER_ID[node],
            bindAddress: '0.0.0.0',
            netns: options.netns(node),
            readOnly: true,
            ...(options.serverOptions ? { extra: { ...options.serverOptions } } : {}),
          }),
        ),
      );
      mkdirSync(credsDir, { recursive: true, mode: 0o700 });
      const shared: Record<'admin' | 'replication' | 'app', Account> = {
        admin: {
          user: servers[0]!.admin.user,
          password: randomBytes(18).toString('base64url'),
          defaultsFile: creds.admin,
        },
        replication: {
          user: servers[0]!.replication.user,
          password: randomBytes(18).toString('base64url'),
          defaultsFile: creds.replication,
        },
        app: {
          user: servers[0]!.app.user,
          password: randomBytes(18).toString('base64url'),
          defaultsFile: creds.app,
        },
      };
      for (const account of Object.values(shared)) {
        writeFileSync(
          account.defaultsFile,
          renderClientSection({ user: account.user, password: account.password }),
          { mode: 0o600 },
        );
      }
      for (const server of servers) {
        const session = await server.session();
        try {
          // Not binlogged: both servers must keep identical GTID histories.
          await session.query('SET SESSION sql_log_bin = 0');
          for (const account of Object.values(shared)) {
            await session.query("ALTER USER ?@'%' IDENTIFIED BY ?", [account.user, account.password], {
              secrets: [account.password],
            });
          }
        } finally {
          await session.close();
        }
        // Keep the module's handle and its own option files telling the truth.
        for (const key of ['admin', 'replication', 'app'] as const) {
          server[key].password = shared[key].password;
          writeFileSync(
            server[key].defaultsFile,
            renderClientSection({
              user: server[key].user,
              password: shared[key].password,
              socket: server.socket,
            }),
            { mode: 0o600 },
          );
        }
      }
      return { ha1: servers[0]!, ha2: servers[1]! };
    },

    /**
     * ha2 ← ha1 over the inside network. Both stay read-only: only a promotion makes a server
     * writable (DESIGN safety rule 1), so ha1 becomes the primary when keepalived makes it MASTER
     * and `hactl notify` promotes it — which is what `lab up` then waits for.
     */
    async setupReplication(servers: Record<LabNode, MariadbServer>): Promise<void> {
      const replication = await readOptionFile(creds.replication, { requirePrivate: true });
      await startReplication(servers.ha2, {
        host: addressOf('ha1', 'inside'),
        port: PORT,
        account: {
          user: replication.user ?? '',
          password: replication.password ?? '',
          defaultsFile: creds.replication,
        },
      });
    },

    alive(node: LabNode): boolean {
      return pidOf(node) !== undefined;
    },

    /** Starts a stopped server again (it comes up read_only=ON, as its option file says). */
    async start(node: LabNode): Promise<void> {
      if (pidOf(node) !== undefined) return;
      const f = files(node);
      if (!existsSync(f.configFile)) throw new Error(`no MariaDB set up in ${f.dir}`);
      const daemon = startDaemon(['mariadbd', marker(node), '--user=root'], {
        netns: options.netns(node),
        logFile: f.logFile,
        pidFile: f.ourPidFile,
      });
      await waitFor(
        `mariadbd of ${node}`,
        async () => {
          if (!isAlive(daemon.pid))
            throw new Error(`mariadbd of ${node} exited during start-up; see ${f.logFile}`);
          try {
            await (await rootSession(node, 1_000)).close();
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 30_000, everyMs: 100 },
      );
    },

    async stop(node: LabNode): Promise<void> {
      const pid = pidOf(node);
      if (pid !== undefined) await stopProcess(pid, marker(node), { waitMs: 20_000 });
    },

    async kill(node: LabNode): Promise<void> {
      const pid = pidOf(node);
      if (pid !== undefined) await stopProcess(pid, marker(node), { signal: 'SIGKILL', waitMs: 5_000 });
    },

    async status(node: LabNode): Promise<DbStatus> {
      const down: DbStatus = {
        alive: false,
        role: 'down',
        readOnly: null,
        lag: null,
        replication: null,
        replica: null,
        gtid: null,
      };
      if (pidOf(node) === undefined) return down;
      let session: MysqlSession | undefined;
      try {
        session = await rootSession(node);
        const row =
          (await session.query('SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.gtid_current_pos AS gtid'))[0] ??
          {};
        const readOnly = String(row.ro) === '1' || String(row.ro).toUpperCase() === 'ON';
        const replicaRow = (await session.query('SHOW SLAVE STATUS'))[0];
        const replica = replicaRow ? parseReplicaStatus(replicaRow, { kind: 'mariadb' }) : null;
        const replicating = replica !== null && (replica.ioRunning !== 'no' || replica.sqlRunning);
        return {
          alive: true,
          role: !readOnly ? 'primary' : replicating ? 'replica' : 'read-only',
          readOnly,
          lag: replica?.lagSeconds ?? null,
          replication: replica
            ? `io=${replica.ioRunning} sql=${replica.sqlRunning ? 'yes' : 'no'}${replica.lastIoErrno || replica.lastSqlErrno ? ` error ${replica.lastIoErrno || replica.lastSqlErrno}` : ''}`
            : null,
          replica: replica
            ? {
                source: `${replica.sourceHost}:${replica.sourcePort ?? '?'}`,
                io: replica.ioRunning,
                sql: replica.sqlRunning,
                error: replica.lastIoErrno
                  ? `${replica.lastIoErrno}: ${replica.lastIoError}`
                  : replica.lastSqlErrno
                    ? `${replica.lastSqlErrno}: ${replica.lastSqlError}`
                    : null,
              }
            : null,
          gtid: String(row.gtid ?? ''),
        };
      } catch {
        return { ...down, alive: true, role: 'unknown' };
      } finally {
        await session?.close().catch(() => undefined);
      }
    },

    /** Which node's server answers on `host` from inside the client namespace (by server_id). */
    clientServerNode(clientNs: string, host: string, timeoutSec = 1): Promise<LabNode | null> {
      return clientQuery(clientNs, host, 'SELECT @@server_id', timeoutSec);
    },

    /**
     * One write through `host` (the inside VIP) from the client, as the application account (bound
     * by read_only): the node that committed it, or null when the write failed.
     */
    clientWrite(clientNs: string, host: string, timeoutSec = 2): Promise<LabNode | null> {
      const sql =
        'CREATE TABLE IF NOT EXISTS app.probe (id INT AUTO_INCREMENT PRIMARY KEY, server_id INT); ' +
        'INSERT INTO app.probe (server_id) VALUES (@@server_id); SELECT @@server_id';
      return clientQuery(clientNs, host, sql, timeoutSec);
    },

    /**
     * One insert through `host` as the application account: the new row's id once the server
     * acknowledged it, or null when the write failed (so a caller can count what must survive).
     */
    async clientInsert(clientNs: string, host: string, timeoutSec = 2): Promise<string | null> {
      const sql =
        'CREATE TABLE IF NOT EXISTS app.probe (id INT AUTO_INCREMENT PRIMARY KEY, server_id INT); ' +
        'INSERT INTO app.probe (server_id) VALUES (@@server_id); SELECT LAST_INSERT_ID()';
      const argv = ['ip', 'netns', 'exec', clientNs, 'mariadb', `--defaults-extra-file=${creds.app}`];
      argv.push('-h', host, '-P', String(PORT), `--connect-timeout=${timeoutSec}`, '-N', '-B', '-e', sql);
      const result = await run(argv, (timeoutSec + 3) * 1000);
      const id = result.stdout.trim().split('\n').pop() ?? '';
      return result.exitCode === 0 && /^[1-9]\d*$/.test(id) ? id : null;
    },
  };
}

export type LabDatabase = ReturnType<typeof labDatabase>;
