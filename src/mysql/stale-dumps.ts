/**
 * A replica cut off from its source leaves a binlog dump thread behind there: the cut lost the
 * connection's FIN, so the thread keeps waiting on a socket nobody holds. When the replica comes
 * back with the same server_id, the source's new dump thread ends the stale one itself, and on
 * MariaDB 10.11 with commits waiting for a semi-sync ACK that wedges the source: the stale thread
 * sits in "Waiting to finalize termination", the new one in "starting", and no new connection
 * completes its handshake until semi-sync is switched off (measured 17 s and still wedged; in the
 * chaos runs the new primary's check failed and the VIPs went to the half-rebuilt node).
 * Ending the stale thread first with KILL CONNECTION does not wedge (2–3 ms with three commits
 * waiting). So a replica ends its own stale dumps before it starts replicating (its replication
 * account may: a user can see and kill its own threads without PROCESS or CONNECTION ADMIN), and a
 * source's agent ends the dumps to a peer whose path went silent (src/fence/witness-monitor.ts).
 */
import { connectWith, type Credentials, type MysqlSession } from './connection.js';
import { DatabaseError } from './errors.js';
import { awaitGone, killConnection } from './kill.js';
import type { StepLogger } from './server-state.js';

/** How long a killed dump thread may take to go (measured: 2–3 ms). */
export const STALE_DUMP_WAIT_MS = 3_000;

export interface DumpThread {
  id: number;
  host: string;
  command: string;
  state: string;
}

/** The address part of a PROCESSLIST HOST ('192.0.2.11:41234', 'fe80::1:5000', 'localhost'). Pure. */
export function addressOf(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** The binlog dumps among `rows` that serve a replica connecting from `address`. Pure. */
export function dumpsFrom(rows: readonly DumpThread[], address: string): DumpThread[] {
  return rows.filter(
    (r) => r.command.toLowerCase().startsWith('binlog dump') && addressOf(r.host) === address,
  );
}

export interface EndedDumps {
  /** The replica's address as the source sees it. */
  address: string;
  ended: DumpThread[];
  /** Ids still listed when the wait ran out. */
  lingering: number[];
}

/** dumpsFrom over several addresses. Pure. */
export function dumpsFromAny(rows: readonly DumpThread[], addresses: readonly string[]): DumpThread[] {
  return addresses.flatMap((address) => dumpsFrom(rows, address));
}

/**
 * Ends the binlog dumps `source` runs for replicas connecting from `addresses` (with user 'self',
 * only those of this session's own account) and waits up to `waitMs` for them to be gone.
 */
export async function endDumps(
  source: MysqlSession,
  addresses: readonly string[],
  options: { user?: 'self'; waitMs?: number; pollMs?: number } = {},
): Promise<{ ended: DumpThread[]; lingering: number[] }> {
  const rows = await source.query(
    'SELECT ID AS id, HOST AS host, COMMAND AS command, STATE AS state FROM information_schema.PROCESSLIST' +
      (options.user === 'self' ? " WHERE USER = SUBSTRING_INDEX(USER(), '@', 1)" : ''),
  );
  const stale = dumpsFromAny(
    rows.map((r) => ({
      id: Number(r.id),
      host: String(r.host ?? ''),
      command: String(r.command ?? ''),
      state: String(r.state ?? ''),
    })),
    addresses,
  );
  for (const dump of stale) await killConnection(source, dump.id);
  const lingering = await awaitGone(
    source,
    stale.map((d) => d.id),
    { waitMs: options.waitMs ?? STALE_DUMP_WAIT_MS, pollMs: options.pollMs ?? 25 },
  );
  return { ended: stale, lingering };
}

/**
 * Ends the dump threads `source` runs for the replica this session comes from (same account, same
 * address), and waits up to `waitMs` for them to be gone. Run before START SLAVE: the replica's IO
 * thread has not connected yet, so every such thread is stale.
 */
export async function endStaleDumps(
  source: MysqlSession,
  options: { waitMs?: number; pollMs?: number } = {},
): Promise<EndedDumps> {
  const me = (
    await source.query('SELECT HOST AS host FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()')
  )[0];
  const address = addressOf(String(me?.host ?? ''));
  // Without PROCESS the list holds only this account's threads, which is what is wanted anyway.
  return { address, ...(await endDumps(source, [address], { ...options, user: 'self' })) };
}

/**
 * Connects to the source with the replication account and ends this replica's stale dumps there,
 * logging what it ended. A source that cannot be reached is logged and left: the IO thread cannot
 * reach it either. A stale dump that outlives the wait is an error: starting replication then would
 * wedge the source.
 */
export async function endStaleDumpsBeforeStart(
  account: Credentials,
  options: { timeoutMs: number; log: StepLogger; step: string; signal?: AbortSignal },
): Promise<void> {
  const source = `${account.host}:${account.port}`;
  let session: MysqlSession;
  try {
    session = await connectWith(account, { timeoutMs: options.timeoutMs, signal: options.signal });
  } catch (error) {
    options.log(`${options.step}.stale_dumps_unchecked`, {
      level: 'warn',
      source,
      reason: `cannot connect with the replication account: ${(error as Error).message}`,
    });
    return;
  }
  try {
    const { address, ended, lingering } = await endStaleDumps(session);
    if (ended.length > 0)
      options.log(`${options.step}.stale_dumps_ended`, {
        source,
        replica: address,
        threads: ended,
        reason:
          'binlog dumps left from before the cut: ended before the IO thread connects, since the source ending them itself wedges a semi-sync source with commits waiting',
      });
    if (lingering.length > 0)
      throw new DatabaseError(
        `stale binlog dump thread(s) ${lingering.join(', ')} on ${source} for this replica (${address}) did not end within ${STALE_DUMP_WAIT_MS} ms; not starting replication, which would wedge a semi-sync source. Look at SHOW PROCESSLIST there`,
      );
  } finally {
    await session.close();
  }
}
