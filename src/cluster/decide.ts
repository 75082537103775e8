/**
 * The decision core: a pure function of what the node sees (an Observation), the spec, and what an
 * operator asked for (an Intent), returning a plan and one sentence that says why, in the manner
 * of Patroni's `_run_cycle`. Rules, in order:
 *
 * 1. Act on the present, not on the event: keepalived runs notify scripts concurrently and out of
 *    order, so what is applied follows who holds the VIPs now. MASTER needs every VIP; a node with
 *    some but not all takes the safe side; a MASTER event without any VIP is stale.
 * 2. A lease, when one is observed: only its holder may be MASTER.
 * 3. A state already applied successfully is not applied again (unless forced, or, without the
 *    agent, its actions left work for a later transition: a demotion that could not re-point yet).
 * 4. A promotion (a MASTER list with mysql.promote) needs the promotion guard's verdict: a node that
 *    cannot show it has every write the last primary acknowledged stays read-only, unless the
 *    operator explicitly accepts the loss; a node whose rebuild stopped half-way stays read-only
 *    whatever the operator says (src/cluster/unpromotable-gate.ts then gives its VIPs away).
 * 5. With `fencing`, an allowed promotion fences the old primary first (src/cluster/fencing-rule.ts).
 * 6. With `proxy`, the plan carries the steps that put this node's proxies right
 *    (src/cluster/proxy-rule.ts); they are observed on ticks that apply no state or retry one.
 * 7. Agent mode: a standby whose demotion gave up re-pointing (the peer was not writable yet) is
 *    re-pointed once the peer is writable and its lineage allows it (src/cluster/repoint-rule.ts);
 *    observed on ticks that apply nothing while a demotion is applied (needsStandbyFacts).
 *
 * Nothing here reads a clock, a file or the network: the same observation gives the same plan.
 */
import type { ActionSpec } from '../spec/actions-schema.js';
import type { Spec } from '../spec/schema.js';
import type { DivergenceFacts, Observation, VrrpState } from './observation.js';
import { fenceFirst, type FencingGuard } from './fencing-rule.js';
import { proxyRule, type ProxyStep } from './proxy-rule.js';
import { promotionVerdict, type PromotionVerdict } from './promotion-guard.js';
import { repointCandidate, repointRule, type RepointGuard } from './repoint-rule.js';
import { stepDownRule } from './step-down.js';

/** What an operator asked for on top of the automatic rules. */
export interface Intent {
  /** Run the decided state's actions even though that state was applied successfully already. */
  readonly force?: boolean;
  /**
   * The operator's reason to promote although the promotion guard refuses: the writes this node
   * lacks are given up. Reported at error level; never set by automation.
   */
  readonly acceptStale?: string;
  /** A planned switchover is handing this node's primary role over: stay read-only (step-down.ts). */
  readonly stepDown?: string;
}

export interface PromotionGuard {
  rule: 'promotion';
  verdict: PromotionVerdict;
  /** The facts the verdict was drawn from, as log fields. */
  evidence: Record<string, unknown>;
}

export interface LeaseGuard {
  rule: 'lease';
  allow: boolean;
  reason: string;
}

export type GuardVerdict = PromotionGuard | LeaseGuard | FencingGuard | RepointGuard;

export interface Plan {
  readonly transitionId: string;
  /** The state whose actions run, or undefined when nothing is to be done. */
  readonly target: VrrpState | undefined;
  /** The spec actions to run, in order (a refused promotion runs only mysql.promote, to hold read-only). */
  readonly actions: readonly ActionSpec[];
  /** One sentence: what was seen and why this plan follows. */
  readonly reason: string;
  readonly guards: readonly GuardVerdict[];
  /** Rule 6: steps on this node's proxies, in their safe order (apply runs them after the actions). */
  readonly proxy: readonly ProxyStep[];
}

export function actionsFor(spec: Spec, state: VrrpState): ActionSpec[] {
  return spec.actions[state.toLowerCase() as keyof Spec['actions']];
}

const promotes = (action: ActionSpec) => action.type === 'mysql.promote';

