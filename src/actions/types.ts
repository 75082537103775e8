/**
 * The contract every transition action implements: (action spec, context, AbortSignal) → result.
 * An action reports failure as a result (with a reason a person can act on) rather than throwing,
 * stops promptly when the signal aborts, and never puts a secret into its result or its logs.
 */
import type { Logger } from '../log.js';
import type { ActionSpec } from '../spec/actions-schema.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { VrrpState } from '../cluster/observation.js';
import type { FencingGuard } from '../cluster/fencing-rule.js';
import type { PromotionVerdict } from '../cluster/promotion-guard.js';

export interface ActionContext {
  spec: Spec;
  node: NodeSpec;
  /** The state being applied. */
  state: VrrpState;
  /** The state applied before this one on this node, if known. */
  previous: VrrpState | undefined;
  /** Scratch space (lock, state file, captured command output). */
  runtimeDir: string;
  log: Logger;
  /**
   * The operator's reason for promoting a database that cannot show it has every write the last
   * primary acknowledged (`hactl notify --accept-stale`); undefined in every automatic transition.
   */
  acceptStale?: string;
  /** The transition this step belongs to (the logger already carries it on every line). */
  transitionId?: string;
  /**
   * The decision core's verdict on making this node's database writable, with the facts it was
   * drawn from (src/cluster/decide.ts). mysql.promote acts on it and never judges for itself;
   * absent, it refuses.
   */
  promotion?: { verdict: PromotionVerdict; evidence: Record<string, unknown> };
  /** The old primary to fence before mysql.promote makes this node writable (spec `fencing`). */
  fencing?: FencingGuard;
  /**
   * Asked repeatedly while an action waits for the peer to take over: true while this node holds
   * none of the VIPs (re-observed by the decision core on every call). Absent: keep waiting until
   * the action's own bound.
   */
  keepWaitingForPeer?: () => boolean;
  /**
   * Asked by mysql.promote after its drain and right before the database becomes writable: why
   * not any more (this node holds none of the VIPs now), or undefined. Absent: no such check.
   */
  promotionStillWanted?: () => string | undefined;
}

export interface ActionResult {
  ok: boolean;
  /** One line: what was seen and done, or why it failed. */
  detail: string;
  /** Data that diverged from the peer: automation must stop and a human decide. */
  diverged?: boolean;
  /** Extra structured fields for the step's log line (never secrets). */
  fields?: Record<string, unknown>;
  /**
   * Succeeded as far as it safely could now, and left the rest for a later transition into the
   * same state (e.g. not re-pointed: the peer was not a writable primary yet).
   */
  unfinished?: string;
}

export type ActionOf<T extends ActionSpec['type']> = Extract<ActionSpec, { type: T }>;

export type ActionRun<A extends ActionSpec = ActionSpec> = (
  action: A,
  context: ActionContext,
  signal: AbortSignal,
) => Promise<ActionResult>;

export function ok(detail: string, fields?: Record<string, unknown>): ActionResult {
  return fields ? { ok: true, detail, fields } : { ok: true, detail };
}

export function failed(detail: string, fields?: Record<string, unknown>): ActionResult {
  return fields ? { ok: false, detail, fields } : { ok: false, detail };
}

/** Message of an unknown thrown value, for a result's detail. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
