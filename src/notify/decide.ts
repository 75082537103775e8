/**
 * Acting on the present, not on the event: keepalived runs notify scripts concurrently and out of
 * order, so the event only tells us *that* something changed. What we apply follows who holds the
 * VIPs now, and a state already applied successfully is not applied again.
 */
import type { NotifyEvent, NotifyState } from './event.js';
import type { VipHolding } from './vips.js';
import type { AppliedState } from './state-file.js';

export interface Decision {
  /** The state whose actions run, or undefined when the event is skipped. */
  apply: NotifyState | undefined;
  reason: string;
}

export function decide(
  event: NotifyEvent,
  holding: VipHolding,
  last: AppliedState | undefined,
  force: boolean,
): Decision {
  const target = presentState(event, holding, last);
  if (target.apply === undefined) return target;
  if (!force && last?.state === target.apply && last.ok) {
    return {
      apply: undefined,
      reason: `${target.apply} is already applied (at ${last.at}); ${target.reason}; use --force to run its actions again`,
    };
  }
  return target;
}

function presentState(
  event: NotifyEvent,
  { held, missing }: VipHolding,
  last: AppliedState | undefined,
): Decision {
  const total = held.length + missing.length;
  if (held.length === total) {
    return {
      apply: 'MASTER',
      reason:
        event.state === 'MASTER'
          ? `holds all ${total} VIPs`
          : `event says ${event.state} but this node holds all ${total} VIPs: it is MASTER now`,
    };
  }
  if (held.length > 0) {
    const safe = event.state === 'MASTER' ? 'BACKUP' : event.state;
    return {
      apply: safe,
      reason: `split: holds ${held.join(', ')} but not ${missing.join(', ')}; applying ${safe} (a node without every VIP must not be primary)`,
    };
  }
  if (event.state !== 'MASTER') return { apply: event.state, reason: `holds none of the ${total} VIPs` };
  if (last?.state === 'MASTER') {
    return {
      apply: 'BACKUP',
      reason: `MASTER event, but this node holds none of the ${total} VIPs while MASTER was applied last: demoting`,
    };
  }
  return { apply: undefined, reason: `stale MASTER event: this node holds none of the ${total} VIPs` };
}
