/**
 * One writable MariaDB server for a describe block: started before its tests with an admin
 * session open, stopped and removed after them (also when a test failed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { initMariadb, type MariadbServer } from '../../src/lab/mariadb.js';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { freePort } from './mariadb-pair.js';

export interface OneMariadb {
  dir: string;
  server: MariadbServer;
  admin: MysqlSession;
}

/** Call inside describe(); read the result's fields from the tests (set once beforeAll ran). */
export function oneMariadb(name: string): OneMariadb {
  const state = {} as OneMariadb;
  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), `hactl-${name}-`));
    state.server = await initMariadb({
      dir: state.dir,
      port: await freePort(),
      serverId: 1,
      readOnly: false,
    });
    state.admin = await state.server.session();
  }, 120_000);
  afterAll(async () => {
    await state.admin?.close();
    await state.server?.stop();
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}
