/**
 * Runs one state's action list in order. Each action gets an AbortSignal that fires at its timeout;
 * an action that does not stop within a short grace after that is abandoned and counted as failed,
 * so a transition is bounded even when an action misbehaves. One log line per step.
 */
import { actionLabel, actionTimeoutSec, failurePolicy, loadAction } from '../actions/index.js';
import { messageOf, type ActionContext, type ActionResult } from '../actions/types.js';
import type { ActionSpec } from '../spec/actions-schema.js';

const GRACE_MS = 2_000;

export interface StepOutcome {
  action: string;
  ok: boolean;
  policy: 'continue' | 'abort';
  durationMs: number;
  detail: string;
  diverged: boolean;
}

export interface ListOutcome {
  steps: StepOutcome[];
  /** An action with policy abort failed; the actions after it did not run. */
  aborted: boolean;
  diverged: boolean;
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

export async function executeActions(actions: ActionSpec[], context: ActionContext): Promise<ListOutcome> {
  const outcome: ListOutcome = { steps: [], aborted: false, diverged: false };
  for (const action of actions) {
    const label = actionLabel(action);
    const policy = failurePolicy(action);
    const started = performance.now();
    const result = await runOne(action, context);
    const durationMs = Math.round(performance.now() - started);
    const diverged = result.diverged === true;
    outcome.steps.push({ action: label, ok: result.ok, policy, durationMs, detail: result.detail, diverged });
    const line = {
      ...result.fields,
      event: 'notify.action',
      state: context.state,
      action: label,
      duration_ms: durationMs,
      result: result.ok ? 'ok' : 'failed',
      reason: result.detail,
      on_failure: policy,
      ...(diverged ? { diverged: true, needs_human: true } : {}),
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
