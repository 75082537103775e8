/**
 * A primary + replica MariaDB pair on 127.0.0.1 for one test file: free ports in 23306..23399, a
 * mkdtemp directory, teardown that runs even when tests fail (call `stop()` from afterAll).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  initMariadb,
  startReplication,
  type MariadbOptions,
  type MariadbServer,
} from '../../src/lab/mariadb.js';
import { waitFor } from '../../src/lab/processes.js';
import type { MysqlSession } from '../../src/mysql/connection.js';

const taken = new Set<number>();

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let port = 23306; port <= 23399; port++) {
    if (taken.has(port)) continue;
    if (await portFree(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port in 23306..23399');
}

export interface Pair {
  dir: string;
  primary: MariadbServer;
  replica: MariadbServer;
  /** Every password of the pair: tests assert none shows up in argv or messages. */
  secrets: string[];
  stop(): Promise<void>;
}

export async function startPair(
  options: { replicate?: boolean; extra?: MariadbOptions['extra'] } = {},
): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-mariadb-'));
  const servers: MariadbServer[] = [];
  const stop = async () => {
    for (const server of servers) await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = await initMariadb({
      dir: join(dir, 'a'),
      port: await freePort(),
      serverId: 1,
      readOnly: false,
      extra: options.extra,
    });
    servers.push(primary);
    const replica = await initMariadb({
      dir: join(dir, 'b'),
      port: await freePort(),
      serverId: 2,
      readOnly: true,
      extra: options.extra,
    });
    servers.push(replica);
    if (options.replicate ?? true) {
      await startReplication(replica, {
        host: primary.host,
        port: primary.port,
        account: primary.replication,
      });
    }
    const secrets = [primary, replica].flatMap((s) => [
      s.admin.password,
      s.replication.password,
      s.app.password,
    ]);
    return { dir, primary, replica, secrets, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Command lines of every process on the machine that contain one of `secrets`. */
export function argvLeaks(secrets: string[]): string[] {
  const leaks: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (secrets.some((secret) => cmdline.includes(secret)))
      leaks.push(`${entry}: ${cmdline.split('\0').join(' ').slice(0, 80)}`);
  }
  return leaks;
}

/** Polls `probe` until true; bounded (src/lab/processes.ts waitFor with a 15 s default). */
export function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  return waitFor(what, probe, { timeoutMs });
}

/** The first column of the first row of `sql`, as text (a status value, a count). */
export async function one(session: MysqlSession, sql: string): Promise<string> {
  const row = (await session.query(sql))[0] ?? {};
  return String(Object.values(row)[0]);
}

/**
 * A global status variable's value ('' when the server has none by that name). Not `one()`: the
 * first column of SHOW STATUS is the variable's name, so a check through it could never fail.
 */
export async function statusValue(session: MysqlSession, name: string): Promise<string> {
  const row = (await session.query('SHOW GLOBAL STATUS LIKE ?', [name]))[0];
  return row === undefined ? '' : String(row.Value ?? row.VALUE);
}

/** Creates app.t on the primary and waits until replication brought it to the replica. */
export async function createReplicatedTable(pair: Pair): Promise<void> {
  const primary = await pair.primary.session();
  const replica = await pair.replica.session();
  try {
    await primary.query('CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)');
    await until(
      'table replicated',
      async () => (await replica.query("SHOW TABLES FROM app LIKE 't'")).length === 1,
    );
  } finally {
    await primary.close();
    await replica.close();
  }
}
