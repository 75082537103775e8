/**
 * A protocol-level stand-in for the admin interfaces of ProxySQL and Atlas, neither of which
 * installs on our machines. It speaks the MySQL wire protocol (mysql2's server side), checks the
 * mysql_native_password scramble, and accepts only the admin statements those proxies document,
 * with their semantics: ProxySQL's mysql_servers (primary key hostgroup_id+hostname+port) plus
 * LOAD … TO RUNTIME / SAVE … TO DISK copies; Atlas's backends list that renumbers after REMOVE.
 * Anything else is answered with an error, as the real admin modules do.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import mysql from 'mysql2';

export interface ServerRow {
  hostgroup_id: number;
  hostname: string;
  port: number;
}

export interface Backend {
  address: string;
  type: 'rw' | 'ro';
}

export interface FakeAdmin {
  port: number;
  statements: string[];
  proxysql: { memory: ServerRow[]; runtime: ServerRow[]; disk: ServerRow[] };
  /** `saved`: the backends at the last SAVE CONFIG (the config file's copy). */
  atlas: { backends: Backend[]; saved?: Backend[] };
  /** Users that logged in (to prove the credentials file was used). */
  logins: string[];
  close(): Promise<void>;
}

const sha1 = (data: Buffer) => createHash('sha1').update(data).digest();

function tokenMatches(password: string, scramble: Buffer, token: Buffer): boolean {
  const stage1 = sha1(Buffer.from(password));
  const mask = sha1(Buffer.concat([scramble, sha1(stage1)]));
  const expected = Buffer.from(stage1.map((byte, i) => byte ^ mask[i]!));
  return token.length === expected.length && expected.equals(token);
}

const column = (name: string) => ({
  catalog: 'def',
  schema: '',
  table: '',
  orgTable: '',
  name,
  orgName: name,
  characterSet: 33,
  columnLength: 1024,
  columnType: 253,
  flags: 0,
  decimals: 0,
});

type Conn = mysql.Connection & {
  serverHandshake(args: unknown): void;
  writeColumns(columns: unknown[]): void;
  writeTextRow(row: unknown[]): void;
  writeEof(): void;
  writeOk(args?: unknown): void;
  writeError(args: { message: string; code: number }): void;
  on(event: 'query', listener: (sql: string) => void): void;
};

/** mysql2's server side does not restart the packet sequence per command; a client's next command starts at 0. */
function nextCommand(conn: Conn): void {
  (conn as unknown as { sequenceId: number }).sequenceId = 0;
}

function writeRows(conn: Conn, names: string[], rows: Record<string, unknown>[]): void {
  conn.writeColumns(names.map(column));
  for (const row of rows) conn.writeTextRow(names.map((n) => (row[n] === undefined ? null : String(row[n]))));
  conn.writeEof();
}

export interface FakeAdminListen {
  host?: string;
  /** Default: any free port. */
  port?: number;
  /** Called after every statement (the lab's stand-in publishes its state from here). */
  onStatement?: (state: FakeAdmin) => void;
  /** Holds the first login's answer this long (a slow handshake, for races with a second connect). */
  firstLoginDelayMs?: number;
}

