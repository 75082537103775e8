/**
 * A notify whose promotion its database did not answer for tries again (src/notify/retry.ts):
 * stub sources for the VIPs, the lineage and the database; the real lock, applied-state record,
 * decision core and command actions; mysql.promote replaced by a stand-in that acts on the core's
 * verdict exactly as the real one does (promotes when allowed, holds read-only and fails when not).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DatabaseFacts } from '../../src/cluster/observation.js';
import { localSources, type ObservationSources } from '../../src/cluster/observe.js';
import { createLogger } from '../../src/log.js';
import { summaryLine } from '../../src/commands/notify.js';
import { parseEvent } from '../../src/notify/event.js';
import { acquireLock, lockPath } from '../../src/notify/lock.js';
import { retryCause } from '../../src/notify/retry.js';
import { runNotify, type NotifySummary } from '../../src/notify/run.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { baseSpecYaml } from '../actions/context.js';
import { database, DB, observation } from '../cluster/support.js';
import { decide } from '../../src/cluster/decide.js';

/** Every promotion the stand-in carried out (the verdict allowed it). */
const promoted: string[] = [];

/** How many more times the mysql.demote stand-in fails as a cut connection does; every run, in order. */
const demotion = { failuresLeft: 0, runs: [] as string[] };

vi.mock('../../src/actions/mysql-demote.js', () => ({
  run: () => {
    demotion.runs.push(demotion.failuresLeft > 0 ? 'failed' : 'ok');
    if (demotion.failuresLeft-- > 0)
      return Promise.resolve({ ok: false, detail: 'demotion incomplete: Connection lost (stand-in)' });
    return Promise.resolve({ ok: true, detail: 'read-only (stand-in)' });
  },
}));

vi.mock('../../src/actions/mysql-promote.js', () => ({
  run: (_action: unknown, context: { promotion?: { verdict: { allow: boolean } }; transitionId?: string }) =>
    Promise.resolve(
      context.promotion?.verdict.allow
        ? (promoted.push(context.transitionId ?? '?'), { ok: true, detail: 'promoted (stand-in)' })
        : { ok: false, detail: 'stays read-only (stand-in)' },
    ),
}));

