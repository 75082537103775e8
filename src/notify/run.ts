/**
 * `hactl notify` as a thin adapter onto the decision core (src/cluster/): the event becomes one
 * observed fact (keepalived's word), then, under the node's lock: observe → decide → apply. The
 * event is only a trigger; what runs follows the observation. Every line carries the transition id.
 */
import { actionLabel, actionTimeoutSec } from '../actions/index.js';
import { localTarget } from '../actions/mysql-common.js';
import { apply, type ApplyOutcome } from '../cluster/apply.js';
import { decide, promotionOf, type Intent, type Plan } from '../cluster/decide.js';
import type { KeepalivedFact, Observation, VrrpState } from '../cluster/observation.js';
import {
  DEFAULT_BUDGETS,
  localSources,
  newTransitionId,
  observe,
  type ObservationSources,
  type SourceTimings,
} from '../cluster/observe.js';
import type { Logger } from '../log.js';
import { connect, keepSessions } from '../mysql/connection.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { keepalivedFact, type NotifyEvent } from './event.js';
import { acquireLock, lockPath } from './lock.js';
import { retryNotify, type Admit, type NotifyAttempt, type RetryPolicy } from './retry.js';

export interface NotifyOptions {
  force: boolean;
  /** Decide and report, act on nothing, take no lock, record nothing. */
  dryRun?: boolean;
  /** Operator's reason to promote a node that cannot show it is current (see the promotion guard). */
  acceptStale?: string;
  /** Seconds to wait for a concurrent notify; default: the longest action list's total timeout + 10. */
  lockWaitSec?: number;
  /**
   * Retry a promotion its database did not answer for (src/notify/retry.ts); the command always
   * sets it, outside agent mode. Undefined: one attempt.
   */
  retry?: RetryPolicy;
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
  /** Attempts made (more than 1 when a promotion was retried). */
  attempts: number;
  /**
   * Set when a retry stopped because the node moved on (a later transition applied a state, the
   * core decides another state now, or the lock stayed taken): why. `outcome` is then what this
   * event's last completed attempt did, and `applied` is undefined.
   */
  superseded?: string;
}

/** Long enough to let a concurrent run of any list finish, bounded by the spec's own timeouts. */
export function defaultLockWaitSec(spec: Spec): number {
  const totals = Object.values(spec.actions).map((list) =>
    list.reduce((sum, a) => sum + actionTimeoutSec(a, spec) + 2, 0),
  );
  return Math.ceil(Math.max(0, ...totals) + 10);
}

/**
 * Whether this run should open its database connection early: the real database source is in use
 * and the event's own action list touches MySQL (a promotion or demotion is likely in view).
 */
function warmsDatabase(spec: Spec, event: NotifyEvent, sources: ObservationSources): boolean {
  if (!spec.mysql || sources.database !== localSources.database) return false;
  const list = spec.actions[event.state.toLowerCase() as keyof Spec['actions']] ?? [];
  return list.some((action) => action.type.startsWith('mysql.'));
}

/**
 * Opens the connection the observation and then mysql.promote/demote borrow (sessions are kept for
 * the run): loading the driver and the server's handshake overlap the lock's and the observation's
 * file reads instead of following them, and the run connects once instead of twice. Only a
 * connection: nothing is read from the server before the lock is held. A failure is left for the
 * observation's own connect to meet and report.
 */
async function warmSession(spec: Spec): Promise<void> {
  const session = await connect(localTarget(spec.mysql!), { timeoutMs: 3000 });
  await session.close();
}

