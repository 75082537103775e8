/**
 * `failback: after-catch-up` (seed 000's rule): the preferred node takes the VIPs back only once its
 * database has caught up, and not again and again. keepalived does the preempting; this rule only
 * says how many priority points the agent must take off this node (through the failback track
 * file, weight -1) so that keepalived cannot preempt yet. A pure function, so the rule can be
 * replayed and tested; the agent observes its inputs and writes the value.
 */

/** How long after one failback the gate stays shut even when caught up: a node that flaps hands back once. */
export const FAILBACK_COOLDOWN_MS = 60_000;

export interface FailbackGateInput {
  self: { name: string; priority: number };
  /** Every other node's base priority. */
  peers: readonly { name: string; priority: number }[];
  /** This node holds every VIP (it is primary): the gate must never push it below its peer. */
  holdsEveryVip: boolean;
  /**
   * Whether this node's database is caught up with its primary (replication threads running, lag 0,
   * everything received applied); undefined while not judged yet.
   */
  caughtUp: { ok: boolean; detail: string } | undefined;
  /** When this node last opened its gate (ms since epoch), persisted across restarts. */
  lastOpenedAt: number | undefined;
  now: number;
  cooldownMs?: number;
}

export interface FailbackGate {
  /** Points to take off the priority: 0 = open (keepalived may preempt). */
  value: number;
  open: boolean;
  reason: string;
}

/**
 * Points that put this node one below its strongest peer; 0 when a peer is stronger. Equal
 * priorities still need a point: keepalived breaks the tie by address, so the node could preempt.
 */
export function gateDepth(self: { priority: number }, peers: readonly { priority: number }[]): number {
  const strongest = Math.max(...peers.map((peer) => peer.priority));
  return Math.max(0, self.priority - strongest + 1);
}

export function failbackGate(input: FailbackGateInput): FailbackGate {
  const depth = gateDepth(input.self, input.peers);
  if (depth === 0) {
    return { value: 0, open: true, reason: 'a peer has a higher priority: this node never preempts it' };
  }
  if (input.holdsEveryVip) {
    return {
      value: 0,
      open: true,
      reason: 'this node holds every VIP: the gate only holds back a returning node',
    };
  }
  const shut = (reason: string): FailbackGate => ({ value: depth, open: false, reason });
  if (input.caughtUp === undefined) return shut('its database has not been judged yet');
  if (!input.caughtUp.ok) return shut(`its database has not caught up: ${input.caughtUp.detail}`);
  const cooldownMs = input.cooldownMs ?? FAILBACK_COOLDOWN_MS;
  if (input.lastOpenedAt !== undefined && input.now - input.lastOpenedAt < cooldownMs) {
    const until = new Date(input.lastOpenedAt + cooldownMs).toISOString();
    return shut(
      `caught up, but it handed back less than ${cooldownMs / 1000} s ago (cooling down until ${until})`,
    );
  }
  return { value: 0, open: true, reason: `caught up (${input.caughtUp.detail}): it may take the VIPs back` };
}
