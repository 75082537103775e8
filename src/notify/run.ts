/**
 * `hactl notify` as a thin adapter onto the decision core (src/cluster/): the event becomes one
 * observed fact (keepalived's word), then, under the node's lock: observe → decide → apply. The
 * event is only a trigger; what runs follows the observation. Every line carries the transition id.
 */
import { actionLabel, actionTimeoutSec } from '../actions/index.js';
import { apply, type ApplyOutcome } from '../cluster/apply.js';
import { decide, promotionOf, type Intent, type Plan } from '../cluster/decide.js';
import type { Observation, VrrpState } from '../cluster/observation.js';
import {
  DEFAULT_BUDGETS,
  localSources,
  newTransitionId,
  observe,
  type ObservationSources,
  type SourceTimings,
} from '../cluster/observe.js';
import type { Logger } from '../log.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { keepalivedFact, type NotifyEvent } from './event.js';
import { acquireLock, lockPath } from './lock.js';

export interface NotifyOptions {
  force: boolean;
  /** Decide and report, act on nothing, take no lock, record nothing. */
  dryRun?: boolean;
  /** Operator's reason to promote a node that cannot show it is current (see the promotion guard). */
  acceptStale?: string;
  /** Seconds to wait for a concurrent notify; default: the longest action list's total timeout + 10. */
  lockWaitSec?: number;
}

export interface NotifySummary {
  transitionId: string;
  applied: VrrpState | undefined;
  reason: string;
  outcome: ApplyOutcome | undefined;
  /** The actions the applied (or, in a dry run, the decided) state runs. */
  planned: string[];
  dryRun: boolean;
  durationMs: number;
}

/** Long enough to let a concurrent run of any list finish, bounded by the spec's own timeouts. */
export function defaultLockWaitSec(spec: Spec): number {
  const totals = Object.values(spec.actions).map((list) =>
    list.reduce((sum, a) => sum + actionTimeoutSec(a, spec) + 2, 0),
  );
  return Math.ceil(Math.max(0, ...totals) + 10);
}

function resultOf(plan: Plan): 'apply' | 'skip' | 'refuse' {
  if (plan.target === undefined) return 'skip';
  return promotionOf(plan)?.verdict.allow === false ? 'refuse' : 'apply';
}

/** The decision's log fields: what was seen, what the rules made of it. */
function decisionFields(event: NotifyEvent, observation: Observation, plan: Plan): Record<string, unknown> {
  const promotion = promotionOf(plan);
  const lease = plan.guards.find((g) => g.rule === 'lease');
  return {
    transition_id: plan.transitionId,
    state: plan.target ?? 'none',
    received: event.state,
    vips_held: observation.vips.held,
    vips_missing: observation.vips.missing,
    last_applied: observation.lastApplied?.state,
    last_ok: observation.lastApplied?.ok,
    ...(promotion
      ? {
          promotion: !promotion.verdict.allow
            ? 'refused'
            : promotion.verdict.overridden.length > 0
              ? 'overridden'
              : 'allowed',
        }
      : {}),
    ...(lease ? { lease: lease.allow ? 'held' : 'not held' } : {}),
    reason: plan.reason,
  };
}

export async function runNotify(
  spec: Spec,
  node: NodeSpec,
  event: NotifyEvent,
  options: NotifyOptions,
  log: Logger,
  sources: ObservationSources = localSources,
): Promise<NotifySummary> {
  const started = performance.now();
  const transitionId = newTransitionId(node.name);
  const elapsed = () => Math.round(performance.now() - started);
  log.info({
    event: 'notify.received',
    transition_id: transitionId,
    state: event.state,
    source: event.source,
    name: event.name,
    priority: event.priority,
  });
  const intent: Intent = {
    force: options.force,
    ...(options.acceptStale === undefined ? {} : { acceptStale: options.acceptStale }),
  };
  const request = { transitionId, keepalived: keepalivedFact(event), intent };
  if (options.dryRun) {
    const observation = await observe(spec, node, request, sources);
    const plan = decide(observation, spec, intent);
    const planned = plan.actions.map(actionLabel);
    log.info({ ...decisionFields(event, observation, plan), event: 'notify.dry_run', planned });
    return {
      transitionId,
      applied: plan.target,
      reason: plan.reason,
      outcome: undefined,
      planned,
      dryRun: true,
      durationMs: elapsed(),
    };
  }
  const lock = await acquireLock(
    lockPath(spec.paths.runtime_dir, node.name),
    options.lockWaitSec ?? defaultLockWaitSec(spec),
  );
  try {
    const timings: SourceTimings = {};
    const observeStarted = performance.now();
    const observation = await observe(spec, node, request, sources, DEFAULT_BUDGETS, timings);
    // Where a slow transition spends its time before it decides (debug: not on every event).
    log.debug({
      event: 'notify.observed',
      transition_id: transitionId,
      lock_ms: lock.waitedMs,
      observe_ms: Math.round(performance.now() - observeStarted),
      sources_ms: timings,
    });
    const plan = decide(observation, spec, intent);
    const fields: Record<string, unknown> = {
      ...decisionFields(event, observation, plan),
      event: 'notify.decision',
      lock_wait_ms: lock.waitedMs,
      result: resultOf(plan),
    };
    // Promoting over the guard's objection loses writes: the decision itself is an error-level fact.
    if (fields.promotion === 'overridden') log.error(fields);
    else log.info(fields);
    const outcome = await apply(plan, {
      spec,
      node,
      observation,
      intent,
      log,
      stepEvent: 'notify.action',
      addresses: sources.addresses,
    });
    return {
      transitionId,
      applied: plan.target,
      reason: plan.reason,
      outcome,
      planned: plan.actions.map(actionLabel),
      dryRun: false,
      durationMs: elapsed(),
    };
  } finally {
    lock.release();
  }
}
