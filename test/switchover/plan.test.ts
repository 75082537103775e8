/**
 * The pure half of `hactl switchover`: who hands over to whom, each refusal reason, the step plan,
 * the progress lines, and the decision core's step-down rule the intent feeds.
 */
import { describe, expect, it } from 'vitest';
import { actionLabel } from '../../src/actions/index.js';
import { decide } from '../../src/cluster/decide.js';
import { preflight, stepPlan, type PreflightInput } from '../../src/switchover/plan.js';
import {
  holdsPrimaryDown,
  isSettled,
  STEP_NAMES,
  windowMs,
  type SwitchoverRecord,
} from '../../src/switchover/record.js';
import { stepLine, summaryLine } from '../../src/switchover/format.js';
import type { NodeStatus } from '../../src/status/types.js';
import { applied, ALL, DB, NONE, observation, said } from '../cluster/support.js';
import { node, primaryDb, replicaDb, replicating } from '../status/support.js';

const VIPS = ['192.0.2.50', '198.51.100.50'];

function primary(extra: Partial<NodeStatus> = {}): NodeStatus {
  return node('ha1', primaryDb(), { source: 'agent', vips_held: VIPS, ...extra });
}

function standby(extra: Partial<NodeStatus> = {}, db = replicaDb()): NodeStatus {
  return node('ha2', db, {
    source: 'agent',
    vips_held: [],
    agent: { alive: true, detail: 'ok', checks: [], failback_gate: null },
    checks: [],
    vrrp: [],
    ...extra,
  });
}

function input(
  ha2: NodeStatus | null,
  overrides: Partial<PreflightInput> = {},
  ha1 = primary(),
): PreflightInput {
  return {
    spec: DB,
    nodes: {
      ha1: { status: ha1 },
      ha2: ha2 ? { status: ha2 } : { status: null, problem: 'connection refused' },
    },
    to: undefined,
    maxLagSec: 5,
    ...overrides,
  };
}

function refusal(ha2: NodeStatus | null, overrides: Partial<PreflightInput> = {}, ha1 = primary()): string {
  const verdict = preflight(input(ha2, overrides, ha1));
  expect(verdict.kind).toBe('refuse');
  return verdict.kind === 'refuse' ? verdict.reason : '';
}

