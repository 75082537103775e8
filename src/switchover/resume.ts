/**
 * What a restarted agent does with the switchover record it finds (pure: the record and what the
 * node holds now in, a decision out). The record says which step was under way when the agent
 * stopped; the world may have moved on since, and the step must not be replayed blindly:
 *
 * - A dead agent is an unhealthy node: its sentinel writes AGENT_GONE at once, keepalived puts the
 *   node in FAULT and the target takes the VIPs and promotes itself through its own agent (fencing
 *   this node first), whatever step the switchover was at. A node that holds no VIP when its
 *   agent comes back is no longer the primary: holding it read-only, reading a "final" position
 *   (it may already replicate from the target and carry the target's new transactions) and
 *   waiting for the target to apply that would wait for the impossible and then "roll back" a
 *   node that cannot be writable. The switchover resumes at promote instead: wait until the
 *   target is writable, then re-point this node to it.
 * - A node that holds every VIP (the agent came back before keepalived moved them, or the
 *   hand-over had not begun) resumes the recorded step: each step is idempotent (the step-down
 *   applies BACKUP again or finds it applied, the GTID wait is asked again, the track file is
 *   written again).
 * - A node that holds some VIPs only is in the middle of a move: look again until it settles.
 * - promote and repoint resume as they are: the track file is rewritten from the phase, the
 *   target's writability and this node's BACKUP are observed afresh.
 * - A roll-back whose agent died before it saw the database writable again confirms that, so the
 *   record gets its writableAt (the window) and `hactl switchover` stops waiting for it.
 */
import { isFinished, type SwitchoverRecord } from './record.js';

export interface ResumeView {
  /** How many of the spec's VIPs this node holds now, and how many there are. */
  vipsHeld: number;
  vipsTotal: number;
}

export type ResumeAction =
  /** Nothing to do: no record, another node's, or finished. */
  | { kind: 'none' }
  /** Carry on with the recorded step. */
  | { kind: 'continue' }
  /** The VIPs are in flight: look again (bounded), then decide. */
  | { kind: 'settle' }
  /** The VIPs moved while the agent was down: end the recorded step and go on at promote. */
  | { kind: 'skip-to-promote'; detail: string }
  /** A roll-back that never saw its database writable: wait for that and record it. */
  | { kind: 'confirm-writable' };

export function resumeAction(
  record: SwitchoverRecord | undefined,
  self: string,
  view: ResumeView,
): ResumeAction {
  if (!record || record.from !== self) return { kind: 'none' };
  const holdsAll = view.vipsTotal > 0 && view.vipsHeld === view.vipsTotal;
  if (isFinished(record)) {
    return record.phase === 'rolled-back' && record.writableAt === undefined && holdsAll
      ? { kind: 'confirm-writable' }
      : { kind: 'none' };
  }
  if (view.vipsHeld > 0 && !holdsAll) return { kind: 'settle' };
  const beforeTheMove =
    record.phase === 'read-only' || record.phase === 'catch-up' || record.phase === 'move-vips';
  if (beforeTheMove && view.vipsHeld === 0)
    return {
      kind: 'skip-to-promote',
      detail: `this agent restarted at step ${record.phase} and ${self} holds none of the VIPs: they moved to ${record.to} meanwhile (its own agent promotes it)`,
    };
  return { kind: 'continue' };
}
