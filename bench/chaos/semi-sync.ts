/**
 * Strict semi-sync for a chaos run, set at run time on both servers (the lab's option files stay
 * async): AFTER_SYNC, both master and slave sides on (either node may become primary), and a
 * master timeout of ~49 days, so a primary without a semi-sync replica acknowledges nothing rather
 * than falling back to async. A replica's IO thread reconnects to register as semi-sync. A restarted
 * mariadbd comes back async, so the runner applies this again after every heal.
 */
import { join } from 'node:path';
import { LAB_NODES } from '../../src/lab/network.js';
import { connectWith } from '../../src/mysql/connection.js';
import type { ChaosLab } from './faults.js';

/** rpl_semi_sync_master_timeout's maximum (ms): longer than any outage the lab stages. */
const STRICT_TIMEOUT_MS = 4294967295;

export async function applySemiSync(lab: ChaosLab): Promise<void> {
  for (const node of LAB_NODES) {
    let session;
    try {
      session = await connectWith(
        { user: 'root', socket: join(lab.dir, node, 'mariadb', 'mariadb.sock') },
        { timeoutMs: 2_000, queryTimeoutMs: 10_000 },
      );
    } catch {
      continue; // down: applied again after its heal
    }
    try {
      await session.query("SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'");
      await session.query(`SET GLOBAL rpl_semi_sync_master_timeout = ${STRICT_TIMEOUT_MS}`);
      await session.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
      const slaveOn = (await session.query('SELECT @@GLOBAL.rpl_semi_sync_slave_enabled AS s'))[0]?.s;
      if (String(slaveOn) !== '1') {
        await session.query('SET GLOBAL rpl_semi_sync_slave_enabled = ON');
        const replica = (await session.query('SHOW SLAVE STATUS'))[0];
        if (replica && replica.Slave_IO_Running !== 'No') {
          await session.query('STOP SLAVE IO_THREAD');
          await session.query('START SLAVE IO_THREAD');
        }
      }
    } finally {
      await session.close();
    }
  }
}