export async function startFakeAdmin(
  kind: 'proxysql' | 'atlas',
  credentials: { user: string; password: string },
  listen: FakeAdminListen = {},
): Promise<FakeAdmin> {
  const state: FakeAdmin = {
    port: 0,
    statements: [],
    proxysql: { memory: [], runtime: [], disk: [] },
    atlas: { backends: [] },
    logins: [],
    close: async () => undefined,
  };
  const same = (a: ServerRow, b: ServerRow) =>
    a.hostgroup_id === b.hostgroup_id && a.hostname === b.hostname && a.port === b.port;

  const proxysql = (sql: string, conn: Conn) => {
    const p = state.proxysql;
    let m: RegExpExecArray | null;
    if (
      (m =
        /^SELECT hostgroup_id, hostname, port FROM mysql_servers WHERE hostgroup_id IN \(([\d,]+)\)$/i.exec(
          sql,
        ))
    ) {
      const groups = m[1]!.split(',').map(Number);
      return writeRows(
        conn,
        ['hostgroup_id', 'hostname', 'port'],
        p.memory.filter((r) => groups.includes(r.hostgroup_id)) as never,
      );
    }
    if (
      (m =
        /^INSERT INTO mysql_servers \(hostgroup_id, hostname, port\) VALUES \((\d+), '([^']*)', (\d+)\)$/i.exec(
          sql,
        ))
    ) {
      const row = { hostgroup_id: Number(m[1]), hostname: m[2]!, port: Number(m[3]) };
      if (p.memory.some((r) => same(r, row))) {
        return conn.writeError({
          message:
            'UNIQUE constraint failed: mysql_servers.hostgroup_id, mysql_servers.hostname, mysql_servers.port',
          code: 1045,
        });
      }
      p.memory.push(row);
      return conn.writeOk({ affectedRows: 1 });
    }
    if (
      (m = /^DELETE FROM mysql_servers WHERE hostgroup_id=(\d+) AND hostname='([^']*)' AND port=(\d+)$/i.exec(
        sql,
      ))
    ) {
      const row = { hostgroup_id: Number(m[1]), hostname: m[2]!, port: Number(m[3]) };
      const before = p.memory.length;
      p.memory = p.memory.filter((r) => !same(r, row));
      return conn.writeOk({ affectedRows: before - p.memory.length });
    }
    if (/^LOAD MYSQL SERVERS TO RUNTIME$/i.test(sql)) {
      p.runtime = p.memory.map((r) => ({ ...r }));
      return conn.writeOk();
    }
    if (/^SAVE MYSQL SERVERS TO DISK$/i.test(sql)) {
      p.disk = p.memory.map((r) => ({ ...r }));
      return conn.writeOk();
    }
    return conn.writeError({ message: `near "${sql.split(' ')[0]}": syntax error`, code: 1045 });
  };

  const atlas = (sql: string, conn: Conn) => {
    const list = state.atlas.backends;
    let m: RegExpExecArray | null;
    if (/^SELECT \* FROM backends$/i.test(sql)) {
      const rows = list.map((b, i) => ({
        backend_ndx: i + 1,
        address: b.address,
        state: 'up',
        type: b.type,
      }));
      return writeRows(conn, ['backend_ndx', 'address', 'state', 'type'], rows);
    }
    if ((m = /^REMOVE BACKEND (\d+)$/i.exec(sql))) {
      const index = Number(m[1]);
      if (index < 1 || index > list.length)
        return conn.writeError({ message: 'invalid backend_id', code: 1105 });
      list.splice(index - 1, 1);
      return conn.writeOk();
    }
    if ((m = /^ADD (MASTER|SLAVE) (\d+\.\d+\.\d+\.\d+:\d+)$/i.exec(sql))) {
      list.push({ address: m[2]!, type: m[1]!.toUpperCase() === 'MASTER' ? 'rw' : 'ro' });
      return conn.writeOk();
    }
    // Atlas 2.2+ writes its running backends back to its config file.
    if (/^SAVE CONFIG$/i.test(sql)) {
      state.atlas.saved = list.map((b) => ({ ...b }));
      return conn.writeOk();
    }
    return conn.writeError({ message: "use 'SELECT * FROM help' to see the supported commands", code: 1105 });
  };

  let connectionId = 0;
  const server = mysql.createServer((raw) => {
    const conn = raw as unknown as Conn;
    conn.serverHandshake({
      protocolVersion: 10,
      serverVersion:
        kind === 'proxysql' ? '5.5.30 (ProxySQL Admin Module stand-in)' : '5.0.81-log (Atlas admin stand-in)',
      connectionId: ++connectionId,
      statusFlags: 2,
      characterSet: 33,
      capabilityFlags: 0xf7ff,
      authCallback: (
        params: { user: string; authPluginData1: Buffer; authPluginData2: Buffer; authToken: Buffer },
        done: (error: null, mysqlError?: { message: string; code: number }) => void,
      ) => {
        const scramble = Buffer.concat([params.authPluginData1, params.authPluginData2]);
        if (
          params.user === credentials.user &&
          tokenMatches(credentials.password, scramble, params.authToken)
        ) {
          state.logins.push(params.user);
          const answer = () => {
            done(null);
            nextCommand(conn);
          };
          if (state.logins.length === 1 && listen.firstLoginDelayMs)
            setTimeout(answer, listen.firstLoginDelayMs);
          else answer();
        } else done(null, { message: `Access denied for user '${params.user}'`, code: 1045 });
      },
    });
    conn.on('query', (sql: string) => {
      const text = sql.trim();
      state.statements.push(text);
      (kind === 'proxysql' ? proxysql : atlas)(text, conn);
      nextCommand(conn);
      listen.onStatement?.(state);
    });
    (conn as unknown as { on(e: 'error', l: () => void): void }).on('error', () => undefined);
  }) as unknown as {
    listen(port: number, host: string, cb: () => void): void;
    close(cb: () => void): void;
    _server: { address(): AddressInfo };
  };
  await new Promise<void>((resolve) => server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', resolve));
  state.port = server._server.address().port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
