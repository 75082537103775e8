/**
 * Two real MariaDB servers under strict semi-sync, as the agent's rules meet them: ha1 on
 * 127.0.0.2 (server_id 1, the primary) and ha2 on 127.0.0.3 (server_id 2, its semi-sync replica),
 * one admin and one replication account for the pair, a spec per node, and a commit that waits for
 * an ACK that never comes. Call `stop()` from afterAll: it runs whatever failed before.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { writeLineage } from '../../src/cluster/lineage.js';
import { runStrictRejoin, type RejoinOutcome } from '../../src/cluster/rejoin-run.js';
import { createLogger } from '../../src/log.js';
import { initMariadb, startReplication, type MariadbServer } from '../../src/lab/mariadb.js';
import { connectWith, type MysqlSession } from '../../src/mysql/connection.js';
import { renderClientSection } from '../../src/mysql/option-file.js';
import { demote, DivergedError } from '../../src/mysql/demote.js';
import { promote } from '../../src/mysql/promote.js';
import { STRICT_SEMI_SYNC_SERVER_OPTIONS } from '../../src/mysql/semi-sync.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { NodeSpec, Spec } from '../../src/spec/schema.js';
import { freePort, statusValue, until } from './mariadb-pair.js';

export const STRICT = {
  topology: 'one-way',
  catchUpTimeoutSec: 10,
  onCatchUpTimeout: 'stay-read-only',
} as const;

export interface StrictPair {
  dir: string;
  stateDir: string;
  a: MariadbServer;
  b: MariadbServer;
  /** Admin sessions on ha1 and ha2. */
  sa: MysqlSession;
  sb: MysqlSession;
  replication: { user: string; password: string };
  /** The pair's spec as node `name` sees it (its local socket), and that node. */
  specFor(name: 'ha1' | 'ha2'): { spec: Spec; node: NodeSpec };
  /** A new admin session on `name` (the pair's one admin password), closed by stop(). */
  adminSession(name: 'ha1' | 'ha2'): Promise<MysqlSession>;
  /** Sessions opened for a test; closed by stop(). */
  keep(session: MysqlSession): MysqlSession;
  stop(): Promise<void>;
}

const SPEC_ACTIONS = `actions:
  master: [{ type: mysql.promote }]
  backup: [{ type: mysql.demote }]
`;

