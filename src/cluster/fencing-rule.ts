/**
 * Rule 5, fencing (spec `fencing`): a node about to make its database writable first fences the
 * old primary — read-only, client sessions ended — over every path it has (the peer's address on
 * each network, on the MySQL port), all at once. Which paths to try and what to do when none
 * reaches the old primary are decided here, purely: `fenceFirst` puts the fencing guard on a plan
 * that promotes, and `fencingVerdict` judges what the fence reached (src/fence/fence.ts acts, the
 * mysql.promote step asks this verdict before it makes anything writable). When no path reaches
 * the old primary, the spec's policy decides, never silence: promote-anyway (availability, logged
 * at error level) or wait-for-witness (promote only from the side that still reaches a witness).
 * An old primary that answered but could not be made read-only is no case for the policy: it is
 * alive, so the promotion waits for the next attempt.
 *
 * Reaching the witness does not prove the old primary is gone: when only the link between the
 * nodes is cut, it still serves the clients' link and answers ARP for the VIPs this node just
 * took. Under wait-for-witness such a claim holds the promotion back until the old primary's
 * agent yields (src/fence/vip-contest.ts) and lets them go, within `claimWaitMs`; a claim that
 * outlasts it keeps this node read-only.
 *
 * A dead old primary costs the fence its whole connect_timeout (no refusal comes back). When the
 * witness monitor has already found every path silent for SILENT_ROUNDS rounds of that same
 * timeout, the fence still knocks on every path, but gives each SILENT_PEER_CONNECT_MS: enough for
 * a node that has just come back on a LAN, and half a second sooner writable after a node loss.
 */
import { vipAddress, type Spec } from '../spec/schema.js';
import type { Plan } from './decide.js';
import type { PeerSilence } from './observation.js';

export interface FencePath {
  /** The old primary's node name. */
  node: string;
  network: string;
  host: string;
  port: number;
}

export interface FencingGuard {
  rule: 'fencing';
  paths: FencePath[];
  connectTimeoutMs: number;
  /** What the fence gives each path to connect: connectTimeoutMs, or less when the monitor found the peer silent. */
  fenceConnectMs: number;
  /** Why fenceConnectMs is short ("silent for 6 rounds, the last 120 ms ago"); absent when it is not. */
  peerSilent?: string;
  unreachable: 'promote-anyway' | 'wait-for-witness';
  witness: { host: string; port: number }[];
  /** This node's VIPs, on its own interfaces: who else answers ARP for them? */
  vips: { address: string; iface: string }[];
  /** How long the old primary's agent may take to yield them (its peer-silence rounds, one ARP question, its demotion). */
  claimWaitMs: number;
}

/** Peer silence over MIN_FAILED_ROUNDS rounds (src/fence/isolation.ts), plus one more for skew. */
const ROUNDS_BEFORE_A_YIELD = 3;
/** One ARP question (src/fence/arp-probe.ts) and the old primary's local demotion on a busy machine. */
const YIELD_SLACK_MS = 4_000;

/** Rounds of connect_timeout in a row with no path answering: the peer is dead or cut off from here. */
export const SILENT_ROUNDS = 2;
/** A TCP connect and MySQL greeting between two hosts on one LAN, with room for a busy machine. */
export const SILENT_PEER_CONNECT_MS = 100;

/**
 * How long the fence gives each path. Short only on fresh evidence: enough rounds, the last one
 * ended within a round of now (an old silence says nothing about the last moment). Pure.
 */
export function fenceConnectBudget(
  connectTimeoutMs: number,
  roundMs: number,
  silence: PeerSilence | undefined,
): { ms: number; why?: string } {
  if (!silence || silence.failedRounds < SILENT_ROUNDS || silence.lastRoundAgoMs > roundMs)
    return { ms: connectTimeoutMs };
  if (connectTimeoutMs <= SILENT_PEER_CONNECT_MS) return { ms: connectTimeoutMs };
  return {
    ms: SILENT_PEER_CONNECT_MS,
    why: `the witness monitor heard no path to the peer for ${silence.failedRounds} rounds (the last ${silence.lastRoundAgoMs} ms ago): each path gets ${SILENT_PEER_CONNECT_MS} ms, not ${connectTimeoutMs}`,
  };
}

/** Every peer's address on every fencing network (default: every network the peer has). */
export function fencingGuard(spec: Spec, self: string, silence?: PeerSilence): FencingGuard | undefined {
  const fencing = spec.fencing;
  if (!fencing) return undefined;
  const port = spec.mysql?.port ?? 3306;
  const paths = spec.nodes
    .filter((node) => node.name !== self)
    .flatMap((node) =>
      (fencing.networks ?? Object.keys(node.networks)).flatMap((network) => {
        const address = node.networks[network]?.address;
        return address === undefined ? [] : [{ node: node.name, network, host: address, port }];
      }),
    );
  const own = spec.nodes.find((node) => node.name === self);
  const vips = spec.vips.flatMap((vip) => {
    const iface = own?.networks[vip.network]?.interface;
    return iface === undefined ? [] : [{ address: vipAddress(vip), iface }];
  });
  const round = Math.max(fencing.probe_interval, fencing.connect_timeout) * 1000;
  const connectTimeoutMs = Math.round(fencing.connect_timeout * 1000);
  const budget = fenceConnectBudget(connectTimeoutMs, round, silence);
  return {
    rule: 'fencing',
    paths,
    connectTimeoutMs,
    fenceConnectMs: budget.ms,
    ...(budget.why ? { peerSilent: budget.why } : {}),
    unreachable: fencing.unreachable,
    witness: fencing.witness.map((host) => ({ host, port: fencing.witness_port ?? 0 })),
    vips,
    claimWaitMs: Math.round(ROUNDS_BEFORE_A_YIELD * round + YIELD_SLACK_MS),
  };
}

