/**
 * The strict rejoin runs beside the loop's ticks (src/agent/loop.ts): started once when a tick sees
 * this node diverged under strict semi-sync, never blocking the ticks, never two at once, holding
 * any demotion while it rebuilds, backed off after a refusal, and cancelled when the agent stops.
 * The job itself is a stand-in here; test/mysql/strict-rejoin.test.ts runs the real one.
 */
import { markerPath } from '../../src/mysql/rebuild.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReconcileLoop, type TickRecord } from '../../src/agent/loop.js';
import type { AppliedState, StandbyFacts } from '../../src/cluster/observation.js';
import { localSources } from '../../src/cluster/observe.js';
import type { RejoinOptions, RejoinOutcome } from '../../src/cluster/rejoin-run.js';
import { waitFor } from '../../src/lab/processes.js';
import { acquireLock, lockPath } from '../../src/notify/lock.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { baseSpecYaml } from '../actions/context.js';

let dir = '';
let loop: ReconcileLoop | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-rejoin-'));
});

afterEach(async () => {
  await loop?.stop(10_000);
  loop = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function specWith(semiSync: 'strict' | 'expected'): Spec {
  const parsed = parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
mysql:
  credentials_file: /etc/hactl/mysql.cnf
actions:
  backup:
    - { type: mysql.demote }
`),
    'test.yaml',
  );
  return {
    ...parsed,
    agent: { ...parsed.agent, enabled: true },
    mysql: { ...parsed.mysql!, replication_credentials_file: '/etc/hactl/repl.cnf', semi_sync: semiSync },
  };
}

/** Not replicating, with 0-1-9 that the writable peer lacks. */
const DIVERGED: StandbyFacts = {
  kind: 'ok',
  readOnly: true,
  replica: null,
  peer: { node: 'ha2', address: '192.0.2.12:3306' },
  peerState: { kind: 'ok', writable: true, position: '0-2-5', extraHere: ['0-1-9 (peer has 0-1-8)'] },
};

interface Harness {
  ticks: TickRecord[];
  calls: RejoinOptions[];
  finish(outcome: RejoinOutcome): void;
  setApplied(state: AppliedState): void;
}

function run(
  spec: Spec,
  initial: AppliedState = { state: 'BACKUP', ok: true, at: 'then', event: 'x' },
): Harness {
  const ticks: TickRecord[] = [];
  const calls: RejoinOptions[] = [];
  let finish: (outcome: RejoinOutcome) => void = () => undefined;
  let applied = initial;
  loop = new ReconcileLoop({
    current: () => ({ spec, node: spec.nodes[0]! }),
    log: createLogger({ level: 'silent' }),
    periodMs: 50,
    sources: {
      ...localSources,
      addresses: () => new Set<string>(),
      appliedState: () => Promise.resolve(applied),
      lineage: () =>
        Promise.resolve({
          kind: 'ok',
          lineage: {
            node: 'ha1',
            primary: 'ha2',
            primaryPosition: '0-2-5',
            following: false,
            diverged: ['0-1-9'],
            reason: 'diverged',
            at: 'then',
          },
        }),
      standby: () => Promise.resolve(DIVERGED),
    },
    onTick: (record) => ticks.push(record),
    rejoin: (options) => {
      calls.push(options);
      return new Promise<RejoinOutcome>((resolve, reject) => {
        finish = resolve;
        options.signal.addEventListener('abort', () => reject(options.signal.reason as Error), {
          once: true,
        });
      });
    },
  });
  loop.start();
  return { ticks, calls, finish: (o) => finish(o), setApplied: (s) => (applied = s) };
}

/** keepalived's FIFO line for the test's one instance. */
function hear(state: 'BACKUP' | 'FAULT'): void {
  loop!.heard({ state, source: 'fifo', name: 'VI_1', priority: 100, text: `INSTANCE "VI_1" ${state} 100` });
}

describe('the strict rejoin beside the loop', () => {
  it(
    'starts once, lets the ticks run, holds a demotion while it runs, and backs off after a refusal',
    { timeout: 60_000 },
    async () => {
      const h = run(specWith('strict'));
      await waitFor('the rejoin starts', () => h.calls.length === 1, { timeoutMs: 15_000 });
      expect(h.ticks.find((t) => t.result === 'rejoin')?.rejoin).toBe('rebuilding');
      // The ticks go on while it runs, and start no second one.
      const during = h.ticks.length;
      await waitFor('twenty ticks during the rejoin', () => h.ticks.length >= during + 20, {
        timeoutMs: 15_000,
      });
      expect(h.calls).toHaveLength(1);
      // A failed demotion would be applied again: not while the rebuild runs.
      h.setApplied({ state: 'BACKUP', ok: false, at: 'then', event: 'x' });
      const held = h.ticks.length;
      hear('BACKUP');
      await waitFor(
        'a held demotion',
        () =>
          h.ticks.slice(held).some((t) => /BACKUP waits: the strict rejoin .* is rebuilding/.test(t.reason)),
        { timeoutMs: 15_000 },
      );
      expect(h.ticks.slice(held).every((t) => t.result !== 'apply')).toBe(true);
      h.setApplied({ state: 'BACKUP', ok: true, at: 'then', event: 'x' });

      h.finish({ result: 'refused', reason: 'not rebuilt by itself: test', extraGtids: ['0-1-9'] });
      await waitFor('the refusal is recorded', () => h.ticks.some((t) => t.rejoin === 'refused'), {
        timeoutMs: 15_000,
      });
      expect(h.ticks.find((t) => t.rejoin === 'refused')!.reason).toBe(
        'strict rejoin refused: not rebuilt by itself: test',
      );
      // The next standby probe (every 10 s) sees it diverged again: judged again only after the back-off (30 s).
      const after = h.ticks.length;
      await waitFor(
        'a tick that sees the divergence again',
        () => h.ticks.slice(after).some((t) => /the agent judges a rejoin by rebuild/.test(t.reason)),
        { timeoutMs: 25_000 },
      );
      const seen = h.ticks.length;
      await waitFor('the ticks after it', () => h.ticks.length >= seen + 5, { timeoutMs: 15_000 });
      expect(h.calls).toHaveLength(1);
    },
  );

  it(
    'is cancelled by a new transition (FAULT after BACKUP), which does not wait for it, and starts again without back-off',
    { timeout: 40_000 },
    async () => {
      const h = run(specWith('strict'));
      await waitFor('the rejoin starts', () => h.calls.length === 1, { timeoutMs: 15_000 });
      hear('FAULT');
      await waitFor(
        'FAULT applied',
        () => h.ticks.some((t) => t.result === 'apply' && t.target === 'FAULT'),
        {
          timeoutMs: 15_000,
        },
      );
      expect(h.calls[0]!.signal.aborted).toBe(true);
      expect(h.ticks.find((t) => t.rejoin === 'cancelled')?.reason).toMatch(
        /FAULT was decided for this node/,
      );
      // Not its own verdict: no back-off; the next tick that sees the divergence starts it again
      // (here: keepalived back to BACKUP, already applied, and the next standby probe).
      hear('BACKUP');
      await waitFor('the rejoin starts again', () => h.calls.length === 2, { timeoutMs: 20_000 });
    },
  );

  /** A failed BACKUP demotion, keepalived saying BACKUP again: the tick that applies it. */
  async function backupAppliedAgain(spec: ReturnType<typeof specWith>) {
    const h = run(spec, { state: 'BACKUP', ok: false, at: 'then', event: 'x' });
    hear('BACKUP');
    await waitFor(
      'BACKUP applied',
      () => h.ticks.some((t) => t.result === 'apply' && t.target === 'BACKUP'),
      { timeoutMs: 15_000 },
    );
    return { h, applied: h.ticks.find((t) => t.result === 'apply' && t.target === 'BACKUP')! };
  }

  it('while a rebuild is unfinished (its marker), a demotion runs without mysql.demote and the rejoin is asked to resume', async () => {
    const spec = specWith('strict');
    mkdirSync(spec.paths.state_dir, { recursive: true });
    writeFileSync(
      markerPath(spec.paths.state_dir, spec.nodes[0]!.name),
      JSON.stringify({ discarded: ['0-1-9'], savedBinlogDir: '/x', peer: 'p', at: 'then' }),
    );
    // The demotion failed last time (diverged) and keepalived says BACKUP: it is applied again.
    const { h, applied } = await backupAppliedAgain(spec);
    expect(applied.reason).toMatch(/mysql.demote left out: a rebuild is unfinished here/);
    expect(applied.outcome?.steps.map((step) => step.action)).toEqual([]);
    await waitFor('the rejoin is asked to resume it', () => h.calls.length === 1, { timeoutMs: 15_000 });
  });

  it("another node's marker in a shared state_dir (the lab's) does not hold this node's demotion back", async () => {
    const spec = specWith('strict');
    mkdirSync(spec.paths.state_dir, { recursive: true });
    writeFileSync(
      markerPath(spec.paths.state_dir, 'not-this-node'),
      JSON.stringify({ discarded: ['0-2-9'], savedBinlogDir: '/y', peer: 'q', at: 'then' }),
    );
    const { applied } = await backupAppliedAgain(spec);
    expect(applied.reason).not.toMatch(/mysql.demote left out/);
    expect(applied.outcome?.steps.map((step) => step.action)).toContain('mysql.demote');
  });

  it("holds the transition lock while it runs: a keepalived hook's notify cannot demote beside it", async () => {
    const spec = specWith('strict');
    const h = run(spec);
    await waitFor('the rejoin starts', () => h.calls.length === 1, { timeoutMs: 15_000 });
    const file = lockPath(spec.paths.runtime_dir, spec.nodes[0]!.name);
    await expect(acquireLock(file, 1, { fileLock: false })).rejects.toThrow(/held/);
    h.finish({ result: 'nothing', reason: 'test' });
    await waitFor('the rejoin ends', () => h.ticks.some((t) => t.rejoin === 'nothing'), {
      timeoutMs: 15_000,
    });
    const lock = await acquireLock(file, 5, { fileLock: false });
    lock.release();
  });

  it('is cancelled when the agent stops', async () => {
    const h = run(specWith('strict'));
    await waitFor('the rejoin starts', () => h.calls.length === 1, { timeoutMs: 15_000 });
    expect(await loop!.stop(10_000)).toBe(true);
    expect(h.calls[0]!.signal.aborted).toBe(true);
  });

  it('is not started without strict semi-sync (a human runs hactl rebuild)', async () => {
    const h = run(specWith('expected'));
    await waitFor('thirty ticks', () => h.ticks.length >= 30, { timeoutMs: 15_000 });
    expect(h.calls).toHaveLength(0);
    expect(h.ticks.some((t) => /a human must reconcile \(hactl rebuild\)/.test(t.reason))).toBe(true);
  });
});
