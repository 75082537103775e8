/**
 * Strict semi-sync, both nodes diverged (chaos round 16, notify-burst, 2 of 20): ha1 logged a
 * commit nobody acknowledged and was demoted, found diverged from ha2 and recorded it; ha2, the
 * primary for a moment, logged one too and was demoted. Both read-only, each lacking the other's
 * commit: before the strict divergence proof, ha1 held the VIPs and refused (diverged lineage) and
 * ha2 waited for a writable peer, for good. Here, on two real servers: the decision core promotes
 * ha1 keeping its own commit, refuses while ha2's settings would not have been strict, and ha2's
 * strict rejoin then rebuilds it from ha1, discarding exactly its own unacknowledged commit.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { decide } from '../../src/cluster/decide.js';
import { localSources, observe } from '../../src/cluster/observe.js';
import { demote } from '../../src/mysql/demote.js';
import { promote } from '../../src/mysql/promote.js';
import { one, until } from '../support/mariadb-pair.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  commitAwaitingAck,
  recordDivergence,
  rejoin,
  startStrictPair,
  STRICT,
  type StrictPair,
} from '../support/strict-pair.js';

const missing = requirementsMissing({
  root: true,
  programs: ['mariadbd', 'mariadb-install-db', 'mariadb-dump', 'mariadb'],
});

describe.skipIf(missing)(titled('strict semi-sync: both nodes diverged, one promotes', missing), () => {
  let pair: StrictPair;
  let ownHa1: string;
  let ownHa2: string;
  const steps: string[] = [];
  const stepLog = (event: string, fields: Record<string, unknown>) =>
    void steps.push(`${event} ${JSON.stringify(fields)}`);

  beforeAll(async () => {
    pair = await startStrictPair('double-divergence', stepLog);
    const { a, b, sa, sb } = pair;
    await sa.query('CREATE TABLE app.t (id INT PRIMARY KEY)');
    await sa.query('INSERT INTO app.t VALUES (1)');
    await until(
      'row 1 on ha2',
      async () => (await one(sb, 'SELECT COUNT(*) FROM app.t').catch(() => '')) === '1',
    );

    // ha1's commit that ha2 never receives; ha1's demotion ends its wait (no client is told OK).
    await sb.query('STOP SLAVE IO_THREAD');
    const first = await commitAwaitingAck(pair, a, sa, 'INSERT INTO app.t VALUES (2)');
    await demote(sa, {
      topology: 'one-way',
      semiSync: 'strict',
      log: stepLog,
      openSession: () => pair.adminSession('ha1'),
    });
    expect(await first.told).toMatch(/^not acknowledged/);
    ownHa1 = await one(sa, 'SELECT @@GLOBAL.gtid_binlog_pos');

    // ha2 promoted for a moment: ha1 finds itself diverged from it and records it.
    await promote(sb, { ...STRICT, semiSync: 'strict', log: stepLog });
    expect(await recordDivergence(pair, 'ha1', sa, stepLog)).toEqual([ownHa1]);

    // ha2's own commit, which ha1 (replicating from nobody) never acknowledges; ha2 is demoted.
    const second = await commitAwaitingAck(pair, b, sb, 'INSERT INTO app.t VALUES (3)');
    await demote(sb, {
      topology: 'one-way',
      semiSync: 'strict',
      log: stepLog,
      openSession: () => pair.adminSession('ha2'),
    });
    expect(await second.told).toMatch(/^not acknowledged/);
    ownHa2 = await one(sb, 'SELECT @@GLOBAL.gtid_binlog_pos');
    expect(ownHa1).toMatch(/^0-1-\d+$/);
    expect(ownHa2).toMatch(/^0-2-\d+$/);
    expect(await one(sa, 'SELECT @@GLOBAL.read_only')).toBe('1');
    expect(await one(sb, 'SELECT @@GLOBAL.read_only')).toBe('1');
  }, 240_000);

  afterAll(async () => {
    await pair?.stop();
  });

  /** What ha1's agent decides with keepalived saying MASTER and the VIP here. */
  async function ha1Decides() {
    const { spec, node } = pair.specFor('ha1');
    const sources = { ...localSources, addresses: () => new Set(['192.0.2.50']) };
    const seen = await observe(
      spec,
      node,
      {
        transitionId: 't-double',
        keepalived: { state: 'MASTER', source: 'fifo', text: 'GROUP "lab" MASTER 0' },
        intent: {},
      },
      sources,
    );
    return decide(seen, spec, {});
  }

  it('refuses, as before, while ha2 would have fallen back to async (its timeout is short)', async () => {
    onTestFailed(() => console.log(steps.join('\n')));
    await pair.sb.query('SET GLOBAL rpl_semi_sync_master_timeout = 10000');
    try {
      const plan = await ha1Decides();
      expect(plan.reason).toMatch(/^MASTER refused: stay read-only: .*it diverged from ha2/);
      expect(plan.reason).toMatch(/rpl_semi_sync_master_timeout is 10000 ms/);
      expect(await one(pair.sa, 'SELECT @@GLOBAL.read_only')).toBe('1');
    } finally {
      await pair.sb.query('SET GLOBAL rpl_semi_sync_master_timeout = 4294967295');
    }
  }, 60_000);

  it("promotes ha1 keeping its own commit, naming ha2's as never acknowledged", async () => {
    onTestFailed(() => console.log(steps.join('\n')));
    const plan = await ha1Decides();
    expect(plan.target).toBe('MASTER');
    expect(plan.actions.map((a) => a.type)).toEqual(['mysql.promote']);
    expect(plan.reason).toContain(`may promote: it diverged from ha2`);
    expect(plan.reason).toContain(`keeping its own ${ownHa1}`);
    expect(plan.reason).toContain(`logged ${ownHa2} as primary, which this node lacks`);
    // The promotion the plan runs (src/actions/mysql-promote.ts calls the same function).
    await promote(pair.sa, { ...STRICT, semiSync: 'strict', log: stepLog });
    expect(await one(pair.sa, 'SELECT @@GLOBAL.read_only')).toBe('0');
    expect(await one(pair.sa, 'SELECT COUNT(*) FROM app.t WHERE id = 2')).toBe('1');
  }, 60_000);

  it('ha2 then rejoins by itself: rebuilt from ha1, its own commit discarded, acknowledging ha1 again', async () => {
    onTestFailed(() => console.log(steps.join('\n')));
    const { a, sb } = pair;
    expect(await recordDivergence(pair, 'ha2', sb, stepLog)).toEqual([ownHa2]);
    const outcome = await rejoin(pair, 'ha2');
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ result: 'rebuilt', discarded: [ownHa2] });
    const ha2 = await pair.adminSession('ha2');
    expect(await one(ha2, 'SELECT COUNT(*) FROM app.t WHERE id = 3')).toBe('0');
    // A strict commit on ha1 now needs ha2's ACK, and gets it.
    const writer = pair.keep(await a.session(a.app, 30_000));
    await writer.query('INSERT INTO app.t VALUES (4)', [], { timeoutMs: 30_000 });
    await until(
      'row 4 on ha2',
      async () => (await one(ha2, 'SELECT COUNT(*) FROM app.t WHERE id IN (2, 4)')) === '2',
    );
    expect(await one(pair.sa, 'SELECT COUNT(*) FROM app.t WHERE id = 3')).toBe('0');
  }, 180_000);
});
