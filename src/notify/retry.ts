/**
 * A notify whose decision could not be carried out for want of an answer tries again: keepalived
 * sends no new event when a server answers again (a stall shorter than the checks' fall × interval
 * moves nothing), so without this the pair is left with no writable primary, or with a demoted
 * node that never became a replica, until a human acts. The agent needs none of this: its loop
 * decides every tick.
 *
 * What is retried: a MASTER whose promotion was refused because the database or the lineage could
 * not be observed, and any state whose mysql.* step failed (a demotion whose session was cut, e.g.
 * by the new primary's fence ending every client session on this server). Never a refusal on what
 * the database showed, a diverged server, or a failed non-database step.
 *
 * Each attempt is a whole observe → decide → apply of the shared core, under the node's lock, which
 * is released between attempts (a later notify is never kept waiting behind a retry). The retry
 * carries out only the decision it was started for: it applies nothing unless the core, deciding
 * from what it observes now, again wants the same state and no later transition has applied a state
 * on the node since. A MASTER retry drops the event's word (keepalived's state when the event was
 * sent is history by then: MASTER must follow from the VIPs alone); a BACKUP or FAULT retry keeps
 * it, since without a word a node holding no VIP decides nothing. Either way a node that holds
 * every VIP is MASTER to the core, so a retried demotion stops once the VIPs come back, and a
 * retried MASTER event that a BACKUP event overtook finds the VIPs gone (keepalived removes them
 * before it runs the BACKUP notify) and stops; a later notify owns the node.
 *
 * keepalived neither waits for a notify script nor kills it (except notify_stop's, after 1 s;
 * research/keepalived.md §3), so the retry runs in the notify process itself, bounded by
 * mysql.catch_up_timeout: the time the operator already allows a promotion to wait for its own
 * database (the relay log's drain). A database still silent after that is not waited for.
 */
import type { ApplyOutcome } from '../cluster/apply.js';
import { promotionOf, type Plan } from '../cluster/decide.js';
import { LockTimeout } from './lock.js';
import type { KeepalivedFact, Observation, VrrpState } from '../cluster/observation.js';
import type { Logger } from '../log.js';
import type { Spec } from '../spec/schema.js';

/** One observe → decide → apply under the lock. `stopped`: the retry applied nothing, and why. */
export interface NotifyAttempt {
  observation: Observation;
  plan: Plan;
  outcome: ApplyOutcome | undefined;
  stopped?: string;
}

/** Asked under the lock between decide and apply: undefined to go on, or why this retry stops. */
export type Admit = (observation: Observation, plan: Plan) => string | undefined;

export interface RetryPolicy {
  /** No new attempt starts later than this after the first one ended (default: retryBoundMs). */
  boundMs?: number;
  /** First pause between attempts; doubles up to maxPauseMs. */
  firstPauseMs?: number;
  maxPauseMs?: number;
  /** Injected by tests; a plain timer by default. */
  sleep?: (ms: number) => Promise<void>;
}

const FIRST_PAUSE_MS = 500;
const MAX_PAUSE_MS = 4_000;
/** A bound in count as well as in time (a tiny pause and a huge bound stay finite). */
const MAX_ATTEMPTS = 50;

/** mysql.catch_up_timeout (the spec's default when there is no mysql section: 30 s). */
export function retryBoundMs(spec: Spec): number {
  return (spec.mysql?.catch_up_timeout ?? 30) * 1000;
}

/**
 * Why this attempt's decision was not carried out for want of a fact or an answer, or undefined
 * when a retry would not help (carried out, nothing to do, a refusal on the data itself, diverged,
 * or a non-database step failed). Pure.
 */
export function retryCause(attempt: NotifyAttempt): string | undefined {
  const { observation, plan, outcome } = attempt;
  if (plan.target === undefined || outcome === undefined || outcome.ok || outcome.diverged) return undefined;
  const promotion = promotionOf(plan);
  if (promotion && !promotion.verdict.allow) {
    const { database, lineage } = observation;
    if (database === undefined || lineage === undefined) return 'its database and lineage were not observed';
    if (database.kind === 'unreachable') return `its database did not answer (${database.problem})`;
    if (lineage.kind === 'unreadable') return `its lineage record was not read (${lineage.problem})`;
    // Refused on what the database showed: only a new event or a human changes that.
    return undefined;
  }
  const failed = outcome.steps.find((step) => !step.ok && step.action.startsWith('mysql.'));
  return failed ? `${failed.action} failed: ${failed.detail}` : undefined;
}

