/**
 * The MySQL actions act on what the core decided and observed, never on their own look at the
 * cluster: mysql.promote promotes only with an allowing verdict (and holds read-only otherwise),
 * mysql.demote waits for the peer by the core's predicate. The database itself is faked here
 * (the real thing is test/notify/stale-promotion.test.ts); the decision and apply are real.
 */
import { baseSpecYaml } from '../actions/context.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadAction } from '../../src/actions/index.js';
import { appliedStatePath, readAppliedState } from '../../src/cluster/applied-state.js';
import { apply } from '../../src/cluster/apply.js';
import { decide, type Intent } from '../../src/cluster/decide.js';
import type { Observation } from '../../src/cluster/observation.js';
import { createLogger } from '../../src/log.js';
import type { DemoteOptions } from '../../src/mysql/demote.js';
import type { PromoteOptions } from '../../src/mysql/promote.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { lineage } from './guard-cases.js';
import { database, NONE, observation, said, TID } from './support.js';

const fake = vi.hoisted(() => ({
  readOnly: true,
  setReadOnly: [] as boolean[],
  promotions: 0,
  promoteOptions: [] as unknown[],
  demoteOptions: [] as unknown[],
  repoint: { result: 'skipped', reason: 'test', peer: null, peerPosition: null } as Record<string, unknown>,
}));

vi.mock('../../src/mysql/connection.js', () => ({
  connect: () =>
    Promise.resolve({
      address: 'fake:3306',
      threadId: 1,
      query: () => Promise.resolve([]),
      close: () => Promise.resolve(),
    }),
}));
vi.mock('../../src/mysql/flavour.js', () => ({
  detectFlavour: () => Promise.resolve({ kind: 'mariadb', hasSuperReadOnly: false }),
}));
vi.mock('../../src/mysql/server-state.js', () => ({
  readReadOnly: () => Promise.resolve({ readOnly: fake.readOnly, superReadOnly: false }),
  setReadOnly: (_s: unknown, _f: unknown, on: boolean) => {
    fake.setReadOnly.push(on);
    fake.readOnly = on;
    return Promise.resolve();
  },
}));
vi.mock('../../src/mysql/promote.js', () => ({
  CatchUpTimeout: class CatchUpTimeout extends Error {},
  promote: (_session: unknown, options: unknown) => {
    fake.promotions++;
    fake.promoteOptions.push(options);
    fake.readOnly = false;
    return Promise.resolve({
      outcome: 'promoted',
      flavour: 'MariaDB (fake)',
      catchUp: { result: 'not-needed', waitedMs: 0 },
      gtidPosition: '0-1-42',
      semiSync: { verdict: 'semi-sync off' },
    });
  },
}));
vi.mock('../../src/mysql/demote.js', () => ({
  DivergedError: class DivergedError extends Error {},
  demote: (_session: unknown, options: unknown) => {
    fake.demoteOptions.push(options);
    return Promise.resolve({
      killedSessions: [],
      gtidPosition: '0-1-42',
      repoint: fake.repoint,
    });
  },
}));

