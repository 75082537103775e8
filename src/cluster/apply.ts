/**
 * Carries out a plan: runs its actions in order, each bounded by its timeout (an action that does
 * not stop within a short grace after its signal aborts is abandoned and counted as failed), logs
 * one line per step, and records the applied state — ok only when every step succeeded, so a
 * partial run is retried by the next decision (every action is idempotent). Every line, the
 * actions' own included, carries the plan's transition id. The plan's proxy steps (rule 6) run
 * after the actions, through src/proxy/apply.ts; they are not part of the applied state.
 */
import { actionLabel, actionTimeoutSec, failurePolicy, loadAction } from '../actions/index.js';
import { messageOf, type ActionContext, type ActionResult } from '../actions/types.js';
import type { Logger } from '../log.js';
import type { ProxyStepOutcome } from '../proxy/apply.js';
import type { ActionSpec } from '../spec/actions-schema.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { appliedStatePath, writeAppliedState } from './applied-state.js';
import { promotionOf, type Intent, type Plan } from './decide.js';
import { fencingOf } from './fencing-rule.js';
import type { Observation } from './observation.js';
import { localAddresses, vipHolding } from './vips.js';

const GRACE_MS = 2_000;

export interface StepOutcome {
  action: string;
  ok: boolean;
  policy: 'continue' | 'abort';
  durationMs: number;
  detail: string;
  diverged: boolean;
  /** The action succeeded and left work for a later transition (ActionResult.unfinished). */
  unfinished?: string;
}

export interface ApplyOutcome {
  steps: StepOutcome[];
  /** An action with policy abort failed; the actions after it did not run. */
  aborted: boolean;
  diverged: boolean;
  /** Every step ran and succeeded: what was recorded as `ok`. */
  ok: boolean;
  /** The proxy steps' outcomes (they do not count towards `ok`). */
  proxy?: ProxyStepOutcome[];
}

export interface ApplyOptions {
  spec: Spec;
  node: NodeSpec;
  /** The observation the plan was decided from. */
  observation: Observation;
  intent: Intent;
  log: Logger;
  /** The `event` of each step's log line (notify keeps the name its operators grep for). */
  stepEvent?: string;
  /** Where the VIPs are re-read while an action waits on the cluster (default: this host's interfaces). */
  addresses?: () => ReadonlySet<string>;
}

