/**
 * The proxy rule, pure: from what this node sees (which VIPs it holds, whether the standby has
 * caught up) to the backends every proxy should list, and from a proxy's current backends to the
 * steps that get there. Nothing here reads a clock, a file or the network.
 *
 * - The read-write backend: the VIP (seed 004, the same on both nodes' proxies) or the address of
 *   the node that holds the VIPs.
 * - The read-only backend: the standby's address, only while it has caught up (the failback
 *   rule: replication threads running, lag 0, everything received applied). A failed or lagging
 *   standby is not listed; the primary itself is reached through the read-write backend.
 * - A node holding some but not all VIPs is in the middle of a transition: the proxies are left
 *   as they are until it settles.
 */

export interface Address {
  host: string;
  port: number;
}

export const addressText = (a: Address) => `${a.host}:${a.port}`;

export interface ProxyView {
  /** This node's VIPs: all of them (primary), none (standby) or some (transition under way). */
  holds: 'all' | 'none' | 'some';
  self: Address;
  peer: Address;
  vip: Address | undefined;
  /** The failback rule's verdict on the standby's database; undefined when not judged. */
  standbyCaughtUp: { ok: boolean; detail: string } | undefined;
}

export type WriterLayout = 'vip' | 'node';

/** What a proxy should list: "host:port" strings. */
export interface BackendSet {
  rw: readonly string[];
  ro: readonly string[];
}

export type Wanted = (BackendSet & { reason: string }) | { leave: true; reason: string };

export function wantedBackends(view: ProxyView, writer: WriterLayout): Wanted {
  if (view.holds === 'some') {
    return { leave: true, reason: 'this node holds some but not all VIPs (a transition is under way)' };
  }
  const [primary, standby] = view.holds === 'all' ? [view.self, view.peer] : [view.peer, view.self];
  let rw: string;
  if (writer === 'vip') {
    if (!view.vip) return { leave: true, reason: 'no VIP on the proxy network to write through' };
    rw = addressText(view.vip);
  } else rw = addressText(primary);
  const caught = view.standbyCaughtUp;
  const ro = caught?.ok ? [addressText(standby)] : [];
  const about = `standby ${addressText(standby)} ${
    caught === undefined
      ? 'not judged yet'
      : caught.ok
        ? 'has caught up'
        : `has not caught up (${caught.detail})`
  }`;
  return { rw: [rw], ro, reason: `read-write ${rw}; ${about}` };
}

export interface Step {
  op: 'add' | 'remove';
  kind: 'rw' | 'ro';
  address: string;
}

/**
 * The steps from `current` to `wanted`, in a safe order: additions first, then removals of
 * read-only backends, then removals of read-write ones — so a proxy that had a writable backend
 * keeps one at every moment (make before break). Empty when the proxy is already right.
 */
export function stepsTo(current: BackendSet, wanted: BackendSet): Step[] {
  const steps: Step[] = [];
  for (const kind of ['rw', 'ro'] as const) {
    for (const address of wanted[kind]) {
      if (!current[kind].includes(address)) steps.push({ op: 'add', kind, address });
    }
  }
  for (const kind of ['ro', 'rw'] as const) {
    for (const address of current[kind]) {
      if (!wanted[kind].includes(address)) steps.push({ op: 'remove', kind, address });
    }
  }
  return steps;
}

export const stepText = (s: Step) => `${s.op === 'add' ? '+' : '-'}${s.kind}:${s.address}`;
