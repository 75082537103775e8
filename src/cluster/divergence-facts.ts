/**
 * The facts behind the promotion guard's strict divergence proof (src/cluster/promotion-guard.ts):
 * this server's GTID state and what its IO thread received, and the peer's — read-only or not,
 * server_id, binlog state, semi-sync settings, registered replicas — over one short connection
 * with the admin account (the fence uses the same one). Read only when a promotion is in view under
 * strict semi-sync and the lineage says this node diverged, so an ordinary failover never pays it.
 * Any failure is a fact ("unreadable, because …"), never a hang: every step is bounded.
 */
import { peerAddresses } from '../actions/addresses.js';
import { connectWith, type MysqlSession } from '../mysql/connection.js';
import type { Flavour } from '../mysql/flavour.js';
import { readOptionFile } from '../mysql/option-file.js';
import type { ReplicaStatus } from '../mysql/replica-status.js';
import { isOn, readSemiSync } from '../mysql/server-state.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { DivergenceFacts } from './observation.js';

const CONNECT_MS = 2_000;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function readDivergenceFacts(
  spec: Spec,
  node: NodeSpec,
  local: MysqlSession,
  flavour: Flavour,
  status: ReplicaStatus | null,
  signal: AbortSignal,
): Promise<DivergenceFacts> {
  const mysql = spec.mysql;
  if (!mysql) return { kind: 'unreadable', problem: 'the spec has no mysql section' };
  if (flavour.kind !== 'mariadb')
    return { kind: 'unreadable', problem: `judged for MariaDB only (this server is ${flavour.kind})` };
  const peers = peerAddresses(spec, node);
  const peer = peers.length === 1 ? peers[0]! : undefined;
  if (!peer) return { kind: 'unreadable', problem: 'the proof needs exactly one peer' };
  const address = `${peer.host}:${peer.port}`;
  let session: MysqlSession;
  try {
    const row =
      (
        await local.query(
          'SELECT @@GLOBAL.server_id AS id, @@GLOBAL.gtid_binlog_state AS state, @@GLOBAL.gtid_slave_pos AS applied',
        )
      )[0] ?? {};
    const admin = await readOptionFile(mysql.credentials_file);
    session = await connectWith(
      {
        user: admin.user ?? 'root',
        ...(admin.password !== undefined ? { password: admin.password } : {}),
        host: peer.host,
        port: peer.port,
      },
      { timeoutMs: CONNECT_MS, queryTimeoutMs: CONNECT_MS, signal },
    );
    try {
      const [peerRow, semiSync, hosts] = await Promise.all([
        session.query(
          'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.server_id AS id, @@GLOBAL.gtid_binlog_state AS state',
        ),
        readSemiSync(session),
        session.query('SHOW SLAVE HOSTS'),
      ]);
      const p = peerRow[0] ?? {};
      return {
        kind: 'ok',
        localServerId: Number(row.id),
        localState: String(row.state ?? ''),
        localApplied: String(row.applied ?? ''),
        localReceived: status?.gtidIoPos ?? '',
        peer: {
          node: peer.node,
          address,
          readOnly: isOn(p.ro),
          serverId: Number(p.id),
          state: String(p.state ?? ''),
          semiSync,
          replicaServerIds: hosts.map((h) => Number(h.Server_id ?? h.server_id)),
        },
      };
    } finally {
      await session.close();
    }
  } catch (error) {
    return { kind: 'unreadable', problem: `${peer.node} (${address}): ${messageOf(error)}` };
  }
}
