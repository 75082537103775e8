/**
 * The proxy half of apply (src/cluster/apply.ts): the plan's proxy steps, proxy by proxy through
 * its driver, in the plan's order (additions before removals), each bounded in time and logged
 * with the plan's transition id. A proxy whose step fails takes no further step (a removal never
 * follows a failed addition) and the other proxies go on; the next tick observes and decides again.
 */
import { raceDeadline } from '../bounded/deadline.js';
import { stepText, type ProxyStep } from '../cluster/proxy-rule.js';
import type { Logger } from '../log.js';
import type { Spec } from '../spec/schema.js';
import { driverFor } from './drivers.js';

export const PROXY_APPLY_BUDGET_MS = 5_000;

export interface ProxyStepOutcome {
  step: string;
  proxy: string;
  ok: boolean;
  /** false: the proxy was already so (a repeated step changes nothing). */
  changed: boolean;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** `log` carries the transition id already. Never throws: a failure is logged and returned. */
export async function applyProxySteps(
  steps: readonly ProxyStep[],
  spec: Spec,
  log: Logger,
): Promise<ProxyStepOutcome[]> {
  const outcomes: ProxyStepOutcome[] = [];
  const byProxy = new Map<number, ProxyStep[]>();
  for (const step of steps) byProxy.set(step.proxy, [...(byProxy.get(step.proxy) ?? []), step]);
  await Promise.all(
    [...byProxy].map(async ([index, mine]) => {
      const entry = spec.proxy?.proxies[index];
      const label = mine[0]!.label;
      if (!entry) {
        log.error({ event: 'apply.proxy', proxy: label, result: 'failed', reason: 'no longer in the spec' });
        return;
      }
      const started = performance.now();
      const line = (step: ProxyStep) => ({
        event: 'apply.proxy',
        proxy: label,
        step: stepText(step),
        reason: step.reason,
      });
      let done = 0;
      try {
        const driver = driverFor(entry);
        const applied = await raceDeadline(
          (signal) =>
            driver.apply(mine, signal, (step, changed) => {
              done += 1;
              outcomes.push({ step: stepText(step), proxy: label, ok: true, changed });
              log.info({ ...line(step as ProxyStep), result: changed ? 'changed' : 'already so' });
            }),
          {
            deadlineMs: performance.now() + PROXY_APPLY_BUDGET_MS,
            reason: () => new Error(`no answer within ${PROXY_APPLY_BUDGET_MS / 1000} s`),
            onTimeout: (why) => {
              throw why;
            },
          },
        );
        if (applied.persisted)
          log.info({ event: 'apply.proxy', proxy: label, result: 'persisted', persisted: applied.persisted });
      } catch (error) {
        const failed = mine[done];
        if (failed) outcomes.push({ step: stepText(failed), proxy: label, ok: false, changed: false });
        log.error({
          ...(failed ? line(failed) : { event: 'apply.proxy', proxy: label }),
          result: 'failed',
          reason: messageOf(error),
          not_taken: mine.slice(done + 1).map(stepText),
          duration_ms: Math.round(performance.now() - started),
        });
      }
    }),
  );
  return outcomes;
}