const VIP = '192.0.2.50';
let dir = '';
let spec: Spec;
let vips: Set<string>;
/** What each database read answers, in turn (the last one repeats). */
let answers: DatabaseFacts[];
let databaseReads = 0;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-notify-retry-'));
  promoted.length = 0;
  databaseReads = 0;
  demotion.failuresLeft = 0;
  demotion.runs = [];
  vips = new Set([VIP]);
  writeFileSync(join(dir, 'record.sh'), '#!/bin/sh\necho "$1" >> "$(dirname "$0")/steps.txt"\n', {
    mode: 0o755,
  });
  spec = parseSpecText(
    baseSpecYaml(`mysql: { credentials_file: ${dir}/mysql.cnf, catch_up_timeout: 10 }
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
  master:
    - { type: mysql.promote }
    - { type: command, argv: [${dir}/record.sh, up] }
  backup:
    - { type: mysql.demote }
    - { type: command, argv: [${dir}/record.sh, down] }
`),
    't.yaml',
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** ha2 was the last primary this node knew of: it lacks ha2's writes. */
const STALE_LINEAGE = {
  node: 'ha1',
  primary: 'ha2',
  primaryPosition: '0-2-10',
  following: true,
  diverged: [],
  reason: 'x',
  at: 'then',
};
const UNREACHABLE: DatabaseFacts = { kind: 'unreachable', problem: 'no answer within 8000 ms' };
const ANSWERS: DatabaseFacts = { kind: 'ok', readOnly: true, replica: null, coverage: undefined };

const sources = (): ObservationSources => ({
  ...localSources,
  addresses: () => new Set(vips),
  lineage: () => Promise.resolve({ kind: 'none' }),
  database: () => Promise.resolve(answers[Math.min(databaseReads++, answers.length - 1)]!),
});

const logFile = () => join(dir, 'log.json');
function lines(event?: string): Record<string, unknown>[] {
  if (!existsSync(logFile())) return [];
  const all = readFileSync(logFile(), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return event ? all.filter((l) => l.event === event) : all;
}
const steps = () => (existsSync(join(dir, 'steps.txt')) ? readFileSync(join(dir, 'steps.txt'), 'utf8') : '');

function notify(words: string[], between: (pauseMs: number) => Promise<void> | void = () => undefined) {
  const pauses: number[] = [];
  const run = runNotify(
    spec,
    spec.nodes[0]!,
    parseEvent(words),
    {
      force: false,
      lockWaitSec: 5,
      retry: {
        sleep: async (ms) => {
          pauses.push(ms);
          await between(ms);
        },
      },
    },
    createLogger({ file: logFile(), level: 'info' }),
    sources(),
  );
  return { run, pauses };
}

describe('notify retries a promotion its database did not answer for', () => {
  it('database unreachable twice, then answering: promoted once, every attempt logged with the id and why', async () => {
    answers = [UNREACHABLE, UNREACHABLE, ANSWERS];
    const { run, pauses } = notify(['INSTANCE', 'inside', 'MASTER', '150']);
    const summary: NotifySummary = await run;
    expect(summary).toMatchObject({ applied: 'MASTER', attempts: 3 });
    expect(summary.outcome?.ok).toBe(true);
    expect(promoted).toEqual([summary.transitionId]);
    expect(steps()).toBe('up\n');
    expect(pauses).toEqual([500, 1000]);
    const retries = lines('notify.retry');
    expect(retries.map((l) => [l.attempt, l.result])).toEqual([
      [2, 'not yet'],
      [3, 'carried out'],
    ]);
    for (const line of retries) {
      expect(line.transition_id).toBe(summary.transitionId);
      expect(line.why).toMatch(/^its database did not answer \(no answer within 8000 ms\)$/);
    }
    expect(lines('notify.decision').map((l) => l.promotion)).toEqual(['refused', 'refused', 'allowed']);
    expect(lines('notify.decision').map((l) => l.retry)).toEqual([undefined, true, true]);
  });

  it('VIPs lost while it waits: the retry stops and applies nothing (neither MASTER nor the BACKUP the core now wants)', async () => {
    answers = [UNREACHABLE, ANSWERS];
    const { run } = notify(['INSTANCE', 'inside', 'MASTER', '150'], () => void vips.clear());
    const summary = await run;
    expect(promoted).toEqual([]);
    expect(steps()).toBe('');
    expect(summary).toMatchObject({ applied: undefined, attempts: 2 });
    // What the event itself did stands in the summary: its refused promotion.
    expect(summary.outcome?.ok).toBe(false);
    expect(summary.reason).toMatch(/^the core no longer decides MASTER \(BACKUP\)/);
    expect(summary.superseded).toBe(summary.reason);
    expect(lines('notify.retry')).toEqual([
      expect.objectContaining({ attempt: 2, result: 'stopped', transition_id: summary.transitionId }),
    ]);
  });

  it('a BACKUP event that overtook the retried MASTER event owns the node, even once the VIPs are back', async () => {
    answers = [UNREACHABLE, ANSWERS];
    const { run } = notify(['INSTANCE', 'inside', 'MASTER', '150'], async () => {
      vips.clear();
      const backup = await runNotify(
        spec,
        spec.nodes[0]!,
        parseEvent(['INSTANCE', 'inside', 'BACKUP', '150']),
        { force: false, lockWaitSec: 0 },
        createLogger({ file: logFile(), level: 'info' }),
        sources(),
      );
      expect(backup.applied).toBe('BACKUP');
      vips.add(VIP);
    });
    const summary = await run;
    expect(promoted).toEqual([]);
    expect(steps()).toBe('down\n');
    expect(summary.reason).toMatch(/^a later transition \(ha1-.+\) applied BACKUP on this node since/);
  });

  it('the lock is free between attempts: a later notify takes it at once', async () => {
    answers = [UNREACHABLE, ANSWERS];
    const taken: number[] = [];
    const { run } = notify(['INSTANCE', 'inside', 'MASTER', '150'], async () => {
      // waitSec 0: a held lock throws LockTimeout at once.
      const lock = await acquireLock(lockPath(spec.paths.runtime_dir, 'ha1'), 0);
      taken.push(lock.waitedMs);
      lock.release();
    });
    const summary = await run;
    expect(taken).toHaveLength(1);
    expect(summary).toMatchObject({ applied: 'MASTER', attempts: 2 });
    expect(promoted).toEqual([summary.transitionId]);
  });

  it('a retry that cannot take the lock stops, superseded, keeping what the event did (no LockTimeout thrown)', async () => {
    answers = [UNREACHABLE, ANSWERS];
    let held: { release(): void } | undefined;
    const summary = await runNotify(
      spec,
      spec.nodes[0]!,
      parseEvent(['INSTANCE', 'inside', 'MASTER', '150']),
      {
        force: false,
        lockWaitSec: 0,
        retry: {
          sleep: async () => {
            // Another notify takes the lock and keeps it past the retry's lock wait.
            held = await acquireLock(lockPath(spec.paths.runtime_dir, 'ha1'), 0);
          },
        },
      },
      createLogger({ file: logFile(), level: 'info' }),
      sources(),
    ).finally(() => held?.release());
    expect(held).toBeDefined();
    expect(promoted).toEqual([]);
    expect(summary).toMatchObject({ applied: undefined, attempts: 2 });
    expect(summary.outcome?.ok).toBe(false);
    expect(summary.superseded).toMatch(
      /^attempt 2 could not run: another hactl notify held .*lock for more than/i,
    );
    // The first attempt was applied (and failed): the lock's "this event was not applied" is not said.
    expect(summary.superseded).not.toMatch(/not applied/);
    expect(lines('notify.retry')).toEqual([
      expect.objectContaining({ attempt: 2, result: 'stopped', transition_id: summary.transitionId }),
    ]);
    expect(summaryLine('ha1', 'INSTANCE inside MASTER 150', summary)).toMatch(
      /: not carried out; failed: mysql\.promote \(.*\); stopped retrying after 2 attempts in \d+ ms, the node moved on: attempt 2 could not run/,
    );
  });

  it('a refusal on what the database shows is not retried', async () => {
    // It last knew ha2 as primary and replicates from nobody: it lacks ha2's writes.
    answers = [ANSWERS];
    const staleSources = {
      ...sources(),
      lineage: () =>
        Promise.resolve({
          kind: 'ok' as const,
          lineage: STALE_LINEAGE,
        }),
    };
    const summary = await runNotify(
      spec,
      spec.nodes[0]!,
      parseEvent(['master']),
      { force: false, lockWaitSec: 5, retry: { sleep: () => Promise.reject(new Error('must not pause')) } },
      createLogger({ file: logFile(), level: 'info' }),
      staleSources,
    );
    expect(summary.attempts).toBe(1);
    expect(promoted).toEqual([]);
    expect(lines('notify.retry')).toEqual([]);
  });

  it('gives up once mysql.catch_up_timeout has passed since the first attempt, and says so', async () => {
    answers = [UNREACHABLE];
    spec = { ...spec, mysql: { ...spec.mysql!, catch_up_timeout: 0.3 } };
    const summary = await runNotify(
      spec,
      spec.nodes[0]!,
      parseEvent(['master']),
      {
        force: false,
        lockWaitSec: 5,
        retry: { firstPauseMs: 200, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) },
      },
      createLogger({ file: logFile(), level: 'info' }),
      sources(),
    );
    expect(promoted).toEqual([]);
    expect(summary.attempts).toBeGreaterThanOrEqual(2);
    expect(summary.attempts).toBeLessThanOrEqual(3);
    expect(lines('notify.retry').at(-1)).toMatchObject({
      result: 'given up',
      transition_id: summary.transitionId,
      reason: expect.stringMatching(/more than 0\.3 s \(mysql\.catch_up_timeout\)/) as unknown,
    });
  });

  it('a demotion whose connection was cut is run again until it is carried out', async () => {
    vips.clear();
    answers = [ANSWERS];
    demotion.failuresLeft = 2;
    const { run, pauses } = notify(['INSTANCE', 'inside', 'BACKUP', '150']);
    const summary = await run;
    expect(summary).toMatchObject({ applied: 'BACKUP', attempts: 3 });
    expect(summary.outcome?.ok).toBe(true);
    expect(demotion.runs).toEqual(['failed', 'failed', 'ok']);
    // The whole list runs each time (every action is idempotent), as on the next event.
    expect(steps()).toBe('down\ndown\ndown\n');
    expect(pauses).toEqual([500, 1000]);
    expect(lines('notify.retry').map((l) => [l.attempt, l.result, l.why])).toEqual([
      [2, 'not yet', 'mysql.demote failed: demotion incomplete: Connection lost (stand-in)'],
      [3, 'carried out', 'mysql.demote failed: demotion incomplete: Connection lost (stand-in)'],
    ]);
  });

  it('a retried demotion stops once this node holds every VIP again (the core decides MASTER)', async () => {
    vips.clear();
    answers = [ANSWERS];
    demotion.failuresLeft = 1;
    const { run } = notify(['INSTANCE', 'inside', 'BACKUP', '150'], () => void vips.add(VIP));
    const summary = await run;
    expect(demotion.runs).toEqual(['failed']);
    expect(promoted).toEqual([]);
    expect(summary).toMatchObject({ applied: undefined, attempts: 2 });
    expect(summary.reason).toMatch(/^the core no longer decides BACKUP \(MASTER\)/);
  });

  it('without the retry option (the default for callers other than the command), one attempt', async () => {
    answers = [UNREACHABLE, ANSWERS];
    const summary = await runNotify(
      spec,
      spec.nodes[0]!,
      parseEvent(['master']),
      { force: false, lockWaitSec: 5 },
      createLogger({ file: logFile(), level: 'info' }),
      sources(),
    );
    expect(summary.attempts).toBe(1);
    expect(promoted).toEqual([]);
  });
});

describe('retryCause: a promotion that lacked an answer, or a failed database step', () => {
  const attempt = (obs: ReturnType<typeof observation>, ok: boolean, action = 'mysql.promote') => ({
    observation: obs,
    plan: decide(obs, DB, {}),
    outcome: {
      steps: [{ action, ok, policy: 'abort' as const, durationMs: 1, detail: 'x', diverged: false }],
      aborted: !ok,
      diverged: false,
      ok,
    },
  });

  it('retries an unobserved or unreachable database and a failed database step', () => {
    expect(retryCause(attempt(observation(), false))).toMatch(/not observed/);
    expect(
      retryCause(attempt(observation({ lineage: { kind: 'none' }, database: UNREACHABLE }), false)),
    ).toMatch(/did not answer/);
    expect(retryCause(attempt(observation({ lineage: { kind: 'none' }, database: database() }), false))).toBe(
      'mysql.promote failed: x',
    );
  });

  it("retries a demotion's failed database step, not its other steps", () => {
    const backup = observation({
      vips: { held: [], missing: ['192.0.2.50'] },
      lastApplied: undefined,
      keepalived: { state: 'BACKUP', source: 'event', text: 'b' },
    });
    expect(retryCause(attempt(backup, false, 'mysql.demote'))).toBe('mysql.demote failed: x');
    expect(retryCause(attempt(backup, false, 'service stop app'))).toBeUndefined();
  });

  it('does not retry success, nothing to apply, a non-database step, or a refusal on the data', () => {
    const seen = observation({ lineage: { kind: 'none' }, database: database() });
    expect(retryCause(attempt(seen, true))).toBeUndefined();
    expect(retryCause(attempt(seen, false, 'service start app'))).toBeUndefined();
    const nothing = observation({ vips: { held: [], missing: ['192.0.2.50'] }, lastApplied: undefined });
    expect(decide(nothing, DB, {}).target).toBeUndefined();
    expect(retryCause(attempt(nothing, false))).toBeUndefined();
    const stale = observation({
      lineage: {
        kind: 'ok',
        lineage: STALE_LINEAGE,
      },
      database: database(),
    });
    expect(retryCause(attempt(stale, false))).toBeUndefined();
  });
});