export const describePath = (path: FencePath) => `${path.network} ${path.host}:${path.port}`;

/** A promoting plan carries the fencing guard; every other plan is returned as it is. */
export function fenceFirst(plan: Plan, spec: Spec, self: string, silence?: PeerSilence): Plan {
  const guard = plan.target === 'MASTER' ? fencingGuard(spec, self, silence) : undefined;
  if (!guard || !plan.actions.some((action) => action.type === 'mysql.promote')) return plan;
  const via = guard.paths.map(describePath).join(', ');
  return Object.freeze({
    ...plan,
    reason: `${plan.reason}; fences the old primary first (${via})`,
    guards: Object.freeze([...plan.guards, guard]),
  });
}

export function fencingOf(plan: Plan): FencingGuard | undefined {
  return plan.guards.find((g): g is FencingGuard => g.rule === 'fencing');
}

/** What the fence reached: per path, whether the old primary is confirmed read-only through it. */
export interface FenceOutcome {
  fenced: string[];
  /** `reached`: the old primary answered on that path (it is alive), yet is not confirmed read-only. */
  notFenced: { path: string; why: string; reached?: boolean }[];
}

export interface WitnessOutcome {
  reachable: boolean;
  detail: string;
}

/** Who else still answered ARP for this node's VIPs when the wait for them to go free ended. */
export interface ClaimOutcome {
  /** e.g. "192.0.2.50 on eth1 answered by 02:…"; empty: nobody else holds them. */
  claimed: string[];
  waitedMs: number;
}

export type FencingVerdict =
  | { promote: true; level: 'info' | 'warn' | 'error'; reason: string }
  | { promote: false; reason: string; wayOut: string };

/** Whether the promotion may go on, given what the fence reached (and, if asked, the witness). */
export function fencingVerdict(
  guard: FencingGuard,
  fence: FenceOutcome,
  witness: WitnessOutcome | undefined,
  claims?: ClaimOutcome,
): FencingVerdict {
  if (fence.fenced.length > 0) {
    return {
      promote: true,
      level: 'info',
      reason: `the old primary is read-only with its client sessions ended (fenced over ${fence.fenced.join(', ')})`,
    };
  }
  const answered = fence.notFenced.filter((p) => p.reached);
  if (answered.length > 0) {
    // The spec's policy is for an old primary no path reaches; this one is alive and answers here.
    return {
      promote: false,
      reason: `the old primary answered but is not read-only (${answered.map((p) => `${p.path}: ${p.why}`).join('; ')}): it is alive and may still take writes, so promoting would make two databases writable; this node stays read-only whatever fencing.unreachable says`,
      wayOut:
        'the next attempt fences it again (its own demotion may have ended the session, or a lock held read_only back); if it keeps refusing, make it read-only or stop it by hand',
    };
  }
  const none =
    `no path fenced the old primary (${fence.notFenced.map((p) => `${p.path}: ${p.why}`).join('; ') || 'no path configured'})` +
    (guard.peerSilent ? ` (${guard.peerSilent})` : '');
  if (guard.unreachable === 'promote-anyway') {
    return {
      promote: true,
      level: 'error',
      reason: `${none}; policy promote-anyway: promoting — if it is alive and writable, two databases accept writes until it demotes itself`,
    };
  }
  if (witness?.reachable && claims && claims.claimed.length > 0) {
    return {
      promote: false,
      reason: `${none}; policy wait-for-witness: the witness answers from here (${witness.detail}), but the old primary is alive on the clients' link — after ${claims.waitedMs} ms it still answers for ${claims.claimed.join('; ')} — and has not yielded: promoting would make two databases writable, so this node stays read-only`,
      wayOut:
        "the old primary's agent yields once it notices (fencing.witness must be set there, and arping installed); else make it read-only or stop it by hand, and the next tick promotes. To promote regardless, set fencing.unreachable: promote-anyway",
    };
  }
  if (witness?.reachable) {
    return {
      promote: true,
      level: 'warn',
      reason: `${none}; policy wait-for-witness: the witness answers from here (${witness.detail}), so this node is on the majority side: promoting (an isolated old primary demotes itself)`,
    };
  }
  return {
    promote: false,
    reason: `${none}; policy wait-for-witness: the witness does not answer from here either (${witness?.detail ?? 'not probed'}), so this node may be the isolated one: it stays read-only`,
    wayOut:
      'restore this node’s path to the witness or to the old primary; the next tick fences and judges again. To promote regardless, set fencing.unreachable: promote-anyway',
  };
}
