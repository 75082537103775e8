/**
 * One database connection per notify run: the connection opened once the lock is held is the one
 * the observation borrows (and mysql.promote after it), and it is closed when the run ends. The
 * server is the protocol-level stand-in of test/actions/fake-admin.ts on loopback, which counts
 * logins and answers hactl's own statements with errors (so nothing is promoted), but the logins
 * tell how often the run connected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localSources, type ObservationSources } from '../../src/cluster/observe.js';
import { createLogger } from '../../src/log.js';
import { renderClientSection } from '../../src/mysql/option-file.js';
import { parseEvent } from '../../src/notify/event.js';
import { runNotify } from '../../src/notify/run.js';
import { parseSpecText } from '../../src/spec/load.js';
import { startFakeAdmin, type FakeAdmin } from '../actions/fake-admin.js';
import { baseSpecYaml } from '../actions/context.js';

const PASSWORD = 'n0tify-Pa55';
let dir = '';
let fake: FakeAdmin | undefined;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-notify-conn-'));
  fake = await startFakeAdmin('proxysql', { user: 'hactl', password: PASSWORD });
});
afterEach(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

const holding: ObservationSources = { ...localSources, addresses: () => new Set(['192.0.2.50']) };

function specWith(actions: string) {
  writeFileSync(join(dir, 'mysql.cnf'), renderClientSection({ user: 'hactl', password: PASSWORD }), {
    mode: 0o600,
  });
  return parseSpecText(
    baseSpecYaml(`mysql:
  credentials_file: ${dir}/mysql.cnf
  replication_credentials_file: ${dir}/mysql.cnf
  host: 127.0.0.1
  port: ${fake!.port}
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
${actions}`),
    't.yaml',
  );
}

const run = (spec: ReturnType<typeof specWith>, words: string[]) =>
  runNotify(
    spec,
    spec.nodes[1]!,
    parseEvent(words),
    { force: false, dryRun: false, lockWaitSec: 5 },
    createLogger({ file: join(dir, 'log.json'), level: 'info' }),
    holding,
  );

describe('notify: one database connection per run', () => {
  it('a MASTER run whose list promotes connects once: the observation borrows the early connection', async () => {
    const spec = specWith('  master:\n    - type: mysql.promote\n');
    const summary = await run(spec, ['INSTANCE', 'inside', 'MASTER', '120']);
    // The stand-in answers no hactl statement: the observation sees an unobservable database and
    // mysql.promote (which ran, and asked the server again) keeps it read-only. Both talked to the
    // server over the one connection the run opened.
    expect(summary.outcome?.steps.map((s) => [s.action, s.ok])).toEqual([['mysql.promote', false]]);
    expect(fake!.statements.length).toBeGreaterThanOrEqual(2);
    expect(fake!.logins).toEqual(['hactl']);
  });

  it('a BACKUP run whose list demotes connects once: mysql.demote borrows the early connection, never kills it', async () => {
    // The early connection's handshake is slow: a demotion that did not wait for it would open a
    // second one, and then see the first, idle, as a client session to kill.
    await fake?.close();
    fake = await startFakeAdmin(
      'proxysql',
      { user: 'hactl', password: PASSWORD },
      { firstLoginDelayMs: 300 },
    );
    const spec = specWith('  backup:\n    - type: mysql.demote\n');
    const summary = await runNotify(
      spec,
      spec.nodes[1]!,
      parseEvent(['INSTANCE', 'inside', 'BACKUP', '120']),
      { force: false, dryRun: false, lockWaitSec: 5 },
      createLogger({ file: join(dir, 'log.json'), level: 'info' }),
      { ...localSources, addresses: () => new Set<string>() },
    );
    // The stand-in answers none of the demotion's statements, so it fails before any peer is
    // looked at; what counts is that it ran on the one connection the run opened.
    expect(summary.outcome?.steps.map((s) => [s.action, s.ok])).toEqual([['mysql.demote', false]]);
    expect(fake!.statements.length).toBeGreaterThanOrEqual(1);
    expect(fake!.logins).toEqual(['hactl']);
  });

  it('a list without a MySQL action opens no connection early', async () => {
    const spec = specWith(`  master:\n    - { type: command, argv: [/bin/true] }\n`);
    await run(spec, ['INSTANCE', 'inside', 'MASTER', '120']);
    expect(fake!.logins).toEqual([]);
  });
});
