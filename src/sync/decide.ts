/**
 * Whether to push now: a pure rule on what the agent observes, so every case is a unit test and
 * every skip has a sentence for the log. A push needs this node to be the active one by every
 * word we have — it holds every VIP, keepalived's latest word (when one was heard) is MASTER, and
 * the MASTER actions have been applied (successfully) after that word: a word newer than the last
 * apply, or an apply of another state, is a transition in progress. Never two pushes at once: one
 * that outlives its interval is waited for, never started again beside itself. A push in flight
 * on a node that stops being active is stopped.
 */
import type { VrrpState } from '../cluster/observation.js';

export interface SyncSituation {
  /** ms (any clock, the same for every time here). */
  now: number;
  intervalMs: number;
  /** VIP addresses this node does not hold. */
  vipsMissing: readonly string[];
  /** keepalived's latest word for this node's instances (all of them agree), or unknown when none was heard. */
  keepalived: { state: string; heardAt: number } | undefined;
  /** The last state whose actions ran here. */
  applied: { state: VrrpState; ok: boolean; at: number } | undefined;
  /** The push in flight, if any. */
  running: { startedAt: number } | undefined;
  lastStartedAt: number | undefined;
  /** By hand with --force: skip the "is this node active" rule (never the overlap rule). */
  force?: boolean;
}

export type SyncDecision =
  | { push: true; reason: string }
  | {
      push: false;
      reason: string;
      /** Stop the push in flight: this node is no longer the active one. */
      abort: boolean;
    };

/** Why this node is not the one to push now, or undefined when it is. */
export function notActive(s: SyncSituation): string | undefined {
  if (s.vipsMissing.length > 0) return `this node does not hold ${s.vipsMissing.join(', ')}`;
  if (s.keepalived && s.keepalived.state !== 'MASTER')
    return `keepalived last said ${s.keepalived.state} for this node`;
  if (!s.applied) return 'no MASTER transition has been applied on this node yet';
  if (s.applied.state !== 'MASTER') return `a transition is in progress (last applied ${s.applied.state})`;
  if (!s.applied.ok) return 'a transition is in progress (the last MASTER apply failed; it is retried)';
  if (s.keepalived && s.keepalived.heardAt > s.applied.at)
    return "a transition is in progress (keepalived's latest word is not applied yet)";
  return undefined;
}

export function decidePush(s: SyncSituation): SyncDecision {
  const problem = s.force ? undefined : notActive(s);
  if (s.running) {
    const seconds = Math.round((s.now - s.running.startedAt) / 1000);
    if (problem) return { push: false, abort: true, reason: `stopping the push in flight: ${problem}` };
    return {
      push: false,
      abort: false,
      reason: `the push started ${seconds} s ago is still running; the next starts when it ends`,
    };
  }
  if (problem) return { push: false, abort: false, reason: `not pushing: ${problem}` };
  if (s.lastStartedAt !== undefined && s.now - s.lastStartedAt < s.intervalMs) {
    const inSec = Math.ceil((s.lastStartedAt + s.intervalMs - s.now) / 1000);
    return { push: false, abort: false, reason: `next push due in ${inSec} s` };
  }
  return {
    push: true,
    reason: s.force ? 'pushing (forced by hand)' : 'this node is MASTER, holds every VIP and has applied it',
  };
}
