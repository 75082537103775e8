/**
 * Whether this server has — applied, or received and about to apply — everything another server
 * had at a recorded position. MariaDB positions compare per domain by sequence number; MySQL GTID
 * sets are compared by the server itself.
 */
import type { MysqlSession } from './connection.js';
import type { Flavour } from './flavour.js';
import { formatGtidList, parseGtidList, positionGaps } from './gtid.js';
import type { ReplicaStatus } from './replica-status.js';
import { readGtidState } from './server-state.js';

export interface Coverage {
  holds: boolean;
  /** What is missing, in the server's GTID notation ('' when nothing is). */
  missing: string;
}

export async function coverageOf(
  session: MysqlSession,
  flavour: Flavour,
  status: ReplicaStatus | null,
  recorded: string,
): Promise<Coverage> {
  if (recorded.trim() === '') return { holds: true, missing: '' };
  if (flavour.kind === 'mariadb') {
    const gtid = await readGtidState(session, flavour);
    const have = [
      ...parseGtidList(gtid.slavePos),
      ...parseGtidList(gtid.position),
      ...parseGtidList(status?.gtidIoPos),
    ];
    const missing = formatGtidList(positionGaps(have, parseGtidList(recorded)));
    return { holds: missing === '', missing };
  }
  // Subtracting twice avoids building a union of two sets, one of which may be empty.
  const row =
    (
      await session.query('SELECT GTID_SUBTRACT(GTID_SUBTRACT(?, @@GLOBAL.gtid_executed), ?) AS missing', [
        recorded,
        status?.retrievedGtidSet ?? '',
      ])
    )[0] ?? {};
  const missing = String(row.missing ?? '').replace(/\s+/g, '');
  return { holds: missing === '', missing };
}
