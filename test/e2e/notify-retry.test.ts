/**
 * The chaos fault mysql-unreachable in short, on a real MariaDB pair in two namespaces (no
 * keepalived: the VIP is an address on the node's loopback, as in test/notify/mysql-notify.test.ts):
 * the old primary is gone, the standby holds the VIP, and its mariadbd is SIGSTOPped while its
 * `hactl notify` (the built CLI) decides. The first attempt cannot observe the database and stays
 * read-only; once the server answers again, the retry promotes it: one writable primary, with no
 * new keepalived event.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/processes.js';
import { runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { addVip, removeVip } from '../notify/ns.js';
import { startNsPair, VIP, type NsPair } from '../notify/mysql-pair.js';

const missing = requirementsMissing({
  root: true,
  programs: ['ip', 'flock', 'mariadbd', 'mariadb-install-db'],
});
let pair: NsPair | undefined;
let stopped: number | undefined;

afterEach(async () => {
  // Never leave a stopped server behind, whatever failed.
  if (stopped !== undefined) signal(stopped, 'SIGCONT');
  stopped = undefined;
  await pair?.stop();
  pair = undefined;
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}

function logLines(): Record<string, unknown>[] {
  if (!existsSync(pair!.log)) return [];
  return readFileSync(pair!.log, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(missing)(
  titled('hactl notify retries a promotion its database did not answer for', missing),
  // Building the pair (two mariadb-install-db runs) takes most of this on a loaded machine.
  { timeout: 180_000 },
  () => {
    it('a standby whose server stalls while it promotes is promoted once the server answers', async () => {
      pair = await startNsPair('r');
      await pair.db.ha1.stop({ kill: true });
      removeVip(pair.ns.ha1, VIP);
      addVip(pair.ns.ha2, VIP);
      const pid = pair.db.ha2.pid();
      expect(pid, "ha2's mariadbd pid").toBeTypeOf('number');
      signal(pid!, 'SIGSTOP');
      stopped = pid;
      const started = performance.now();
      const promoting = runHactl(
        ['notify', '--spec', pair.spec, '--node', 'ha2', 'GROUP', 'db_vips', 'MASTER', '0'],
        { netns: pair.ns.ha2, timeoutMs: 90_000 },
      );
      // The first attempt decides without an answer from the database: it refuses, read-only.
      await waitFor(
        'the first attempt to refuse for want of an answer',
        () =>
          logLines().some(
            (l) => l.event === 'notify.decision' && l.node === 'ha2' && l.promotion === 'refused',
          ),
        { timeoutMs: 30_000, everyMs: 100 },
      );
      signal(pid!, 'SIGCONT');
      stopped = undefined;
      const result = await promoting;
      const seconds = (performance.now() - started) / 1000;
      expect(result.exitCode, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toMatch(/: MASTER ok in \d+ ms after \d+ attempts, 1\/1 actions ok/);
      const decisions = logLines().filter((l) => l.event === 'notify.decision' && l.node === 'ha2');
      expect(decisions[0]).toMatchObject({ promotion: 'refused' });
      expect(decisions.at(-1)).toMatchObject({ promotion: 'allowed', result: 'apply' });
      const retries = logLines().filter((l) => l.event === 'notify.retry');
      expect(retries.at(-1)).toMatchObject({
        result: 'carried out',
        transition_id: decisions[0]!.transition_id,
      });
      const s = await pair.db.ha2.session(pair.db.ha2.admin);
      try {
        expect(String(Object.values((await s.query('SELECT @@GLOBAL.read_only AS r'))[0] ?? {})[0])).toBe(
          '0',
        );
      } finally {
        await s.close();
      }
      // Within the bound (the spec's catch_up_timeout, 30 s) after a first attempt of ~6 s.
      expect(seconds).toBeLessThan(45);
    });
  },
);
