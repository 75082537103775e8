/**
 * A promotion under strict semi-sync whose old primary is gone: stopping the IO thread of a
 * semi-sync replica first connects to the old primary to end its dump thread, and with MariaDB's
 * default (rpl_semi_sync_slave_kill_conn_timeout = 5) that connect waited 2.0 s of every such
 * promotion (chaos round 16, strict node-loss). Promotion bounds it to 1 s. The old primary is
 * frozen (SIGSTOP: its port accepts, it never answers) as a node that vanished mid-connection.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { promote } from '../../src/mysql/promote.js';
import { one, statusValue, until } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { startStrictPair, STRICT, type StrictPair } from '../support/strict-pair.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db', 'mariadb'] });

describe.skipIf(missing)(titled('strict semi-sync: promotion with the old primary frozen', missing), () => {
  let pair: StrictPair | undefined;
  let frozen: number | undefined;
  afterAll(async () => {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    await pair?.stop();
  });

  it('stops the IO thread within ~1 s instead of 2 s', async () => {
    const at: Record<string, number> = {};
    pair = await startStrictPair('stop-io', (event) => void (at[event] ??= performance.now()));
    const { a, sb } = pair;
    await until(
      'ha2 acknowledges as a semi-sync replica',
      async () => (await statusValue(sb, 'Rpl_semi_sync_slave_status')) === 'ON',
    );
    // A server whose option file predates the setting: MariaDB's default.
    await sb.query('SET GLOBAL rpl_semi_sync_slave_kill_conn_timeout = 5');
    for (const key of Object.keys(at)) delete at[key];
    frozen = a.pid();
    process.kill(frozen!, 'SIGSTOP');
    await promote(sb, {
      ...STRICT,
      semiSync: 'strict',
      log: (event) => void (at[event] ??= performance.now()),
    });
    expect(await one(sb, 'SELECT @@GLOBAL.read_only')).toBe('0');
    expect(await one(sb, 'SELECT @@GLOBAL.rpl_semi_sync_slave_kill_conn_timeout')).toBe('1');
    const stopMs = at['promote.catch_up']! - at['promote.stop_io_thread']!;
    // The server's own connect timeout: 1.0 s, 2.0 s at the default; the margin is for a busy machine.
    expect(stopMs).toBeGreaterThan(900);
    expect(stopMs).toBeLessThan(1_700);
  }, 120_000);
});
