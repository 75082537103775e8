/**
 * dist/vendor-mysql2.cjs (the mysql2 that `hactl notify` and `hactl check` load) is built with
 * stand-ins (scripts/build.mjs): its error-name table loads on first use, tls/zlib/crypto lazily.
 * This drives the built bundle against a MySQL-protocol server on loopback (mysql2's own server
 * side, from node_modules, untouched) to prove the trimmed client still connects, queries, and
 * names server errors as mysql2 does, and reads a 64-bit number through long (whose
 * WebAssembly the build turns off) to the same digits.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const bundle = new URL('../../dist/vendor-mysql2.cjs', import.meta.url).pathname;

interface ServerConnection {
  writeOk(args: { affectedRows: number; insertId: number }): void;
  serverHandshake(args: Record<string, unknown>): void;
  on(event: 'query', listener: (sql: string) => void): void;
  on(event: 'error', listener: () => void): void;
  writeTextResult(rows: Record<string, unknown>[], columns: Record<string, unknown>[]): void;
  writeError(args: { code: number; message: string }): void;
}
interface Server {
  listen(port: number, host: string, callback: () => void): void;
  on(event: 'connection', listener: (connection: ServerConnection) => void): void;
  close(): void;
  _server: { address(): AddressInfo };
}

let server: Server;
let port = 0;

beforeAll(async () => {
  const mysql2 = require('mysql2') as { createServer(): Server };
  server = mysql2.createServer();
  server.on('connection', (connection) => {
    connection.on('error', () => undefined);
    connection.serverHandshake({
      protocolVersion: 10,
      serverVersion: '10.11.0-MariaDB-fake',
      connectionId: 7,
      statusFlags: 2,
      characterSet: 8,
      capabilityFlags: 0xf7ff,
    });
    connection.on('query', (sql) => {
      if (sql.startsWith('SELECT')) {
        connection.writeTextResult(
          [{ r: '0' }],
          [
            {
              catalog: 'def',
              schema: '',
              table: '',
              orgTable: '',
              name: 'r',
              orgName: 'r',
              characterSet: 33,
              columnLength: 1,
              columnType: 253,
              flags: 0,
              decimals: 0,
            },
          ],
        );
      } else if (sql.startsWith('INSERT')) {
        // 2^60 + 2^12: exact as a double, and past 2^53, so mysql2 reads it through long.
        connection.writeOk({ affectedRows: 1, insertId: 2 ** 60 + 2 ** 12 });
      } else if (sql.startsWith('KILL')) {
        connection.writeError({ code: 1094, message: 'Unknown thread id: 99' });
      } else {
        connection.writeError({ code: 1045, message: 'Access denied for user' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server._server.address().port;
});

afterAll(() => server?.close());

describe('the built mysql2 bundle', () => {
  it('connects, queries, and names server errors as mysql2 does', async () => {
    const client = require(bundle) as {
      createConnection(options: Record<string, unknown>): Promise<{
        query(sql: string): Promise<[Record<string, unknown>[], unknown]>;
        end(): Promise<void>;
      }>;
    };
    const connection = await client.createConnection({
      host: '127.0.0.1',
      port,
      user: 'hactl',
      supportBigNumbers: true,
      bigNumberStrings: true,
      password: 'secret',
      connectTimeout: 10_000,
    });
    try {
      const [rows] = await connection.query('SELECT @@GLOBAL.read_only AS r');
      expect(rows).toEqual([{ r: '0' }]);
      const [header] = await connection.query('INSERT INTO t VALUES (1)');
      expect(header).toMatchObject({ affectedRows: 1, insertId: String(2n ** 60n + 2n ** 12n) });
      await expect(connection.query('KILL 99')).rejects.toMatchObject({
        errno: 1094,
        code: 'ER_NO_SUCH_THREAD',
        sqlMessage: 'Unknown thread id: 99',
      });
      await expect(connection.query('DO 1')).rejects.toMatchObject({
        errno: 1045,
        code: 'ER_ACCESS_DENIED_ERROR',
      });
    } finally {
      await connection.end().catch(() => undefined);
    }
  });

  it('compiles no WebAssembly when it loads', () => {
    const script = `let compiled = 0;
      const Module = WebAssembly.Module;
      WebAssembly.Module = function (...args) { compiled++; return new Module(...args); };
      require(${JSON.stringify(bundle)});
      process.stdout.write(String(compiled));`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })).toBe('0');
  });
});