interface Step {
  target: VrrpState | undefined;
  reason: string;
  guards: GuardVerdict[];
}

/** Rule 1: the state this node is in, judged by the VIPs it holds. */
function present(observation: Observation): Step {
  const { held, missing } = observation.vips;
  const total = held.length + missing.length;
  const said = observation.keepalived?.state;
  const who = observation.keepalived?.source === 'fifo' ? 'keepalived says' : 'event says';
  const last = observation.lastApplied;
  const step = (target: VrrpState | undefined, reason: string): Step => ({ target, reason, guards: [] });
  if (held.length === total) {
    return step(
      'MASTER',
      said === undefined || said === 'MASTER'
        ? `holds all ${total} VIPs`
        : `${who} ${said} but this node holds all ${total} VIPs: it is MASTER now`,
    );
  }
  if (held.length > 0) {
    const safe = said === undefined || said === 'MASTER' ? 'BACKUP' : said;
    return step(
      safe,
      `split: holds ${held.join(', ')} but not ${missing.join(', ')}; applying ${safe} (a node without every VIP must not be primary)`,
    );
  }
  if (said !== undefined && said !== 'MASTER') return step(said, `holds none of the ${total} VIPs`);
  if (last?.state === 'MASTER') {
    return step(
      'BACKUP',
      said === 'MASTER'
        ? `MASTER event, but this node holds none of the ${total} VIPs while MASTER was applied last: demoting`
        : `holds none of the ${total} VIPs while MASTER was applied last: demoting`,
    );
  }
  return step(
    undefined,
    said === 'MASTER'
      ? `stale MASTER event: this node holds none of the ${total} VIPs`
      : `holds none of the ${total} VIPs and keepalived's state is unknown: nothing to change`,
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Rule 2: with a lease in play, MASTER belongs to its holder alone. */
function leaseRule(observation: Observation, step: Step): Step {
  const { lease } = observation;
  if (!lease || step.target !== 'MASTER') return step;
  if (lease.holder === observation.node && lease.validForMs > 0) {
    const reason = `holds the lease in ${lease.store} (${seconds(lease.validForMs)} left)`;
    return { ...step, reason: `${step.reason}; ${reason}`, guards: [{ rule: 'lease', allow: true, reason }] };
  }
  const why =
    lease.holder !== null && lease.validForMs > 0
      ? `${lease.holder} holds the lease in ${lease.store} (${seconds(lease.validForMs)} left)`
      : lease.holder !== null
        ? `the lease in ${lease.store} expired (last held by ${lease.holder}) and this node has not taken it`
        : `the lease in ${lease.store} is free and this node has not taken it`;
  return {
    target: 'BACKUP',
    reason: `MASTER refused: ${why}; applying BACKUP (a node without the lease must not be primary)`,
    guards: [{ rule: 'lease', allow: false, reason: why }],
  };
}

/**
 * Rule 3: a state applied successfully is not applied again. Unless, without the agent, its actions
 * left work for a later transition (a demotion that could not re-point yet): then the next event
 * for that state is that later transition, and nothing else would ever finish it. The agent
 * finishes it with rule 7 instead, without re-running the whole demotion on every tick.
 */
function alreadyApplied(observation: Observation, spec: Spec, step: Step, intent: Intent): Step {
  const last = observation.lastApplied;
  if (step.target === undefined || intent.force || last?.state !== step.target || !last.ok) return step;
  if (last.unfinished !== undefined && !spec.agent.enabled)
    return {
      ...step,
      reason: `${step.reason}; ${step.target} was applied (at ${last.at}) but left unfinished (${last.unfinished}): applying it again`,
    };
  return {
    ...step,
    target: undefined,
    reason: `${step.target} is already applied (at ${last.at}); ${step.reason}; use --force to run its actions again`,
  };
}

function rules123(observation: Observation, spec: Spec, intent: Intent): Step {
  return alreadyApplied(
    observation,
    spec,
    stepDownRule(leaseRule(observation, present(observation)), intent.stepDown),
    intent,
  );
}

/**
 * Whether deciding needs the facts that cost a round trip (the local database and the lineage):
 * only when the plan would promote. observe() asks this before it connects to anything.
 */
export function needsPromotionFacts(observation: Observation, spec: Spec, intent: Intent): boolean {
  if (deferredToAgent(observation, spec, intent)) return false;
  const step = rules123(observation, spec, intent);
  return step.target === 'MASTER' && actionsFor(spec, 'MASTER').some(promotes);
}

/**
 * Whether observe() reads the proxies (rule 6): on a tick that applies no state, or that retries a
 * state that failed (a demotion whose database is down must not starve them); never on a first
 * transition's path nor on a promotion's (no round trip there: the loop looks right after).
 */
export function needsProxyFacts(observation: Observation, spec: Spec, intent: Intent): boolean {
  if (!spec.proxy || deferredToAgent(observation, spec, intent)) return false;
  const { target } = rules123(observation, spec, intent);
  const last = observation.lastApplied;
  const retry = target !== undefined && last?.state === target && !last.ok;
  return (target === undefined || retry) && !needsPromotionFacts(observation, spec, intent);
}

/**
 * Whether observe() reads the standby's replication and the peer (rule 7): agent mode, a tick that
 * applies nothing, with a demotion applied that included mysql.demote. The agent asks for them at
 * most every few seconds (its loop's STANDBY_PROBE_MS), so a healthy standby costs little.
 */
export function needsStandbyFacts(observation: Observation, spec: Spec, intent: Intent): boolean {
  if (deferredToAgent(observation, spec, intent)) return false;
  return (
    rules123(observation, spec, intent).target === undefined &&
    repointCandidate(observation, spec) !== undefined
  );
}

/** What the strict divergence proof was judged on, for the log (the peer's settings only by their verdict). */
function divergenceEvidence(divergence: DivergenceFacts): Record<string, unknown> {
  if (divergence.kind === 'unreadable') return { unreadable: divergence.problem };
  const { peer } = divergence;
  return {
    here: divergence.localState,
    applied_here: divergence.localApplied,
    received_here: divergence.localReceived,
    peer: peer.address,
    peer_read_only: peer.readOnly,
    peer_state: peer.state,
    peer_replicas: peer.replicaServerIds,
  };
}

function evidenceOf(observation: Observation): Record<string, unknown> {
  const { lineage, database } = observation;
  const record = lineage?.kind === 'ok' ? lineage.lineage : undefined;
  return {
    lineage: record
      ? {
          primary: record.primary,
          primary_position: record.primaryPosition,
          following: record.following,
          diverged: record.diverged,
          at: record.at,
        }
      : (lineage?.kind ?? 'not observed'),
    coverage: database?.kind === 'ok' ? database.coverage : undefined,
    ...(database?.kind === 'ok' && database.divergence
      ? { divergence: divergenceEvidence(database.divergence) }
      : {}),
  };
}

/** Rule 4's verdict; facts that were not observed count as "cannot show". */
function promotionGuard(observation: Observation, spec: Spec, intent: Intent): PromotionGuard {
  const { database, lineage } = observation;
  const evidence = evidenceOf(observation);
  if (database === undefined || lineage === undefined || database.kind === 'unreachable') {
    const problem =
      database?.kind === 'unreachable'
        ? `its database could not be observed (${database.problem})`
        : 'its database and lineage were not observed';
    return {
      rule: 'promotion',
      evidence,
      verdict: {
        allow: false,
        reason: `this node cannot judge whether its database has every acknowledged write: ${problem}`,
        problems: [problem],
        // Not overridable: a database nobody can reach cannot be promoted either way.
        wayOut:
          'start the local database (it must come up read-only); the next event judges the promotion again',
      },
    };
  }
  if (database.rebuildUnfinished) {
    const problem =
      'a rebuild stopped half-way here (its marker is in paths.state_dir, or could not be checked): its data is a partial copy of the primary';
    return {
      rule: 'promotion',
      evidence: { ...evidence, rebuild_unfinished: true },
      verdict: {
        allow: false,
        reason: `this node cannot be promoted: ${problem}`,
        problems: [problem],
        // Not overridable either: no accepted loss makes a partial copy a database.
        wayOut:
          "resume the rebuild (`hactl rebuild`; under strict semi-sync the agent resumes it by itself); meanwhile the agent hands this node's VIPs to its peer",
      },
    };
  }
  const verdict = promotionVerdict({
    self: observation.node,
    lineage,
    replica: database.replica,
    coverage: database.coverage,
    acceptStale: intent.acceptStale,
    strictSemiSync: spec.mysql?.semi_sync === 'strict',
    divergence: database.divergence,
  });
  return { rule: 'promotion', verdict, evidence };
}

/**
 * Rule 0, agent mode: keepalived's FAULT/STOP hooks still run `hactl notify` so that a node whose
 * agent died or froze is demoted anyway; while the agent says it is alive, the agent applies
 * keepalived's transitions itself (in order, from the FIFO) and a hook arriving late must not
 * overwrite them. An operator's --force still acts.
 */
function deferredToAgent(observation: Observation, spec: Spec, intent: Intent): string | undefined {
  if (!spec.agent.enabled || intent.force || observation.keepalived?.source !== 'event') return undefined;
  if (observation.agentAlive !== true) return undefined;
  return "agent mode: this node's agent is alive and applies keepalived's transitions itself; this hook acts only for a dead or frozen agent (use --force to act anyway)";
}

export function decide(observation: Observation, spec: Spec, intent: Intent): Plan {
  const deferred = deferredToAgent(observation, spec, intent);
  const step = deferred
    ? { target: undefined, reason: deferred, guards: [] }
    : rules123(observation, spec, intent);
  const proxy = deferred ? { steps: [], reason: undefined } : proxyRule(observation, spec);
  const plan = (
    target: VrrpState | undefined,
    actions: ActionSpec[],
    reason: string,
    guards: GuardVerdict[],
  ) =>
    Object.freeze({
      transitionId: observation.transitionId,
      target,
      actions: Object.freeze([...actions]),
      reason: proxy.reason === undefined ? reason : `${reason}; ${proxy.reason}`,
      guards: Object.freeze(guards),
      proxy: Object.freeze(proxy.steps.map((s) => Object.freeze(s))),
    });
  if (step.target === undefined) {
    const repoint = deferred ? undefined : repointRule(observation, spec);
    if (repoint === undefined) return plan(undefined, [], step.reason, step.guards);
    if ('refused' in repoint)
      return plan(undefined, [], `${step.reason}; ${repoint.refused.reason}`, [
        ...step.guards,
        repoint.refused,
      ]);
    return plan(repoint.target, repoint.actions, repoint.reason, [...step.guards, repoint.guard]);
  }
  const actions = actionsFor(spec, step.target);
  if (step.target !== 'MASTER' || !actions.some(promotes))
    return plan(step.target, actions, step.reason, step.guards);
  const guard = promotionGuard(observation, spec, intent);
  const guards = [...step.guards, guard];
  const { verdict } = guard;
  if (verdict.allow)
    return fenceFirst(
      plan('MASTER', actions, `${step.reason}; may promote: ${verdict.reason}`, guards),
      spec,
      observation.node,
      observation.peerSilence,
    );
  // The promote step still runs, told it may not promote: it keeps (or makes) the database
  // read-only and fails, so the state is not recorded as applied and the next event judges again.
  return plan(
    'MASTER',
    actions.filter(promotes),
    `MASTER refused: stay read-only: ${verdict.reason}; way out: ${verdict.wayOut}`,
    guards,
  );
}

/** The re-point rule's verdict a plan carries (rule 7), for the log line. */
export function repointOf(plan: Plan): RepointGuard | undefined {
  return plan.guards.find((g): g is RepointGuard => g.rule === 'repoint');
}

/** The promotion verdict a plan carries, for the step that acts on it. */
export function promotionOf(plan: Plan): PromotionGuard | undefined {
  return plan.guards.find((g): g is PromotionGuard => g.rule === 'promotion');
}