describe('preflight', () => {
  it('a healthy standby that keeps up: go, from the writable VIP holder to the other node', () => {
    const verdict = preflight(input(standby()));
    expect(verdict).toMatchObject({ kind: 'go', from: 'ha1', to: 'ha2' });
    expect(verdict.kind === 'go' && verdict.reason).toMatch(/lag 0 s ≤ 5 s/);
  });

  it('the target is the primary already (a rerun after a finished switchover): nothing to do', () => {
    expect(preflight(input(standby(), { to: 'ha1' }))).toMatchObject({ kind: 'nothing', from: 'ha1' });
  });

  it.each<[string, NodeStatus | null, RegExp]>([
    [
      'its SQL thread stopped',
      standby({}, replicaDb(replicating({ sql_running: false, lag_seconds: null }))),
      /SQL thread is stopped/,
    ],
    [
      'its IO thread stopped',
      standby({}, replicaDb(replicating({ io_running: 'no' }))),
      /IO thread is stopped/,
    ],
    [
      'a lag over --max-lag',
      standby({}, replicaDb(replicating({ lag_seconds: 9 }))),
      /lags 9 s behind ha1 \(more than --max-lag 5 s\)/,
    ],
    ['an unknown lag', standby({}, replicaDb(replicating({ lag_seconds: null }))), /lag is unknown/],
    [
      'a replication error',
      standby({}, replicaDb(replicating({ last_sql_errno: 1062, last_sql_error: 'Duplicate entry' }))),
      /error 1062: Duplicate entry/,
    ],
    ['no replication', standby({}, replicaDb(null)), /does not replicate from ha1/],
    [
      'a diverged lineage',
      standby({
        lineage: {
          primary: 'ha1',
          primary_position: '0-1-9',
          following: false,
          diverged: ['0-2-7'],
          at: 'x',
        },
      }),
      /diverged from ha1: it holds 0-2-7/,
    ],
    [
      'an unreachable database',
      standby({}, { reachable: false, address: '192.0.2.12:3306', problem: 'refused' }),
      /database is unreachable/,
    ],
    [
      'a failing check',
      standby({
        checks: [
          {
            name: 'nginx',
            kind: 'http',
            ok: false,
            last_result: false,
            detail: 'HTTP 502',
            latency_ms: 1,
            last_run_at: null,
            track_value: 1,
          },
        ],
      }),
      /check nginx fails \(HTTP 502\)/,
    ],
    [
      'a dead agent',
      standby({ agent: { alive: false, detail: 'heartbeat stale', checks: [], failback_gate: null } }),
      /agent is not alive/,
    ],
    [
      'a FAULT instance',
      standby({
        vrrp: [
          {
            instance: 'inside',
            interface: 'eth1',
            vrid: 51,
            state: 'FAULT',
            since: null,
            effective_priority: null,
            fault_by: 'chk_mariadb',
            reported_priority: null,
          },
        ],
      }),
      /VRRP instance inside is FAULT \(chk_mariadb\)/,
    ],
    ['an agent that cannot be asked', null, /ha2's agent could not be asked \(connection refused\)/],
  ])('refuses a target with %s, naming it', (_what, ha2, reason) => {
    expect(refusal(ha2)).toMatch(reason);
  });

  it('refuses an unknown --to, naming the flag and the nodes', () => {
    expect(refusal(standby(), { to: 'ha3' })).toMatch(
      /--to ha3: no node of that name in the spec \(nodes: ha1, ha2\)/,
    );
  });

  it('refuses without exactly one writable primary holding every VIP', () => {
    const readOnly = node('ha1', primaryDb({ read_only: true }), { vips_held: VIPS });
    expect(refusal(standby(), {}, readOnly)).toMatch(/exactly one writable primary .* there is none/);
    const both = standby({ vips_held: VIPS }, primaryDb({ server_id: 2 }));
    expect(refusal(both)).toMatch(/there are 2/);
  });

  it('refuses when failback would hand the VIPs straight back to the higher priority', () => {
    expect(refusal(standby(), { spec: { ...DB, failback: 'preempt' } })).toMatch(
      /failback: preempt hands the VIPs back to ha1 \(priority 150 > ha2's 120\)/,
    );
  });
});

describe('the step plan and its lines', () => {
  it('five steps in order, each saying what it does', () => {
    const plan = stepPlan('ha1', 'ha2');
    expect(plan.map((s) => s.name)).toEqual([...STEP_NAMES]);
    expect(plan[1]!.what).toMatch(/ha2 has applied every transaction ha1 logged/);
  });

  const record: SwitchoverRecord = {
    id: 'so-1',
    from: 'ha1',
    to: 'ha2',
    phase: 'done',
    requestedAt: '2026-11-30T00:00:00.000Z',
    catchUpTimeoutSec: 10,
    writesStoppedAt: '2026-11-30T00:00:00.000Z',
    writableAt: '2026-11-30T00:00:01.250Z',
    steps: [
      {
        name: 'read-only',
        startedAt: '2026-11-30T00:00:00.000Z',
        endedAt: '2026-11-30T00:00:00.200Z',
        detail: 'read-only',
      },
      { name: 'catch-up', startedAt: '2026-11-30T00:00:00.200Z' },
    ],
  };

  it('a step line carries its duration; the summary the window', () => {
    expect(stepLine(record.steps[0]!)).toBe('  read-only    0.200 s  read-only');
    expect(stepLine(record.steps[1]!)).toMatch(/catch-up +…/);
    expect(windowMs(record)).toBe(1250);
    expect(summaryLine(record)).toMatch(
      /write-unavailability window: 1\.250 s \(ha1 read-only → ha2 writable\)/,
    );
  });

  it('a follower stops once nothing more will change: a roll-back also needs its database writable again or the reason it will not be', () => {
    const rolledBack: SwitchoverRecord = {
      ...record,
      phase: 'rolled-back',
      writableAt: undefined,
      reason: 'catch-up timed out',
    };
    expect(isSettled({ ...record, phase: 'catch-up' })).toBe(false);
    expect(isSettled(record)).toBe(true);
    expect(isSettled({ ...record, phase: 'failed' })).toBe(true);
    expect(isSettled(rolledBack)).toBe(false);
    expect(isSettled({ ...rolledBack, writableAt: '2026-11-30T00:00:03.000Z' })).toBe(true);
    const gone = {
      ...rolledBack,
      unconfirmed: "ha1 holds none of the VIPs: ha2's agent judges whether it promotes",
    };
    expect(isSettled(gone)).toBe(true);
    expect(summaryLine(gone)).toBe(
      'switchover so-1: rolled back (catch-up timed out), but ha1 is not seen writable again\n' +
        "write-unavailability window: not closed (ha1 not writable again: ha1 holds none of the VIPs: ha2's agent judges whether it promotes)",
    );
  });

  it('the primary is held read-only from the intent until keepalived moved the VIPs, not after', () => {
    const at = (phase: SwitchoverRecord['phase']) => holdsPrimaryDown({ ...record, phase });
    expect(['read-only', 'catch-up', 'move-vips'].map((p) => at(p as SwitchoverRecord['phase']))).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      ['promote', 'repoint', 'done', 'rolled-back', 'failed'].map((p) => at(p as SwitchoverRecord['phase'])),
    ).toEqual([false, false, false, false, false]);
  });
});

describe('the step-down rule in the decision core', () => {
  const intent = { stepDown: 'switchover so-1: handing the primary role to ha2 (read-only)' };

  it('a primary holding every VIP applies BACKUP (mysql.demote) while the intent stands', () => {
    const plan = decide(
      observation({ vips: ALL, keepalived: said('MASTER', 'fifo'), lastApplied: applied('MASTER') }),
      DB,
      intent,
    );
    expect(plan.target).toBe('BACKUP');
    expect(plan.actions.map(actionLabel)).toContain('mysql.demote');
    expect(plan.reason).toMatch(
      /^switchover so-1: handing the primary role to ha2 \(read-only\): applying BACKUP/,
    );
  });

  it('once BACKUP is applied it is not applied again; lifting the intent makes it MASTER again (the roll-back)', () => {
    const seen = observation({
      vips: ALL,
      keepalived: said('MASTER', 'fifo'),
      lastApplied: applied('BACKUP'),
    });
    expect(decide(seen, DB, intent).target).toBeUndefined();
    expect(decide(seen, DB, {}).target).toBe('MASTER');
  });

  it('changes nothing for a node that holds no VIP', () => {
    const seen = observation({ vips: NONE, keepalived: said('FAULT', 'fifo') });
    expect(decide(seen, DB, intent)).toEqual(decide(seen, DB, {}));
  });
});
