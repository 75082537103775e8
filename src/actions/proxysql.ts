/**
 * `proxysql`: keep ProxySQL's writer hostgroup pointing at the node that holds the VIPs.
 * MASTER: this node becomes the only writer, and the peers leave the reader hostgroup (they may lag;
 * they come back once caught up). Any other state: this node leaves the writer hostgroup.
 * Then LOAD MYSQL SERVERS TO RUNTIME and SAVE MYSQL SERVERS TO DISK.
 */
import { adminSession, literal } from './admin-sql.js';
import { dbAddress, peerAddresses, type DbAddress } from './addresses.js';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

interface ServerRow {
  hostgroup_id: number;
  hostname: string;
  port: number;
}

const same = (row: ServerRow, db: DbAddress) => row.hostname === db.host && Number(row.port) === db.port;

export const run: ActionRun<ActionOf<'proxysql'>> = async (action, context, signal) => {
  const self = dbAddress(context.spec, context.node, action.network);
  const peers = peerAddresses(context.spec, context.node, action.network);
  const writer = action.writer_hostgroup;
  const reader = action.reader_hostgroup;
  let session;
  try {
    session = await adminSession(action, signal);
  } catch (error) {
    return failed(`ProxySQL admin ${action.admin_host}:${action.admin_port}: ${messageOf(error)}`);
  }
  try {
    const groups = reader === undefined ? [writer] : [writer, reader];
    const rows = (await session.query(
      `SELECT hostgroup_id, hostname, port FROM mysql_servers WHERE hostgroup_id IN (${groups.join(',')})`,
    )) as unknown as ServerRow[];
    const changes: string[] = [];
    const remove = async (hostgroup: number, db: DbAddress) => {
      await session.query(
        `DELETE FROM mysql_servers WHERE hostgroup_id=${hostgroup} AND hostname=${literal(db.host)} AND port=${db.port}`,
      );
      changes.push(`-${hostgroup}:${db.host}:${db.port}`);
    };
    const inGroup = (hostgroup: number, db: DbAddress) =>
      rows.some((r) => Number(r.hostgroup_id) === hostgroup && same(r, db));
    if (context.state === 'MASTER') {
      if (!inGroup(writer, self)) {
        await session.query(
          `INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (${writer}, ${literal(self.host)}, ${self.port})`,
        );
        changes.push(`+${writer}:${self.host}:${self.port}`);
      }
      for (const peer of peers) {
        if (inGroup(writer, peer)) await remove(writer, peer);
        if (reader !== undefined && inGroup(reader, peer)) await remove(reader, peer);
      }
    } else if (inGroup(writer, self)) {
      await remove(writer, self);
    }
    await session.query('LOAD MYSQL SERVERS TO RUNTIME');
    await session.query('SAVE MYSQL SERVERS TO DISK');
    const what = changes.length > 0 ? `changed ${changes.join(' ')}` : 'already right';
    return ok(`ProxySQL hostgroups ${groups.join('/')}: ${what}; loaded to runtime and saved`, { changes });
  } catch (error) {
    return failed(`ProxySQL admin ${action.admin_host}:${action.admin_port}: ${messageOf(error)}`);
  } finally {
    await session.close();
  }
};
