/**
 * The strict rejoin's rebuild is cancelled by any new transition (src/agent/loop.ts), which waits
 * 10 s for it to stop. In the chaos runs a cancelled rejoin whose copy hung "had not stopped" for
 * minutes. The cause: the loader had exited early, and the dump's unread output kept the copy's
 * promise pending for ever, past any cancellation. Both ends are pinned here: a loader that fails
 * fails the copy at once, and a dump that blocks on the primary (a table locked there) ends, both
 * children gone, soon after the cancellation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/mysql/connection.js';
import { observeForRebuild, rebuild, refusals, RebuildStepFailed } from '../../src/mysql/rebuild.js';
import { isAlive } from '../../src/lab/processes.js';
import { one, startPair, until, type Pair } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({
  root: true,
  programs: ['mariadbd', 'mariadb-install-db', 'mariadb-dump', 'mariadb'],
});

describe.skipIf(missing)(titled('the rebuild’s copy always ends', missing), () => {
  const pairs: Pair[] = [];
  const sessions: MysqlSession[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const session of sessions.splice(0)) await session.close().catch(() => undefined);
    for (const pair of pairs.splice(0)) await pair.stop();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A pair whose standby b diverged (one write of its own) and is fit for a rebuild. */
  async function divergedPair() {
    const pair = await startPair();
    pairs.push(pair);
    const a = await pair.primary.session();
    const b = await pair.replica.session();
    sessions.push(a, b);
    await a.query('CREATE TABLE app.t (id INT PRIMARY KEY, v TEXT)');
    // About 2 MB: more than a pipe and a stream buffer hold, so an unread dump cannot just finish.
    await a.query("INSERT INTO app.t SELECT seq, REPEAT('x', 1000) FROM mysql.seq_1_to_2000");
    await until(
      'app.t on b',
      async () => (await one(b, 'SELECT COUNT(*) FROM app.t').catch(() => '')) === '2000',
    );
    await b.query('STOP SLAVE');
    await b.query("INSERT INTO app.t VALUES (0, 'b only')");
    const facts = await observeForRebuild(b, a, []);
    expect(facts.extraGtids).toHaveLength(1);
    expect(refusals(facts, facts.extraGtids)).toEqual([]);
    const stateDir = mkdtempSync(join(tmpdir(), 'hactl-rebuild-copy-'));
    dirs.push(stateDir);
    const options = {
      local: {
        user: pair.replica.admin.user,
        password: pair.replica.admin.password,
        socket: pair.replica.socket,
      },
      peer: {
        user: pair.primary.admin.user,
        password: pair.primary.admin.password,
        host: pair.primary.host,
        port: pair.primary.port,
      },
      replication: { user: pair.primary.replication.user, password: pair.primary.replication.password },
      stateDir,
      node: 'ha2',
      discard: facts.extraGtids,
      timeoutMs: 300_000,
    };
    return { pair, a, b, facts, options };
  }

  it('fails at copy-primary at once when the loader fails, naming the loader', async () => {
    const { b, facts, options } = await divergedPair();
    const events: string[] = [];
    const started = performance.now();
    const settled = await rebuild(b, facts, {
      ...options,
      local: { ...options.local, password: 'not-the-password' },
      log: (event) => events.push(event),
    }).then(
      () => 'finished',
      (error: unknown) => error,
    );
    expect(events).toContain('rebuild.copy_started');
    expect(settled).toBeInstanceOf(RebuildStepFailed);
    expect((settled as RebuildStepFailed).step).toBe('copy-primary');
    expect((settled as Error).message).toMatch(/mariadb \(loading the copy\) failed: .*Access denied/);
    expect((settled as Error).message).not.toContain('not-the-password');
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 60_000);

  it('kills the blocked dump and its loader and fails at copy-primary within seconds', async () => {
    const { pair, a, b, facts, options } = await divergedPair();
    const locker = await pair.primary.session();
    sessions.push(locker);
    // The dump's consistent read of app.t now waits for the metadata lock, for as long as it is held.
    await locker.query('LOCK TABLES app.t WRITE');
    const controller = new AbortController();
    const events: string[] = [];
    const children: number[] = [];
    const running = rebuild(b, facts, {
      ...options,
      log: (event) => events.push(event),
      onSpawn: (_argv, pid) => {
        if (pid !== undefined) children.push(pid);
      },
      signal: controller.signal,
    });
    const outcome = running.then(
      () => 'finished',
      (error: unknown) => error,
    );
    await until(
      'the dump waits for the lock on app.t',
      async () =>
        Number(
          await one(
            a,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table metadata lock'",
          ),
        ) > 0,
    );
    expect(events).toContain('rebuild.copy_started');
    expect(children).toHaveLength(2);

    const cancelledAt = performance.now();
    controller.abort(new Error('a new transition'));
    const settled = await outcome;
    const stoppedMs = performance.now() - cancelledAt;
    expect(settled).toBeInstanceOf(RebuildStepFailed);
    expect((settled as RebuildStepFailed).step).toBe('copy-primary');
    // Named as the cancellation it is, with its reason, not as a child killed by a signal.
    expect((settled as Error).message).toMatch(/cancelled during this step: a new transition/);
    // The agent gives a cancelled rejoin 10 s (REJOIN_CANCEL_MS); killing takes at most ~2 s.
    expect(stoppedMs).toBeLessThan(5_000);
    expect(children.filter((pid) => isAlive(pid))).toEqual([]);
  }, 60_000);
});
