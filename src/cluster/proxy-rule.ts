/**
 * Rule 6, proxy upkeep (spec `proxy:`, seed 004), pure: from what this node sees — which VIPs it
 * holds, whether the standby's database has caught up, and the backends each of its proxies lists
 * now (Observation.proxy) — to the steps that put every proxy right, in a safe order.
 *
 * - The read-write backend: the VIP (seed 004, the same on both nodes' proxies) or the address of
 *   the node that holds the VIPs.
 * - The read-only backend: the standby's address, only while it has caught up (the failback
 *   rule: replication threads running, lag 0, everything received applied). A failed or lagging
 *   standby is not listed; the primary itself is reached through the read-write backend.
 * - A node holding some but not all VIPs is in the middle of a transition: the proxies are left
 *   as they are until it settles. So is a proxy whose backends could not be read.
 * - Additions first, then removals of read-only backends, then of read-write ones: a proxy that
 *   had a writable backend keeps one after every single step (make before break).
 *
 * A proxy already right gives no step, so deciding again after the steps ran gives none.
 * Nothing here reads a clock, a file or the network.
 */
import { dbAddress, dbNetwork } from '../actions/addresses.js';
import type { ProxyEntry } from '../spec/proxy-schema.js';
import { vipAddress, type NodeSpec, type Spec } from '../spec/schema.js';
import type { Observation } from './observation.js';

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

/** What a proxy lists, or should list: "host:port" strings. */
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

/** The databases as the proxies reach them: on proxy.network (default: the replication network). */
export function proxyAddresses(
  spec: Spec,
  node: NodeSpec,
): { self: Address; peer: Address; vip: Address | undefined } {
  const network = dbNetwork(spec, spec.proxy?.network);
  const other = spec.nodes.find((n) => n.name !== node.name)!;
  const at = (n: NodeSpec): Address => {
    const { host, port } = dbAddress(spec, n, network);
    return { host, port };
  };
  const self = at(node);
  const vipSpec = spec.vips.find((v) => v.network === network);
  return { self, peer: at(other), vip: vipSpec && { host: vipAddress(vipSpec), port: self.port } };
}

/** The proxies a node keeps: every entry, but those with `nodes` only on the nodes they name. */
export function proxiesOn(spec: Spec, node: NodeSpec): { index: number; entry: ProxyEntry }[] {
  return (spec.proxy?.proxies ?? [])
    .map((entry, index) => ({ index, entry }))
    .filter(({ entry }) => entry.nodes === undefined || entry.nodes.includes(node.name));
}

/** One step of the plan on one proxy: `proxy` is its index in spec.proxy.proxies. */
export interface ProxyStep extends Step {
  proxy: number;
  /** "atlas 127.0.0.1:2345", for log lines (no credentials). */
  label: string;
  /** Why this proxy should list what it is being brought to. */
  reason: string;
}

export interface ProxyDecision {
  steps: ProxyStep[];
  /** For the plan's sentence: undefined when proxies were not observed or all are right. */
  reason: string | undefined;
}

const NOTHING: ProxyDecision = { steps: [], reason: undefined };

export function proxyRule(observation: Observation, spec: Spec): ProxyDecision {
  const facts = observation.proxy;
  const node = spec.nodes.find((n) => n.name === observation.node);
  if (!facts || !spec.proxy || !node) return NOTHING;
  const { held, missing } = observation.vips;
  let addresses;
  try {
    addresses = proxyAddresses(spec, node);
  } catch (error) {
    // Lint refuses a proxy.network some node lacks; a spec that slipped through changes nothing.
    return { steps: [], reason: `proxies left alone: ${(error as Error).message}` };
  }
  const view: ProxyView = {
    holds: missing.length === 0 ? 'all' : held.length === 0 ? 'none' : 'some',
    ...addresses,
    standbyCaughtUp: facts.standbyCaughtUp,
  };
  const steps: ProxyStep[] = [];
  const notes: string[] = [];
  for (const read of facts.proxies) {
    const entry = spec.proxy.proxies[read.proxy];
    if (!entry) continue;
    if (read.backends === undefined) {
      notes.push(`${read.label} not read (${read.problem ?? 'no answer'}): left as it is`);
      continue;
    }
    const wanted = wantedBackends(view, entry.writer);
    if ('leave' in wanted) {
      notes.push(`${read.label} left as it is: ${wanted.reason}`);
      continue;
    }
    const todo = stepsTo(read.backends, wanted);
    if (todo.length === 0) continue;
    notes.push(`${read.label} ${todo.map(stepText).join(' ')} (${wanted.reason})`);
    for (const step of todo)
      steps.push({ ...step, proxy: read.proxy, label: read.label, reason: wanted.reason });
  }
  return { steps, reason: notes.length > 0 ? `proxies: ${notes.join('; ')}` : undefined };
}
