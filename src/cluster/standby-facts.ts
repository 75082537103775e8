/**
 * The standby facts of rule 7 (src/cluster/repoint-rule.ts), read cheaply: the local database over
 * the agent's kept connection (a few variables and the replica status), the peer over one short
 * connection with the replication account (read_only and its GTID position), and this server's
 * transactions the peer lacks. Every step is bounded by the caller's signal and short timeouts.
 */
import { peerAddresses } from '../actions/addresses.js';
import { localTarget } from '../actions/mysql-common.js';
import { connect, connectWith, type MysqlSession } from '../mysql/connection.js';
import { detectFlavour, type Flavour } from '../mysql/flavour.js';
import { describeExtra, extraTransactions, parseGtidList } from '../mysql/gtid.js';
import { readOptionFile } from '../mysql/option-file.js';
import { readReplicaStatus } from '../mysql/replica-status.js';
import { isOn, readGtidState, readReadOnly, type GtidState } from '../mysql/server-state.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { StandbyFacts } from './observation.js';
import { replicaFactsOf } from './promotion-guard.js';

const CONNECT_MS = 2_000;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

type PeerState = Extract<StandbyFacts, { kind: 'ok' }>['peerState'];

async function readPeer(
  spec: Spec,
  peer: { host: string; port: number },
  local: MysqlSession,
  flavour: Flavour,
  gtid: GtidState,
  signal: AbortSignal,
): Promise<PeerState> {
  const file = spec.mysql?.replication_credentials_file;
  if (!file) return { kind: 'unreachable', problem: 'no mysql.replication_credentials_file in the spec' };
  let session: MysqlSession;
  try {
    const account = await readOptionFile(file);
    if (account.user === undefined)
      return { kind: 'unreachable', problem: `${file} has no user in its [client] section` };
    session = await connectWith(
      { user: account.user, password: account.password ?? '', host: peer.host, port: peer.port },
      { timeoutMs: CONNECT_MS, signal, queryTimeoutMs: CONNECT_MS },
    );
  } catch (error) {
    return { kind: 'unreachable', problem: messageOf(error) };
  }
  try {
    const sql =
      flavour.kind === 'mariadb'
        ? 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.gtid_binlog_pos AS pos, @@GLOBAL.gtid_binlog_state AS state'
        : 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.super_read_only AS sro, @@GLOBAL.gtid_executed AS pos, NULL AS state';
    const row = (await session.query(sql))[0] ?? {};
    const position = String(row.pos ?? '').replace(/\s+/g, '');
    let extraHere: string[];
    if (flavour.kind === 'mariadb') {
      extraHere = extraTransactions(
        parseGtidList(gtid.binlogState),
        parseGtidList(String(row.state ?? '')),
      ).map(describeExtra);
    } else {
      const extra = (await local.query('SELECT GTID_SUBTRACT(?, ?) AS extra', [gtid.position, position]))[0];
      const text = String(extra?.extra ?? '').replace(/\s+/g, '');
      extraHere = text === '' ? [] : text.split(',');
    }
    return { kind: 'ok', writable: !isOn(row.ro) && !isOn(row.sro), position, extraHere };
  } catch (error) {
    return { kind: 'unreachable', problem: messageOf(error) };
  } finally {
    await session.close();
  }
}

export async function readStandbyFacts(
  spec: Spec,
  node: NodeSpec,
  signal: AbortSignal,
): Promise<StandbyFacts> {
  const mysql = spec.mysql;
  if (!mysql) return { kind: 'unreachable', problem: 'the spec has no mysql section' };
  const peers = peerAddresses(spec, node);
  const peer = peers.length === 1 ? peers[0]! : undefined;
  if (!peer) return { kind: 'unreachable', problem: 're-pointing needs exactly one peer' };
  // With the agent's kept sessions this is the loop's pooled connection, not a new one.
  const session = await connect(localTarget(mysql), { timeoutMs: CONNECT_MS, signal });
  try {
    const flavour = await detectFlavour(session);
    const status = await readReplicaStatus(session, flavour);
    const readOnly = await readReadOnly(session, flavour);
    const gtid = await readGtidState(session, flavour);
    const replica = replicaFactsOf(status);
    const address = `${peer.host}:${peer.port}`;
    // A healthy standby costs no connection to the peer.
    const healthy = replica?.source === address && replica.io === 'yes' && replica.sqlRunning;
    return {
      kind: 'ok',
      readOnly: readOnly.readOnly || readOnly.superReadOnly,
      replica,
      peer: { node: peer.node, address },
      peerState: healthy ? { kind: 'not-read' } : await readPeer(spec, peer, session, flavour, gtid, signal),
    };
  } finally {
    await session.close();
  }
}