/** A retry goes on only for its own decision (see the header). */
export function admitRetry(transitionId: string, target: VrrpState): Admit {
  return (observation, plan) => {
    const last = observation.lastApplied;
    if (last?.transitionId !== undefined && last.transitionId !== transitionId) {
      return `a later transition (${last.transitionId}) applied ${last.state} on this node since: it owns the node now`;
    }
    if (plan.target !== target) {
      return `the core no longer decides ${target} (${plan.target ?? 'nothing to apply'}): ${plan.reason}`;
    }
    return undefined;
  };
}

/** The keepalived fact a retry observes with: none for MASTER, the event's own for a demotion. */
export function retryWord(first: NotifyAttempt): KeepalivedFact | undefined {
  return first.plan.target === 'MASTER' ? undefined : first.observation.keepalived;
}

export interface RetryContext {
  transitionId: string;
  log: Logger;
  /** One attempt under the lock, observing with `keepalived` as the retry's word (retryWord). */
  attempt(keepalived: KeepalivedFact | undefined, admit: Admit): Promise<NotifyAttempt>;
  policy?: RetryPolicy;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RetryResult {
  /** The last attempt that ran to its end (the first one when no retry did). */
  last: NotifyAttempt;
  /** Attempts started, the first included. */
  attempts: number;
  /** Why the retry stopped before carrying the decision out: a later transition owns the node. */
  stopped?: string;
}

/**
 * Runs attempts after `first` until the decision is carried out, a retry would not help, the
 * situation changed, or the bound passes.
 */
export async function retryNotify(
  first: NotifyAttempt,
  spec: Spec,
  context: RetryContext,
): Promise<RetryResult> {
  const { transitionId, log } = context;
  const policy = context.policy ?? {};
  const sleep = policy.sleep ?? defaultSleep;
  const boundMs = policy.boundMs ?? retryBoundMs(spec);
  const maxPause = policy.maxPauseMs ?? MAX_PAUSE_MS;
  const deadline = performance.now() + boundMs;
  let pause = policy.firstPauseMs ?? FIRST_PAUSE_MS;
  let last = first;
  let cause = retryCause(first);
  let attempts = 1;
  const target = first.plan.target;
  const admit = target === undefined ? undefined : admitRetry(transitionId, target);
  const word = retryWord(first);
  let stopped: string | undefined;
  for (;;) {
    if (cause === undefined || admit === undefined) break;
    const left = deadline - performance.now();
    if (left <= 0 || attempts >= MAX_ATTEMPTS) {
      log.error({
        event: 'notify.retry',
        transition_id: transitionId,
        attempt: attempts,
        result: 'given up',
        reason: `${target} not carried out: ${cause}; ${attempts} attempts, and no attempt starts more than ${boundMs / 1000} s (mysql.catch_up_timeout) after the first: the next event decides again`,
      });
      break;
    }
    const waitMs = Math.min(pause, left);
    await sleep(waitMs);
    pause = Math.min(maxPause, pause * 2);
    attempts += 1;
    let attempt: NotifyAttempt;
    try {
      attempt = await context.attempt(word, admit);
    } catch (error) {
      // Typically the lock: another notify has held it for the whole lock wait, i.e. a later
      // transition is running on this node and owns it. What this event's attempts did stands.
      // The lock's own sentence ends "this event was not applied", which the first attempt was.
      const why =
        error instanceof LockTimeout
          ? `${error.who} held ${error.path} for more than ${error.waitedSec} s`
          : error instanceof Error
            ? error.message
            : String(error);
      stopped = `attempt ${attempts} could not run: ${why}`;
      log.error({
        event: 'notify.retry',
        transition_id: transitionId,
        attempt: attempts,
        why: cause,
        result: 'stopped',
        reason: stopped,
      });
      break;
    }
    if (attempt.stopped !== undefined) stopped = attempt.stopped;
    else last = attempt;
    const next = stopped === undefined ? retryCause(last) : undefined;
    const carried = stopped === undefined && last.outcome?.ok === true;
    const fields = {
      event: 'notify.retry',
      transition_id: transitionId,
      attempt: attempts,
      after_ms: Math.round(waitMs),
      why: cause,
      result: carried ? 'carried out' : stopped !== undefined ? 'stopped' : next ? 'not yet' : 'failed',
      reason: stopped ?? last.plan.reason,
    };
    if (carried || stopped !== undefined || next) log.info(fields);
    else log.error(fields);
    if (stopped !== undefined) break;
    cause = next;
  }
  return stopped === undefined ? { last, attempts } : { last, attempts, stopped };
}