let dir = '';
let spec: Spec;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-apply-mysql-'));
  writeFileSync(join(dir, 'record.sh'), '#!/bin/sh\necho "$1" >> "$(dirname "$0")/steps.txt"\n', {
    mode: 0o755,
  });
  spec = parseSpecText(
    baseSpecYaml(`mysql:
  credentials_file: ${dir}/mysql.cnf
paths: { runtime_dir: ${dir}, state_dir: ${dir}/state }
actions:
  master:
    - { type: command, argv: [${dir}/record.sh, before] }
    - { type: mysql.promote }
    - { type: command, argv: [${dir}/record.sh, after] }
  backup:
    - { type: mysql.demote }
`),
    't.yaml',
  );
  Object.assign(fake, {
    readOnly: true,
    setReadOnly: [],
    promotions: 0,
    promoteOptions: [],
    demoteOptions: [],
    repoint: { result: 'skipped', reason: 'test', peer: null, peerPosition: null },
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ONE = { held: ['192.0.2.50'], missing: [] };

function logLines(): Record<string, unknown>[] {
  const file = join(dir, 'log.json');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
}

const steps = () => (existsSync(join(dir, 'steps.txt')) ? readFileSync(join(dir, 'steps.txt'), 'utf8') : '');

async function decideAndApply(seen: Observation, intent: Intent = {}, addresses?: () => ReadonlySet<string>) {
  const plan = decide(seen, spec, intent);
  const outcome = await apply(plan, {
    spec,
    node: spec.nodes[0]!,
    observation: seen,
    intent,
    log: createLogger({ file: join(dir, 'log.json'), level: 'debug' }),
    stepEvent: 'test.step',
    ...(addresses ? { addresses } : {}),
  });
  return { plan, outcome };
}

const stale = () =>
  observation({
    vips: ONE,
    lineage: lineage({ following: false, diverged: ['0-1-101'] }),
    database: database({ readOnly: false }),
  });

describe('mysql.promote acts on the plan', () => {
  it('refused: no promotion, a writable server is made read-only, nothing else of MASTER runs', async () => {
    fake.readOnly = false;
    const { plan, outcome } = await decideAndApply(stale());
    expect(plan.reason).toMatch(/^MASTER refused: stay read-only/);
    expect(fake.promotions).toBe(0);
    expect(fake.setReadOnly).toEqual([true]);
    expect(steps()).toBe('');
    expect(outcome).toMatchObject({ ok: false, aborted: true });
    expect(outcome!.steps).toHaveLength(1);
    expect(outcome!.steps[0]!.detail).toMatch(
      /^stays read-only: .*diverged from ha2 .*holds 0-1-101.*\. Way out: .*--accept-stale/,
    );
    const lines = logLines();
    expect(lines.find((l) => l.event === 'promote.made_read_only')).toMatchObject({
      level: 'error',
      transition_id: TID,
    });
    expect(lines.find((l) => l.event === 'promote.refused_stale')).toMatchObject({
      level: 'error',
      transition_id: TID,
      decision: 'stay read-only',
      lineage: { primary: 'ha2', diverged: ['0-1-101'] },
      way_out: expect.stringMatching(/--accept-stale/),
    });
  });

  it('refused on a server already read-only: nothing to change, still a failed step', async () => {
    const { outcome } = await decideAndApply(stale());
    expect(fake.setReadOnly).toEqual([]);
    expect(steps()).toBe('');
    expect(fake.promotions).toBe(0);
    expect(outcome).toMatchObject({ ok: false, aborted: true });
  });

  it('allowed: the whole MASTER list runs, promote included, and the lineage names this node', async () => {
    const seen = observation({ vips: ONE, lineage: { kind: 'none' }, database: database() });
    const { outcome } = await decideAndApply(seen);
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.promotions).toBe(1);
    expect(steps()).toBe('before\nafter\n');
    expect(logLines().find((l) => l.event === 'promote.guard')).toMatchObject({
      decision: 'promote',
      transition_id: TID,
      reason: expect.stringMatching(/first promotion/),
    });
    const record = JSON.parse(readFileSync(join(dir, 'state', 'ha1.lineage.json'), 'utf8')) as unknown;
    expect(record).toMatchObject({
      node: 'ha1',
      primary: 'ha1',
      primaryPosition: '0-1-42',
      reason: 'promoted (promoted)',
    });
  });

  it('overridden by the operator: promotes, logs the override at error level and records it in the lineage', async () => {
    const { outcome } = await decideAndApply(stale(), { acceptStale: 'ha2 gone, ticket 9' });
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.promotions).toBe(1);
    expect(logLines().find((l) => l.event === 'promote.override')).toMatchObject({
      level: 'error',
      decision: 'promote',
      reason: expect.stringMatching(
        /^operator override \(ha2 gone, ticket 9\): promoting although it diverged/,
      ),
    });
    const record = JSON.parse(readFileSync(join(dir, 'state', 'ha1.lineage.json'), 'utf8')) as {
      reason: string;
    };
    expect(record.reason).toBe('promoted (promoted), by operator override: ha2 gone, ticket 9');
  });

  it('run outside a decided plan (no verdict in its context), it refuses', async () => {
    const run = await loadAction('mysql.promote');
    const result = await run(
      { type: 'mysql.promote' },
      {
        spec,
        node: spec.nodes[0]!,
        state: 'MASTER',
        previous: undefined,
        runtimeDir: dir,
        log: createLogger({ level: 'silent' }),
      },
      new AbortController().signal,
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/no promotion verdict was given/);
    expect(fake.promotions).toBe(0);
  });
});