async function runOne(action: ActionSpec, context: ActionContext): Promise<ActionResult> {
  const timeoutMs = actionTimeoutSec(action, context.spec) * 1000;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<ActionResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${timeoutMs / 1000} s`));
      graceTimer = setTimeout(
        () =>
          resolve({
            ok: false,
            detail: `timed out after ${timeoutMs / 1000} s and did not stop when asked; abandoned`,
          }),
        GRACE_MS,
      );
    }, timeoutMs);
  });
  try {
    const run = await loadAction(action.type);
    const result = await Promise.race([run(action, context, controller.signal), abandoned]);
    if (result.ok && controller.signal.aborted)
      return { ...result, ok: false, detail: `timed out after ${timeoutMs / 1000} s` };
    return result;
  } catch (error) {
    const detail = controller.signal.aborted
      ? `timed out after ${timeoutMs / 1000} s (${messageOf(error)})`
      : messageOf(error);
    return { ok: false, detail };
  } finally {
    clearTimeout(timer);
    clearTimeout(graceTimer);
  }
}

/**
 * What becomes of a diverged demotion: under strict semi-sync the agent rejoins the node by itself
 * when its proof holds (src/cluster/rejoin-rule.ts); notify mode reports it and leaves it to a human.
 */
export function rejoinHint(spec: Spec): { rejoin?: string } {
  if (spec.mysql?.semi_sync !== 'strict') return {};
  return {
    rejoin: spec.agent.enabled
      ? 'strict semi-sync: the agent judges a rejoin by rebuild, discarding only what no client was told committed (see agent.rejoin)'
      : 'strict semi-sync: the agent (agent.enabled) would rejoin this node by itself when its proof holds; in notify mode a human runs hactl rebuild --discard <the extra GTIDs>',
  };
}

async function runSteps(
  actions: readonly ActionSpec[],
  context: ActionContext,
  stepEvent: string,
): Promise<Omit<ApplyOutcome, 'ok'>> {
  const outcome: Omit<ApplyOutcome, 'ok'> = { steps: [], aborted: false, diverged: false };
  for (const action of actions) {
    const label = actionLabel(action);
    const policy = failurePolicy(action);
    const started = performance.now();
    const result = await runOne(action, context);
    const durationMs = Math.round(performance.now() - started);
    const diverged = result.diverged === true;
    outcome.steps.push({
      action: label,
      ok: result.ok,
      policy,
      durationMs,
      detail: result.detail,
      diverged,
      ...(result.unfinished === undefined ? {} : { unfinished: result.unfinished }),
    });
    const line = {
      ...result.fields,
      event: stepEvent,
      state: context.state,
      action: label,
      duration_ms: durationMs,
      result: result.ok ? 'ok' : 'failed',
      reason: result.detail,
      on_failure: policy,
      ...(diverged ? { diverged: true, needs_human: true, ...rejoinHint(context.spec) } : {}),
    };
    if (result.ok) context.log.info(line);
    else context.log.error(line);
    if (diverged) outcome.diverged = true;
    if (!result.ok && policy === 'abort') {
      outcome.aborted = true;
      break;
    }
  }
  return outcome;
}

/** undefined when the plan has no target (no action ran, nothing was recorded; its proxy steps did run). */
export async function apply(plan: Plan, options: ApplyOptions): Promise<ApplyOutcome | undefined> {
  const { spec, node, observation, intent } = options;
  const log = options.log.child({ transition_id: plan.transitionId });
  // Loaded only here: notify (which never has proxy steps) does not parse the proxy drivers.
  const proxySteps = async (): Promise<ProxyStepOutcome[]> =>
    plan.proxy.length > 0 ? (await import('../proxy/apply.js')).applyProxySteps(plan.proxy, spec, log) : [];
  if (plan.target === undefined) {
    await proxySteps();
    return undefined;
  }
  const addresses = options.addresses ?? localAddresses;
  const promotion = promotionOf(plan);
  const fencing = fencingOf(plan);
  const context: ActionContext = {
    spec,
    node,
    state: plan.target,
    previous: observation.lastApplied?.state,
    runtimeDir: spec.paths.runtime_dir,
    log,
    transitionId: plan.transitionId,
    // A live look, not the snapshot: it answers while a demotion waits for the peer.
    keepWaitingForPeer: () => vipHolding(spec, addresses()).held.length === 0,
    promotionStillWanted: () => {
      const { held, missing } = vipHolding(spec, addresses());
      return held.length === 0
        ? `this node holds none of the VIPs any more (${missing.join(', ')}): keepalived moved them while it promoted`
        : undefined;
    },
    ...(promotion ? { promotion: { verdict: promotion.verdict, evidence: promotion.evidence } } : {}),
    ...(fencing ? { fencing } : {}),
    ...(intent.acceptStale === undefined ? {} : { acceptStale: intent.acceptStale }),
  };
  const ran = await runSteps(plan.actions, context, options.stepEvent ?? 'apply.action');
  const ok = !ran.aborted && !ran.diverged && ran.steps.every((step) => step.ok);
  const unfinished = ran.steps
    .filter((step) => step.unfinished !== undefined)
    .map((step) => `${step.action}: ${step.unfinished}`);
  await writeAppliedState(appliedStatePath(spec.paths.runtime_dir, node.name), {
    state: plan.target,
    ok,
    at: new Date().toISOString(),
    event: observation.keepalived?.text ?? 'no event',
    transitionId: plan.transitionId,
    ...(unfinished.length > 0 ? { unfinished: unfinished.join('; ') } : {}),
  });
  return { ...ran, ok, proxy: await proxySteps() };
}