export async function startStrictPair(
  name: string,
  stepLog: (event: string, fields: Record<string, unknown>) => void,
): Promise<StrictPair> {
  const dir = mkdtempSync(join(tmpdir(), `hactl-${name}-${process.pid}-`));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const servers: MariadbServer[] = [];
  const sessions: MysqlSession[] = [];
  const stop = async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
    for (const m of servers) await m.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    const extra = { ...STRICT_SEMI_SYNC_SERVER_OPTIONS };
    const server = async (sub: string, serverId: number, bindAddress: string, readOnly: boolean) => {
      const started = await initMariadb({
        dir: join(dir, sub),
        port,
        serverId,
        readOnly,
        bindAddress,
        extra,
      });
      servers.push(started);
      return started;
    };
    const a = await server('a', 1, '127.0.0.2', false);
    const b = await server('b', 2, '127.0.0.3', true);
    await startReplication(b, { host: a.host, port, account: a.replication });
    // One admin and one replication account for the pair, as in a real one.
    const password = a.admin.password;
    const root = await connectWith({ user: 'root', socket: b.socket }, { timeoutMs: 5000 });
    try {
      await root.query('SET SESSION sql_log_bin = 0');
      await root.query("ALTER USER 'hactl_admin'@'%' IDENTIFIED BY ?", [password], { secrets: [password] });
      await root.query("ALTER USER 'hactl_repl'@'%' IDENTIFIED BY ?", [a.replication.password], {
        secrets: [a.replication.password],
      });
    } finally {
      await root.close();
    }
    const admin = join(dir, 'admin.cnf');
    const repl = join(dir, 'repl.cnf');
    writeFileSync(admin, renderClientSection({ user: 'hactl_admin', password }), { mode: 0o600 });
    writeFileSync(repl, renderClientSection({ user: a.replication.user, password: a.replication.password }), {
      mode: 0o600,
    });
    const specFor = (who: 'ha1' | 'ha2') => {
      const socket = who === 'ha1' ? a.socket : b.socket;
      const spec = parseSpecText(
        `version: 1
cluster: rj
nodes:
  - { name: ha1, priority: 150, networks: { lan: { interface: lo, address: 127.0.0.2 } } }
  - { name: ha2, priority: 120, networks: { lan: { interface: lo, address: 127.0.0.3 } } }
vips: [{ name: lan, address: 192.0.2.50/24, network: lan, virtual_router_id: 51 }]
paths: { runtime_dir: ${dir}/run, state_dir: ${stateDir} }
agent: { enabled: true }
mysql: { credentials_file: ${admin}, socket: ${socket}, port: ${port}, replication_credentials_file: ${repl}, semi_sync: strict }
${SPEC_ACTIONS}`,
        `${who}.yaml`,
      );
      return { spec, node: spec.nodes.find((n) => n.name === who)! };
    };
    const keep = (session: MysqlSession) => {
      sessions.push(session);
      return session;
    };
    const adminSession = async (who: 'ha1' | 'ha2') =>
      keep(who === 'ha1' ? await a.session() : await b.session({ ...b.admin, password }));
    const sa = await adminSession('ha1');
    const sb = await adminSession('ha2');
    await promote(sa, { ...STRICT, semiSync: 'strict', log: stepLog });
    // b's IO thread registered before a's source side was on: reconnect it as a semi-sync replica.
    await sb.query('STOP SLAVE');
    await sb.query('SET GLOBAL rpl_semi_sync_slave_enabled = ON');
    await sb.query('START SLAVE');
    await until(
      'b acknowledges as a semi-sync replica',
      async () => (await statusValue(sa, 'Rpl_semi_sync_master_clients')) !== '0',
    );
    return { dir, stateDir, a, b, sa, sb, replication: a.replication, specFor, adminSession, keep, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts `sql` as the application on `server` and returns once it waits for a semi-sync ACK;
 * `told` says what its client was told in the end (wrapped: awaiting it here would wait for that).
 */
export async function commitAwaitingAck(
  pair: StrictPair,
  server: MariadbServer,
  admin: MysqlSession,
  sql: string,
): Promise<{ told: Promise<string> }> {
  const writer = pair.keep(await server.session(server.app, 120_000));
  const told = writer.query(sql).then(
    () => 'acknowledged',
    (e: unknown) => `not acknowledged: ${(e as Error).message}`,
  );
  await until(
    `${sql} waits for the ACK`,
    async () =>
      (
        await admin.query(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for semi-sync ACK%'",
        )
      ).length === 1,
  );
  return { told };
}

/**
 * Demotes `node` (its admin `session`) against the writable peer, as mysql.demote does, expecting
 * it to find itself diverged, and records that in its lineage as the action would. Returns the
 * GTIDs it holds that the peer lacks.
 */
export async function recordDivergence(
  pair: StrictPair,
  node: 'ha1' | 'ha2',
  session: MysqlSession,
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<string[]> {
  const peer = node === 'ha1' ? pair.b : pair.a;
  const error = await demote(session, {
    topology: 'one-way',
    semiSync: 'strict',
    peer: { host: peer.host, port: peer.port },
    replication: pair.replication,
    log,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DivergedError);
  const diverged = error as DivergedError;
  await writeLineage(pair.stateDir, {
    node,
    primary: node === 'ha1' ? 'ha2' : 'ha1',
    primaryPosition: diverged.peerPosition,
    following: false,
    diverged: diverged.extraGtids,
    reason: 'diverged from the writable primary: not re-pointed',
    at: new Date().toISOString(),
  });
  return diverged.extraGtids;
}

/** The agent's strict rejoin of `node` from its peer, as the agent runs it (holding no VIP). */
export function rejoin(pair: StrictPair, node: 'ha1' | 'ha2'): Promise<RejoinOutcome> {
  const { spec, node: self } = pair.specFor(node);
  return runStrictRejoin({
    spec,
    node: self,
    log: createLogger({ level: 'warn' }),
    signal: AbortSignal.timeout(150_000),
    timeoutMs: 120_000,
    addresses: () => new Set<string>(),
  });
}