/** Loads mysql2 (in dist/notify.cjs: its code-cached bundle) so that connect() finds it loaded. */
function preloadDriver(): void {
  void import('mysql2/promise').catch(() => undefined);
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
      attempts: 1,
    };
  }
  const releaseSessions = warmsDatabase(spec, event, sources) ? keepSessions() : undefined;
  let first: NotifyAttempt;
  try {
    const lock = await acquireLock(
      lockPath(spec.paths.runtime_dir, node.name),
      options.lockWaitSec ?? defaultLockWaitSec(spec),
      // The driver's code (~40 ms of CPU, most of what the connection below costs) loads while
      // the flock(1) child runs; only the code: no connection before the lock is held.
      releaseSessions ? { whileWaiting: preloadDriver } : {},
    );
    // Started once the lock is held, so a notify queued behind another (keepalived runs them
    // concurrently) does not load the driver while the holder promotes.
    const warming = releaseSessions ? warmSession(spec).catch(() => undefined) : undefined;
    try {
      first = await underLock(request.keepalived, lock.waitedMs, warming);
    } finally {
      lock.release();
    }
  } finally {
    await releaseSessions?.();
  }
  // The agent's loop decides every tick: in agent mode a hook makes one attempt.
  const { last, attempts, stopped } =
    options.retry && !spec.agent.enabled
      ? await retryNotify(first, spec, {
          transitionId,
          log,
          policy: options.retry,
          // Between attempts the lock is free: a later notify never waits behind a retry.
          attempt: async (keepalived, admit) => {
            const lock = await acquireLock(
              lockPath(spec.paths.runtime_dir, node.name),
              options.lockWaitSec ?? defaultLockWaitSec(spec),
            );
            try {
              return await underLock(keepalived, lock.waitedMs, undefined, admit);
            } finally {
              lock.release();
            }
          },
        })
      : { last: first, attempts: 1, stopped: undefined };
  return {
    transitionId,
    applied: stopped === undefined ? last.plan.target : undefined,
    reason: stopped ?? last.plan.reason,
    outcome: last.outcome,
    planned: last.plan.actions.map(actionLabel),
    dryRun: false,
    durationMs: elapsed(),
    attempts,
    ...(stopped === undefined ? {} : { superseded: stopped }),
  };

  /** One observe → decide → apply; `admit` (a retry's) may stop it between decide and apply. */
  async function underLock(
    keepalived: KeepalivedFact | undefined,
    lockWaitedMs: number,
    warming: Promise<void> | undefined,
    admit?: Admit,
  ): Promise<NotifyAttempt> {
    const timings: SourceTimings = {};
    const observeStarted = performance.now();
    // The database source borrows the connection being opened rather than opening a second one;
    // its budget covers that wait.
    const observed: ObservationSources = warming
      ? { ...sources, database: (...args) => warming.then(() => sources.database(...args)) }
      : sources;
    const observation = await observe(
      spec,
      node,
      { ...request, keepalived },
      observed,
      DEFAULT_BUDGETS,
      timings,
    );
    // Where a slow transition spends its time before it decides (debug: not on every event).
    log.debug({
      event: 'notify.observed',
      transition_id: transitionId,
      lock_ms: lockWaitedMs,
      observe_ms: Math.round(performance.now() - observeStarted),
      sources_ms: timings,
    });
    const plan = decide(observation, spec, intent);
    const stopped = admit?.(observation, plan);
    if (stopped !== undefined) return { observation, plan, outcome: undefined, stopped };
    // A promoting run is the one whose compiled code bin/hactl keeps for later runs (src/load-cached.cjs).
    if (plan.actions.some((action) => action.type === 'mysql.promote'))
      (globalThis as Record<symbol, unknown>)[Symbol.for('hactl.codeCache.representativeRun')] = true;
    const fields: Record<string, unknown> = {
      ...decisionFields(event, observation, plan),
      event: 'notify.decision',
      lock_wait_ms: lockWaitedMs,
      result: resultOf(plan),
      // `received` is the event that started the run; a retry decides from what it observes now.
      ...(admit ? { retry: true } : {}),
    };
    // Promoting over the guard's objection loses writes: the decision itself is an error-level fact.
    if (fields.promotion === 'overridden') log.error(fields);
    else log.info(fields);
    // The actions borrow the early connection too. A BACKUP observation never waits for it, and a
    // demotion that connected on its own meanwhile would find it idle and kill it as a client session.
    await warming;
    const outcome = await apply(plan, {
      spec,
      node,
      observation,
      intent,
      log,
      stepEvent: 'notify.action',
      addresses: sources.addresses,
    });
    return { observation, plan, outcome };
  }
}
