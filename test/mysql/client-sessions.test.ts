/**
 * The one rule a demotion and a fence share (endClientSessions, src/mysql/client-sessions.ts) for
 * which PROCESSLIST rows are client sessions to end: replication and system threads, and sessions
 * already being killed, are not.
 */
import { describe, expect, it } from 'vitest';
import { isClientSession } from '../../src/mysql/client-sessions.js';

describe('isClientSession', () => {
  it.each([
    ['app', 'Query'],
    ['app', 'Sleep'],
    ['root', 'Execute'],
  ])('%s / %s is a client session', (user, command) => {
    expect(isClientSession(user, command)).toBe(true);
  });

  it.each([
    ['repl', 'Binlog Dump'],
    ['repl', 'Binlog Dump GTID'],
    ['system user', 'Slave_IO'],
    ['system user', 'Slave_SQL'],
    ['system user', 'Slave_worker'],
    ['system user', 'Daemon'],
    ['unauthenticated user', 'Connect'],
    ['event_scheduler', 'Daemon'],
    ['System User', 'Sleep'],
    ['app', 'Killed'],
  ])('%s / %s is not', (user, command) => {
    expect(isClientSession(user, command)).toBe(false);
  });
});
