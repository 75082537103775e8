/**
 * The agent's proxy upkeep (spec `proxy:`), in the decision core's shape: about once a second it
 * observes (which VIPs this node holds; whether the standby's database has caught up, judged by
 * the failback gate's own replication check), decides with the pure rule in src/proxy/want.ts,
 * and has each proxy's driver read its backends and act on the difference only. A run that finds
 * every proxy right sends no change; it logs only when something changed or the sentence did.
 */
import { dbAddress, dbNetwork } from '../actions/addresses.js';
import { caughtUpProbe } from '../agent/failback.js';
import type { AgentLog } from '../agent/checks/index.js';
import { raceDeadline } from '../bounded/deadline.js';
import type { CheckResult } from '../checks/types.js';
import { vipHolding } from '../cluster/vips.js';
import type { ProxyEntry } from '../spec/proxy-schema.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { driverFor } from './drivers.js';
import { stepText, wantedBackends, type Address, type ProxyView } from './want.js';

const EVERY_MS = 1_000;
const PROBE_BUDGET_MS = 2_000;
const PROXY_BUDGET_MS = 5_000;

export interface ProxyUpkeep {
  stop(): Promise<void>;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

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
  return { self, peer: at(other), vip: vipSpec && { host: vipSpec.address.split('/')[0]!, port: self.port } };
}

/** The proxies this node keeps: every entry, but those with `nodes` only on the nodes they name. */
export function proxiesOn(spec: Spec, node: NodeSpec): ProxyEntry[] {
  return (spec.proxy?.proxies ?? []).filter(
    (entry) => entry.nodes === undefined || entry.nodes.includes(node.name),
  );
}

export async function startProxyUpkeep(context: {
  spec: Spec;
  node: NodeSpec;
  log: AgentLog;
}): Promise<ProxyUpkeep> {
  const { spec, node, log } = context;
  const proxy = spec.proxy;
  if (!proxy) return { stop: () => Promise.resolve() };
  const { self, peer, vip } = proxyAddresses(spec, node);
  const probes = { self: await caughtUpProbe(spec, self), peer: await caughtUpProbe(spec, peer) };
  const proxies = proxiesOn(spec, node).map((entry) => ({ entry, driver: driverFor(entry), said: '' }));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let tick: Promise<void> = Promise.resolve();

  const caughtUp = async (which: 'self' | 'peer'): Promise<{ ok: boolean; detail: string }> => {
    const { check, options } = probes[which];
    try {
      const result = await raceDeadline<CheckResult>((signal) => check.run(options, signal), {
        deadlineMs: performance.now() + PROBE_BUDGET_MS,
        reason: () => new Error(`no answer within ${PROBE_BUDGET_MS / 1000} s`),
        onTimeout: () => ({ healthy: false, detail: `no answer within ${PROBE_BUDGET_MS / 1000} s` }),
      });
      return { ok: result.healthy, detail: result.detail };
    } catch (error) {
      return { ok: false, detail: messageOf(error) };
    }
  };

  const once = async (): Promise<void> => {
    const vips = vipHolding(spec);
    const holds = vips.missing.length === 0 ? 'all' : vips.held.length === 0 ? 'none' : 'some';
    const view: ProxyView = {
      holds,
      self,
      peer,
      vip,
      standbyCaughtUp: holds === 'some' ? undefined : await caughtUp(holds === 'all' ? 'peer' : 'self'),
    };
    for (const p of proxies) {
      if (stopped) return;
      const wanted = wantedBackends(view, p.entry.writer);
      if ('leave' in wanted) {
        if (p.said !== wanted.reason)
          log.info({ event: 'agent.proxy', proxy: p.driver.label, result: 'left', reason: wanted.reason });
        p.said = wanted.reason;
        continue;
      }
      try {
        const done = await p.driver.reconcile(wanted, AbortSignal.timeout(PROXY_BUDGET_MS));
        const fields = {
          event: 'agent.proxy',
          proxy: p.driver.label,
          reason: wanted.reason,
          rw: wanted.rw,
          ro: wanted.ro,
        };
        if (done.steps.length > 0) {
          log.info({
            ...fields,
            result: 'changed',
            changes: done.steps.map(stepText),
            before: done.before,
            ...(done.persisted ? { persisted: done.persisted } : {}),
          });
        } else if (p.said !== wanted.reason) log.info({ ...fields, result: 'already right' });
        p.said = wanted.reason;
      } catch (error) {
        const reason = `${p.driver.label}: ${messageOf(error)}`;
        if (p.said !== reason)
          log.error({ event: 'agent.proxy', proxy: p.driver.label, result: 'failed', reason });
        p.said = reason;
      }
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick = once()
        .catch((error: unknown) => log.error({ event: 'agent.proxy', reason: messageOf(error) }))
        .finally(schedule);
    }, EVERY_MS);
  };
  tick = once()
    .catch((error: unknown) => log.error({ event: 'agent.proxy', reason: messageOf(error) }))
    .finally(schedule);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await tick;
      clearTimeout(timer);
    },
  };
}
