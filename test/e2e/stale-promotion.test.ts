/**
 * The stale-node sequence in the real lab (keepalived, MariaDB, hactl notify): ha1 is lost, ha2
 * takes over and acknowledges writes, ha1 returns carrying a transaction nobody saw acknowledged
 * (so it is rightly not re-pointed), then ha2 is lost too. keepalived makes ha1 MASTER, and ha1
 * must stay read-only: serving writes from it would lose every write ha2 acknowledged. An
 * operator's explicit override then promotes it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labFail, labHeal, labPaths, labStatus } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { connectWith } from '../../src/mysql/connection.js';
import { assertBuilt, runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { LAB_PROGRAMS, testLab, waitForHolder } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2est');

function logLines(): Record<string, unknown>[] {
  const file = labPaths(lab.dir).log;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The lab log's notify lines of `node`, for a failure message that says what happened. */
function notifyTrail(node: 'ha1' | 'ha2'): string {
  return logLines()
    .filter((l) => l.node === node || l.event === 'check')
    .slice(-25)
    .map((l) =>
      l.event === 'check'
        ? `check ${JSON.stringify(l)}`
        : `${String(l.event)} ${String(l.state ?? '')} ${String(l.result ?? '')} ${String(l.reason ?? '')}`,
    )
    .join('\n');
}

async function within<T>(work: Promise<T>, node: 'ha1' | 'ha2'): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const keepalivedLog = join(labPaths(lab.dir).node[node].dir, 'keepalived.log');
    const tail = existsSync(keepalivedLog)
      ? readFileSync(keepalivedLog, 'utf8').split('\n').slice(-40).join('\n')
      : '(no log)';
    throw new Error(
      `${(error as Error).message}\n${node}'s notify trail:\n${notifyTrail(node)}\n${node}'s keepalived log:\n${tail}`,
      { cause: error },
    );
  }
}

function lineage(node: 'ha1' | 'ha2'): Record<string, unknown> | undefined {
  const file = join(lab.dir, 'state', `${node}.lineage.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined;
}

async function rootQuery(node: 'ha1' | 'ha2', sql: string): Promise<string> {
  const socket = join(labPaths(lab.dir).node[node].dbDir, 'mariadb.sock');
  const session = await connectWith({ user: 'root', socket }, { timeoutMs: 5_000 });
  try {
    const row = (await session.query(sql))[0] ?? {};
    return String(Object.values(row)[0]);
  } finally {
    await session.close();
  }
}

describe.skipIf(missing)(titled('hactl lab: a stale node is never promoted', missing), () => {
  beforeAll(() => assertBuilt());
  afterEach(async () => {
    await lab.down();
  });

  it('ha1 lost, ha2 writes, ha1 returns diverged, ha2 lost: ha1 holds the VIPs but stays read-only until an operator overrides', async () => {
    await lab.up();
    const database = labDatabase({ dir: lab.dir, netns: (node) => namespacesFor(lab.prefix)[node] });
    const client = namespacesFor(lab.prefix).client;
    const vip = vipOf('inside');
    await waitFor(
      'ha1 primary and writable through the VIP',
      async () => (await database.clientWrite(client, vip)) === 'ha1',
      {
        timeoutMs: 60_000,
        everyMs: 500,
      },
    );

    // Node loss of ha1: ha2 takes the VIPs, is promoted, and acknowledges writes.
    await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'kill' });
    await waitForHolder(lab.prefix, 'ha2', 30_000);
    await waitFor(
      'ha2 accepts writes through the VIP',
      async () => (await database.clientWrite(client, vip)) === 'ha2',
      {
        timeoutMs: 60_000,
        everyMs: 250,
      },
    );
    let ackedOnHa2 = 1;
    for (let i = 0; i < 20; i++) if ((await database.clientWrite(client, vip)) === 'ha2') ackedOnHa2++;
    expect(ackedOnHa2).toBeGreaterThanOrEqual(20);

    // ha1's database comes back before its network, carrying a transaction crash recovery
    // committed (root bypasses read_only): an errant GTID ha2 never had.
    await database.start('ha1');
    await rootQuery('ha1', 'INSERT INTO app.probe (server_id) VALUES (99)');
    await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
    await within(
      waitFor(
        'ha1 found it diverged from ha2 and recorded it',
        () => {
          const record = lineage('ha1');
          return record?.primary === 'ha2' && Array.isArray(record.diverged) && record.diverged.length > 0;
        },
        { timeoutMs: 90_000, everyMs: 250 },
      ),
      'ha1',
    );
    expect(await rootQuery('ha1', 'SELECT @@GLOBAL.read_only')).toBe('1');

    // Now ha2 is lost: keepalived makes ha1 MASTER, and its promotion is refused.
    const refusedBefore = logLines().filter((l) => l.event === 'promote.refused_stale').length;
    await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha2', how: 'kill' });
    await waitForHolder(lab.prefix, 'ha1', 30_000);
    await within(
      waitFor(
        'ha1 refused its promotion',
        () =>
          logLines().filter((l) => l.event === 'promote.refused_stale' && l.node === 'ha1').length >
          refusedBefore,
        { timeoutMs: 90_000, everyMs: 250 },
      ),
      'ha1',
    );
    const refusal = logLines().find((l) => l.event === 'promote.refused_stale' && l.node === 'ha1')!;
    expect(refusal).toMatchObject({ level: 'error', decision: 'stay read-only' });
    expect(String(refusal.reason)).toMatch(/diverged from ha2/);
    expect(String(refusal.way_out)).toMatch(/--accept-stale/);
    expect(await rootQuery('ha1', 'SELECT @@GLOBAL.read_only')).toBe('1');
    expect(await database.clientWrite(client, vip), 'no write is served from ha1').toBeNull();
    // None of ha2's acknowledged writes is on ha1.
    expect(Number(await rootQuery('ha1', 'SELECT COUNT(*) FROM app.probe WHERE server_id = 2'))).toBe(0);
    const status = await labStatus(lab);
    expect(status.nodes[0]!.db.readOnly).toBe(true);
    // hactl status on ha1 says so: degraded (exit 1), the refusal with its way out.
    const shown = await runHactl(
      ['status', '--json', '--spec', labPaths(lab.dir).specPath, '--node', 'ha1'],
      { netns: namespacesFor(lab.prefix).ha1, timeoutMs: 60_000 },
    );
    expect(shown.exitCode, shown.stderr).toBe(1);
    const report = JSON.parse(shown.stdout) as { verdict: string; problems: string[] };
    expect(report.verdict).toBe('degraded');
    expect(report.problems.join('\n')).toMatch(
      /ha1 holds the VIPs but its promotion is refused: .*diverged from ha2.*--accept-stale/,
    );

    // The operator accepts the loss explicitly; the override is logged at error level.
    const forced = await runHactl(
      [
        'notify',
        '--spec',
        labPaths(lab.dir).specPath,
        '--node',
        'ha1',
        '--force',
        '--accept-stale',
        'ha2 gone, ticket 1',
        'master',
      ],
      { netns: namespacesFor(lab.prefix).ha1, timeoutMs: 120_000 },
    );
    expect(forced.exitCode, forced.stderr + forced.stdout).toBe(0);
    expect(await database.clientWrite(client, vip)).toBe('ha1');
    expect(logLines().find((l) => l.event === 'promote.override' && l.node === 'ha1')).toMatchObject({
      level: 'error',
      decision: 'promote',
    });
  }, 400_000);
});
