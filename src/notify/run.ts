/**
 * One notify invocation: take the node's lock, look at which VIPs this node holds, decide which
 * state to apply, run its actions, record the result. Everything it saw and decided is logged.
 */
import type { Logger } from '../log.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { decide } from './decide.js';
import type { NotifyEvent, NotifyState } from './event.js';
import { executeActions, type ListOutcome } from './execute.js';
import { acquireLock, lockPath } from './lock.js';
import { readAppliedState, statePath, writeAppliedState } from './state-file.js';
import { vipHolding } from './vips.js';
import { actionLabel, actionTimeoutSec } from '../actions/index.js';

export interface NotifyOptions {
  force: boolean;
  /** Decide and report, act on nothing, take no lock, record nothing. */
  dryRun?: boolean;
  /** Operator's reason to promote a node that cannot show it is current (see mysql.promote). */
  acceptStale?: string;
  /** Seconds to wait for a concurrent notify; default: the longest action list's total timeout + 10. */
  lockWaitSec?: number;
}

export interface NotifySummary {
  applied: NotifyState | undefined;
  reason: string;
  outcome: ListOutcome | undefined;
  /** The actions the applied (or, in a dry run, the decided) state runs. */
  planned: string[];
  dryRun: boolean;
  durationMs: number;
}

function stateKey(state: NotifyState): keyof Spec['actions'] {
  return state.toLowerCase() as keyof Spec['actions'];
}

/** Long enough to let a concurrent run of any list finish, bounded by the spec's own timeouts. */
export function defaultLockWaitSec(spec: Spec): number {
  const totals = Object.values(spec.actions).map((list) =>
    list.reduce((sum, a) => sum + actionTimeoutSec(a, spec) + 2, 0),
  );
  return Math.ceil(Math.max(0, ...totals) + 10);
}

export async function runNotify(
  spec: Spec,
  node: NodeSpec,
  event: NotifyEvent,
  options: NotifyOptions,
  log: Logger,
): Promise<NotifySummary> {
  const started = performance.now();
  const runtimeDir = spec.paths.runtime_dir;
  log.info({
    event: 'notify.received',
    state: event.state,
    source: event.source,
    name: event.name,
    priority: event.priority,
  });
  if (options.dryRun) return dryRun(spec, node, event, options, log, started);
  const lock = await acquireLock(
    lockPath(runtimeDir, node.name),
    options.lockWaitSec ?? defaultLockWaitSec(spec),
  );
  try {
    const stateFile = statePath(runtimeDir, node.name);
    const last = readAppliedState(stateFile);
    const holding = vipHolding(spec);
    const decision = decide(event, holding, last, options.force);
    log.info({
      event: 'notify.decision',
      state: decision.apply ?? 'none',
      received: event.state,
      vips_held: holding.held,
      vips_missing: holding.missing,
      last_applied: last?.state,
      last_ok: last?.ok,
      lock_wait_ms: lock.waitedMs,
      result: decision.apply ? 'apply' : 'skip',
      reason: decision.reason,
    });
    if (decision.apply === undefined) {
      return {
        applied: undefined,
        reason: decision.reason,
        outcome: undefined,
        planned: [],
        dryRun: false,
        durationMs: Math.round(performance.now() - started),
      };
    }
    const state = decision.apply;
    const actions = spec.actions[stateKey(state)];
    const outcome = await executeActions(actions, {
      spec,
      node,
      state,
      previous: last?.state,
      runtimeDir,
      log,
      ...(options.acceptStale === undefined ? {} : { acceptStale: options.acceptStale }),
    });
    // Any failed step, whatever its policy, leaves the state unapplied: the next event retries
    // the list (every action is idempotent) instead of skipping it as "already applied".
    const applyOk = !outcome.aborted && !outcome.diverged && outcome.steps.every((step) => step.ok);
    writeAppliedState(stateFile, { state, ok: applyOk, at: new Date().toISOString(), event: event.text });
    return {
      applied: state,
      reason: decision.reason,
      outcome,
      planned: actions.map(actionLabel),
      dryRun: false,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    lock.release();
  }
}

function dryRun(
  spec: Spec,
  node: NodeSpec,
  event: NotifyEvent,
  options: NotifyOptions,
  log: Logger,
  started: number,
): NotifySummary {
  const last = readAppliedState(statePath(spec.paths.runtime_dir, node.name));
  const holding = vipHolding(spec);
  const decision = decide(event, holding, last, options.force);
  const planned = decision.apply ? spec.actions[stateKey(decision.apply)].map(actionLabel) : [];
  log.info({
    event: 'notify.dry_run',
    state: decision.apply ?? 'none',
    received: event.state,
    vips_held: holding.held,
    vips_missing: holding.missing,
    last_applied: last?.state,
    last_ok: last?.ok,
    planned,
    reason: decision.reason,
  });
  return {
    applied: decision.apply,
    reason: decision.reason,
    outcome: undefined,
    planned,
    dryRun: true,
    durationMs: Math.round(performance.now() - started),
  };
}
