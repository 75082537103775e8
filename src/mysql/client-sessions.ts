/**
 * Which rows of information_schema.PROCESSLIST are client sessions: what a demotion and a fence
 * end so that no open transaction commits after read_only. Replication threads (ours to a source,
 * a replica's binlog dump), system threads and sessions already being killed are left alone.
 */

const REPLICATION_COMMANDS = new Set([
  'binlog dump',
  'binlog dump gtid',
  'slave_io',
  'slave_sql',
  'slave_worker',
  'daemon',
  'connect',
]);
const SYSTEM_USERS = new Set(['system user', 'event_scheduler']);

/** True for a PROCESSLIST row (USER, COMMAND) that is a client's session. */
export function isClientSession(user: string, command: string): boolean {
  const c = command.toLowerCase();
  return !REPLICATION_COMMANDS.has(c) && !SYSTEM_USERS.has(user.toLowerCase()) && c !== 'killed';
}
