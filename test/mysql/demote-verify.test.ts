/**
 * The demotion's check that re-pointed replication runs (src/mysql/demote.ts verifyReplication),
 * on a scripted server: an IO thread that stopped on an error in transit (1743 checksum, then 1595
 * relay log write failure; chaos round 17, strict notify-burst: the pair stalled on it) is started
 * again, a bounded number of times; a divergence error is never retried.
 */
import { describe, expect, it } from 'vitest';
import type { MysqlSession, Row } from '../../src/mysql/connection.js';
import { verifyReplication } from '../../src/mysql/demote.js';
import { parseFlavour } from '../../src/mysql/flavour.js';

const flavour = parseFlavour('10.11.19-MariaDB', 'mariadb.org binary distribution', false);
const peer = {
  address: '192.0.2.12:3306',
  readOnly: false,
  serverId: 2,
  position: '0-2-10',
  binlogState: '0-2-10',
};

function replicaRow(io: 'Yes' | 'No', errno = 0, error = ''): Row {
  return {
    Connection_name: '',
    Master_Host: '192.0.2.12',
    Master_Port: 3306,
    Slave_IO_Running: io,
    Slave_SQL_Running: 'Yes',
    Last_IO_Errno: errno,
    Last_IO_Error: error,
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
    Using_Gtid: 'Slave_Pos',
    Gtid_IO_Pos: '0-2-10',
  };
}

/** A server whose IO thread fails with `errno` on each of its first `failures` starts. */
function scripted(errno: number, failures: number) {
  const statements: string[] = [];
  let starts = 0;
  const session = {
    address: 'scripted',
    query(sql: string): Promise<Row[]> {
      statements.push(sql);
      if (sql === flavour.replicaStatusStatement)
        return Promise.resolve([
          starts < failures ? replicaRow('No', errno, `error ${errno} in transit`) : replicaRow('Yes'),
        ]);
      if (/^START (SLAVE|REPLICA) IO_THREAD$/.test(sql)) starts++;
      if (sql.startsWith('SELECT @@GLOBAL.gtid_binlog_pos'))
        return Promise.resolve([{ pos: '0-2-10', state: '0-2-10', slave: '0-2-10', cur: '0-2-10' }]);
      return Promise.resolve([]);
    },
  } as unknown as MysqlSession;
  return { session, statements, starts: () => starts };
}

describe('verifyReplication', () => {
  it.each([1595, 1743])('starts the IO thread again after error %i in transit', async (errno) => {
    const server = scripted(errno, 1);
    const events: string[] = [];
    const result = await verifyReplication(
      server.session,
      flavour,
      peer,
      5_000,
      (event) => void events.push(event),
    );
    expect(result).toMatchObject({ io: 'yes', sql: true, caughtUp: true });
    expect(server.starts()).toBe(1);
    expect(events).toContain('demote.io_thread_restarted');
  });

  it('gives up after three starts and reports the error', async () => {
    const server = scripted(1595, 99);
    await expect(verifyReplication(server.session, flavour, peer, 2_000, () => undefined)).rejects.toThrow(
      /replication did not run within 2 s: IO no, SQL running, IO error 1595/,
    );
    expect(server.starts()).toBe(3);
  });

  it('never starts it again after a divergence (1236)', async () => {
    const server = scripted(1236, 99);
    await expect(verifyReplication(server.session, flavour, peer, 2_000, () => undefined)).rejects.toThrow(
      /1236/,
    );
    expect(server.starts()).toBe(0);
  });
});