describe('mysql.demote asks the core, not the host, whether to keep waiting for the peer', () => {
  it("keepWaiting follows apply's VIP source, re-read on every call", async () => {
    let addresses = new Set<string>();
    const seen = observation({ vips: NONE, keepalived: said('BACKUP') });
    const { outcome } = await decideAndApply(seen, {}, () => addresses);
    expect(outcome).toMatchObject({ ok: true });
    expect(fake.demoteOptions).toHaveLength(1);
    const options = fake.demoteOptions[0] as DemoteOptions;
    const keepWaiting = options.waitForPrimary!.keepWaiting;
    expect(keepWaiting()).toBe(true);
    addresses = new Set(['192.0.2.50']);
    expect(keepWaiting()).toBe(false);
    addresses = new Set(['192.0.2.99']);
    expect(keepWaiting()).toBe(true);
  });
});

describe('mysql.promote asks the core, right before read_only=OFF, whether the VIPs are still here', () => {
  it("stillWanted follows apply's VIP source, re-read on every call", async () => {
    let addresses = new Set(['192.0.2.50']);
    const seen = observation({ vips: ONE, lineage: { kind: 'none' }, database: database() });
    const { outcome } = await decideAndApply(seen, {}, () => addresses);
    expect(outcome).toMatchObject({ ok: true });
    const stillWanted = (fake.promoteOptions[0] as PromoteOptions).stillWanted!;
    expect(stillWanted()).toBeUndefined();
    addresses = new Set();
    expect(stillWanted()).toMatch(/holds none of the VIPs any more \(192\.0\.2\.50\)/);
  });
});

describe('a demotion that could not re-point yet', () => {
  const backupEvent = (lastApplied?: Observation['lastApplied']) =>
    observation({ vips: NONE, keepalived: said('BACKUP'), ...(lastApplied ? { lastApplied } : {}) });
  const recorded = () => readAppliedState(appliedStatePath(dir, 'ha1'), AbortSignal.timeout(5000));

  it('is applied again by the next event for its state without the agent; once re-pointed it is "already applied"', async () => {
    writeFileSync(join(dir, 'repl.cnf'), '[client]\nuser=repl\npassword=not-shown\n', { mode: 0o600 });
    spec = parseSpecText(
      baseSpecYaml(`mysql:
  credentials_file: ${dir}/mysql.cnf
  replication_credentials_file: ${dir}/repl.cnf
paths: { runtime_dir: ${dir}, state_dir: ${dir}/state }
actions:
  backup:
    - { type: mysql.demote }
`),
      't.yaml',
    );
    fake.repoint = {
      result: 'skipped',
      reason: 'the peer is read-only, so it is not a primary',
      peer: '192.0.2.12:3306',
      peerPosition: null,
    };
    const first = await decideAndApply(backupEvent());
    expect(first.outcome).toMatchObject({ ok: true });
    const left = await recorded();
    expect(left).toMatchObject({
      state: 'BACKUP',
      ok: true,
      unfinished: 'mysql.demote: not re-pointed: the peer is read-only, so it is not a primary',
    });

    // keepalived's next BACKUP (it restarted, the peer promoted meanwhile) is that later transition.
    const again = decide(backupEvent(left), spec, {});
    expect(again.target).toBe('BACKUP');
    expect(again.reason).toMatch(
      /BACKUP was applied \(at .*\) but left unfinished \(mysql\.demote: not re-pointed/,
    );
    // The agent finishes it with rule 7 instead of running the whole demotion on every tick.
    const withAgent: Spec = { ...spec, agent: { ...spec.agent, enabled: true } };
    expect(decide({ ...backupEvent(left), agentAlive: false }, withAgent, {}).target).toBeUndefined();

    fake.repoint = {
      result: 'repointed',
      reason: 'the peer is the writable primary',
      peer: '192.0.2.12:3306',
      peerPosition: '0-2-5',
    };
    await decideAndApply(backupEvent(left));
    expect(fake.demoteOptions).toHaveLength(2);
    const done = await recorded();
    expect(done).toMatchObject({ state: 'BACKUP', ok: true });
    expect(done?.unfinished).toBeUndefined();
    expect(decide(backupEvent(done), spec, {}).target).toBeUndefined();
  });

  it('without a replication account nothing is left for later: the next event is "already applied"', async () => {
    fake.repoint = { result: 'skipped', reason: 'no peer given', peer: null, peerPosition: null };
    await decideAndApply(backupEvent());
    const left = await recorded();
    expect(left).toMatchObject({ state: 'BACKUP', ok: true });
    expect(left?.unfinished).toBeUndefined();
    expect(decide(backupEvent(left), spec, {}).target).toBeUndefined();
  });
});
