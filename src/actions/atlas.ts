/**
 * `atlas`: keep Atlas's backends in line with who holds the VIPs (seed 004). MASTER: this node is
 * the read-write backend, the peers are removed (they may lag; they come back once caught up).
 * Any other state: this node's read-write backend is removed. Atlas renumbers backends after every
 * REMOVE BACKEND, so the list is read again after each removal.
 */
import type { MysqlSession } from '../mysql/connection.js';
import { adminSession } from './admin-sql.js';
import { dbAddress, peerAddresses, type DbAddress } from './addresses.js';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

interface Backend {
  index: number;
  address: string;
  type: string;
}

const MAX_REMOVALS = 32;

async function backends(session: MysqlSession): Promise<Backend[]> {
  const rows = await session.query('SELECT * FROM backends');
  return rows.map((row) => ({
    index: Number(row.backend_ndx),
    address: String(row.address),
    type: String(row.type).toLowerCase(),
  }));
}

const at = (db: DbAddress) => `${db.host}:${db.port}`;

export const run: ActionRun<ActionOf<'atlas'>> = async (action, context, signal) => {
  const self = at(dbAddress(context.spec, context.node, action.network));
  const peers = new Set(peerAddresses(context.spec, context.node, action.network).map(at));
  const unwanted = (b: Backend) =>
    context.state === 'MASTER'
      ? peers.has(b.address) || (b.address === self && b.type !== 'rw')
      : b.address === self && b.type === 'rw';
  let session;
  try {
    session = await adminSession(action, signal);
  } catch (error) {
    return failed(`Atlas admin ${action.admin_host}:${action.admin_port}: ${messageOf(error)}`);
  }
  try {
    const changes: string[] = [];
    let list = await backends(session);
    for (let i = 0; i < MAX_REMOVALS; i++) {
      const victim = list.find(unwanted);
      if (!victim) break;
      await session.query(`REMOVE BACKEND ${victim.index}`);
      changes.push(`-${victim.type}:${victim.address}`);
      list = await backends(session);
    }
    if (list.some(unwanted))
      return failed(`Atlas still lists unwanted backends after ${MAX_REMOVALS} removals`, { changes });
    if (context.state === 'MASTER' && !list.some((b) => b.address === self && b.type === 'rw')) {
      await session.query(`ADD MASTER ${self}`);
      changes.push(`+rw:${self}`);
    }
    const what = changes.length > 0 ? `changed ${changes.join(' ')}` : 'already right';
    return ok(`Atlas backends: ${what}`, { changes });
  } catch (error) {
    return failed(`Atlas admin ${action.admin_host}:${action.admin_port}: ${messageOf(error)}`);
  } finally {
    await session.close();
  }
};
