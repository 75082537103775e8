/**
 * Rule 5, fencing (spec `fencing`): a node about to make its database writable first fences the
 * old primary — read-only, client sessions ended — over every path it has (the peer's address on
 * each network, on the MySQL port), all at once. Which paths to try and what to do when none
 * reaches the old primary are decided here, purely: `fenceFirst` puts the fencing guard on a plan
 * that promotes, and `fencingVerdict` judges what the fence reached (src/fence/fence.ts acts, the
 * mysql.promote step asks this verdict before it makes anything writable). When no path reaches
 * the old primary, the spec's policy decides, never silence: promote-anyway (availability, logged
 * at error level) or wait-for-witness (promote only from the side that still reaches a witness).
 */
import type { Spec } from '../spec/schema.js';
import type { Plan } from './decide.js';

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
  unreachable: 'promote-anyway' | 'wait-for-witness';
  witness: { host: string; port: number }[];
}

/** Every peer's address on every fencing network (default: every network the peer has). */
export function fencingGuard(spec: Spec, self: string): FencingGuard | undefined {
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
  return {
    rule: 'fencing',
    paths,
    connectTimeoutMs: Math.round(fencing.connect_timeout * 1000),
    unreachable: fencing.unreachable,
    witness: fencing.witness.map((host) => ({ host, port: fencing.witness_port ?? 0 })),
  };
}

export const describePath = (path: FencePath) => `${path.network} ${path.host}:${path.port}`;

/** A promoting plan carries the fencing guard; every other plan is returned as it is. */
export function fenceFirst(plan: Plan, spec: Spec, self: string): Plan {
  const guard = plan.target === 'MASTER' ? fencingGuard(spec, self) : undefined;
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
  notFenced: { path: string; why: string }[];
}

export interface WitnessOutcome {
  reachable: boolean;
  detail: string;
}

export type FencingVerdict =
  | { promote: true; level: 'info' | 'warn' | 'error'; reason: string }
  | { promote: false; reason: string; wayOut: string };

/** Whether the promotion may go on, given what the fence reached (and, if asked, the witness). */
export function fencingVerdict(
  guard: FencingGuard,
  fence: FenceOutcome,
  witness: WitnessOutcome | undefined,
): FencingVerdict {
  if (fence.fenced.length > 0) {
    return {
      promote: true,
      level: 'info',
      reason: `the old primary is read-only with its client sessions ended (fenced over ${fence.fenced.join(', ')})`,
    };
  }
  const none = `no path fenced the old primary (${fence.notFenced.map((p) => `${p.path}: ${p.why}`).join('; ') || 'no path configured'})`;
  if (guard.unreachable === 'promote-anyway') {
    return {
      promote: true,
      level: 'error',
      reason: `${none}; policy promote-anyway: promoting — if it is alive and writable, two databases accept writes until it demotes itself`,
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
