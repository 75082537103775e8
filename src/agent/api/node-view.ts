/**
 * This node as its agent serves it (GET /v1/node): what `hactl status` collects locally
 * (collectLocalStatus: the decision core's view, the database, the track files), plus what only the
 * agent knows: keepalived's VRRP state per instance from the FIFO, the effective priority computed
 * from the track files, the in-process checks with their latency, the last transitions, and the
 * file sync's last push.
 */
import { collectLocalStatus } from '../../status/collect.js';
import type { CheckRunStatus, NodeStatus, VrrpInstanceStatus } from '../../status/types.js';
import { problemWithUserPath } from '../../fs/user-path.js';
import type { NodeSpec, Spec } from '../../spec/schema.js';
import type { AgentFacts } from './facts.js';
import { effectivePriority, readTracks, type EffectivePriority } from './priority.js';

export async function agentNodeStatus(
  spec: Spec,
  node: NodeSpec,
  facts: AgentFacts,
  timeoutMs: number,
): Promise<NodeStatus> {
  const signal = AbortSignal.timeout(timeoutMs);
  const [base, priority] = await Promise.all([
    collectLocalStatus(spec, node, { timeoutMs }),
    (async (): Promise<EffectivePriority | undefined> => {
      if (await problemWithUserPath(spec.paths.runtime_dir, 'paths.runtime_dir')) return undefined;
      return effectivePriority(node.priority, await readTracks(spec, node, signal));
    })().catch(() => undefined),
  ]);
  const group = spec.vips.length > 1 ? `${spec.cluster}_vips` : undefined;
  const vrrp = spec.vips.map((vip): VrrpInstanceStatus => {
    const heard = facts.vrrpState(vip.name, group);
    return {
      instance: vip.name,
      interface: node.networks[vip.network]?.interface ?? '',
      vrid: vip.virtual_router_id,
      state: heard?.state ?? 'unknown',
      since: heard?.at ?? null,
      effective_priority: priority && !priority.fault ? priority.priority : null,
      fault_by: priority?.fault ? priority.by : null,
      reported_priority: heard?.priority ?? null,
    };
  });
  const checks = facts.checks().map((check): CheckRunStatus => ({
    name: check.name,
    kind: check.kind,
    ok: check.ok,
    last_result: check.lastHealthy,
    detail: check.reason,
    latency_ms: check.latencyMs,
    last_run_at: check.lastRunAt,
    track_value: check.trackValue,
  }));
  const sync = facts.sync();
  return {
    ...base,
    source: 'agent',
    vrrp,
    checks,
    transitions: facts.transitions(),
    ...(sync ? { sync } : {}),
  };
}
