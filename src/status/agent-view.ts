/**
 * What this node's agent tells keepalived, read from the files keepalived reads (agent mode only):
 * whether the agent says it is alive, each check's track value, the failback and unpromotable gates. These are
 * the facts keepalived acts on, so they are the honest view of "is the agent up, are its checks
 * passing" without a connection to the agent itself.
 */
import {
  AGENT_ALIVE,
  AGENT_GONE,
  agentTrackFile,
  checkTrackFile,
  checkTrackValue,
  failbackTrackFile,
  unpromotableTrackFile,
} from '../agent/contract.js';
import { readTrackValue } from '../agent/checks/track-write.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { checksForNode } from '../keepalived/model.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { AgentStatus } from './types.js';

export async function readAgentView(
  spec: Spec,
  node: NodeSpec,
  signal: AbortSignal,
): Promise<AgentStatus | null> {
  if (!spec.agent.enabled) return null;
  const runtimeDir = spec.paths.runtime_dir;
  const problem = await problemWithUserPath(runtimeDir, 'paths.runtime_dir');
  if (problem) return { alive: null, detail: problem, checks: [], failback_gate: null };
  const [liveness, unpromotable, gate, ...values] = await Promise.all([
    readTrackValue(agentTrackFile(runtimeDir, node.name), signal),
    readTrackValue(unpromotableTrackFile(runtimeDir, node.name), signal),
    spec.failback === 'after-catch-up'
      ? readTrackValue(failbackTrackFile(runtimeDir, node.name), signal)
      : Promise.resolve(null),
    ...checksForNode(spec, node.name).map((check) =>
      readTrackValue(checkTrackFile(runtimeDir, node.name, check.name), signal),
    ),
  ]);
  const checks = checksForNode(spec, node.name).map((check, index) => {
    const value = values[index] ?? null;
    return {
      name: check.name,
      track_value: value,
      ok: value === null ? null : value === checkTrackValue(check.weight, true),
    };
  });
  const alive = liveness === AGENT_ALIVE ? true : liveness === AGENT_GONE ? false : null;
  const detail =
    alive === true
      ? 'the agent says it is alive'
      : alive === false
        ? 'the agent is down or frozen (its liveness file reads 1): keepalived keeps this node in FAULT'
        : 'no liveness file (the agent never ran here, or keepalived has not started)';
  return {
    alive,
    detail,
    checks,
    failback_gate: gate,
    ...(unpromotable === 1 ? { unpromotable: true } : {}),
  };
}
