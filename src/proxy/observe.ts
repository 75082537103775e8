/**
 * The proxy facts of an observation (src/cluster/observation.ts `proxy`): whether the standby's
 * database has caught up — the failback gate's own replication check (threads running, lag 0,
 * everything received applied), pointed at the standby's address on proxy.network — and what each
 * of this node's proxies lists now, read through its driver. All at once, each under its own
 * deadline: a proxy that does not answer is a fact ("not read, because …"), never a hang or a throw.
 */
import { caughtUpProbe } from '../agent/failback.js';
import { raceDeadline } from '../bounded/deadline.js';
import type { CheckResult } from '../checks/types.js';
import type { ProxyFacts, ProxyRead } from '../cluster/observation.js';
import { proxiesOn, proxyAddresses, type Address } from '../cluster/proxy-rule.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { driverFor } from './drivers.js';

export const PROBE_BUDGET_MS = 2_000;
export const READ_BUDGET_MS = 3_000;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The replication probes, built once per spec (a reload brings a new spec object). */
const probes = new WeakMap<Spec, Map<string, ReturnType<typeof caughtUpProbe>>>();

function probeOf(spec: Spec, at: Address): ReturnType<typeof caughtUpProbe> {
  let bySpec = probes.get(spec);
  if (!bySpec) probes.set(spec, (bySpec = new Map()));
  const key = `${at.host}:${at.port}`;
  let probe = bySpec.get(key);
  if (!probe) bySpec.set(key, (probe = caughtUpProbe(spec, at)));
  return probe;
}

async function caughtUp(
  spec: Spec,
  at: Address,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string }> {
  try {
    const { check, options } = await probeOf(spec, at);
    const result = await raceDeadline<CheckResult>((inner) => check.run(options, inner), {
      deadlineMs: performance.now() + PROBE_BUDGET_MS,
      signal,
      reason: () => new Error(`no answer within ${PROBE_BUDGET_MS / 1000} s`),
      onTimeout: () => ({ healthy: false, detail: `no answer within ${PROBE_BUDGET_MS / 1000} s` }),
    });
    return { ok: result.healthy, detail: result.detail };
  } catch (error) {
    return { ok: false, detail: messageOf(error) };
  }
}

/**
 * `holds`: this node's VIPs (all: the peer is the standby; none: this node is; some: a transition
 * is under way and the standby is not judged).
 */
export async function readProxyFacts(
  spec: Spec,
  node: NodeSpec,
  holds: 'all' | 'none' | 'some',
  signal: AbortSignal,
): Promise<ProxyFacts> {
  const { self, peer } = proxyAddresses(spec, node);
  const reads = proxiesOn(spec, node).map(async ({ index, entry }): Promise<ProxyRead> => {
    const driver = driverFor(entry);
    try {
      const why = `no answer within ${READ_BUDGET_MS / 1000} s`;
      const backends = await raceDeadline<ProxyRead['backends']>((inner) => driver.read(inner), {
        deadlineMs: performance.now() + READ_BUDGET_MS,
        signal,
        reason: () => new Error(why),
        onTimeout: () => undefined,
      });
      return backends
        ? { proxy: index, label: driver.label, backends }
        : { proxy: index, label: driver.label, backends: undefined, problem: why };
    } catch (error) {
      return { proxy: index, label: driver.label, backends: undefined, problem: messageOf(error) };
    }
  });
  const [standbyCaughtUp, proxies] = await Promise.all([
    holds === 'some' ? undefined : caughtUp(spec, holds === 'all' ? peer : self, signal),
    Promise.all(reads),
  ]);
  return { standbyCaughtUp, proxies };
}
