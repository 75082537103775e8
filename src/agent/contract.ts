/**
 * What the agent and the rendered keepalived.conf must agree on: where the track files and the
 * notify FIFO live, what number each track file holds, and how keepalived recognises the agent's
 * process. Both sides import it, so the two can never drift apart.
 *
 * Track values follow keepalived's track_file rule (value × weight is added to the priority; with
 * weight 0 any non-zero value means FAULT), rendered with the check's own weight so a check means
 * the same in agent mode as it does as a vrrp_script.
 */

/** What the agent calls itself (process.title), which keepalived's track_process looks for. */
export const AGENT_PROCESS_TITLE = 'hactl-agent';

/**
 * Each node's agent files live in a directory of their own under paths.runtime_dir: the spec is the
 * same on every node, and two nodes may share a filesystem (the lab does), so nothing a node's
 * keepalived reads may be named without the node.
 */
export function agentDir(runtimeDir: string, node: string): string {
  return `${runtimeDir}/agent-${node}`;
}

/** Directory of every track file the agent of `node` writes. */
export function trackDir(runtimeDir: string, node: string): string {
  return `${agentDir(runtimeDir, node)}/track`;
}

/** One file per check; check names are identifiers, so they are safe file names. */
export function checkTrackFile(runtimeDir: string, node: string, checkName: string): string {
  return `${trackDir(runtimeDir, node)}/checks/${checkName}`;
}

/**
 * The agent's own liveness: 0 while the agent (and its heartbeat) runs, 1 once it died or froze.
 * Rendered with weight 0, so 1 means FAULT.
 */
export function agentTrackFile(runtimeDir: string, node: string): string {
  return `${trackDir(runtimeDir, node)}/agent`;
}

/**
 * The failback gate of `failback: after-catch-up`: how many priority points to take off while this
 * node's database has not caught up (0 once it has). Rendered with weight -1.
 */
export function failbackTrackFile(runtimeDir: string, node: string): string {
  return `${trackDir(runtimeDir, node)}/failback`;
}

/**
 * The witness monitor's isolation hold (spec fencing.witness): 1 while this node reaches neither a
 * witness nor its peer, else 0. Rendered with weight 0, so 1 means FAULT.
 */
export function isolationTrackFile(runtimeDir: string, node: string): string {
  return `${trackDir(runtimeDir, node)}/isolation`;
}

/**
 * A planned switchover's hand-over (src/switchover/): 1 while this node gives up the VIPs to its
 * peer, else 0. Rendered with weight 0, so 1 means FAULT: keepalived releases the VIPs at once
 * (a priority-0 advert) whatever the failback policy, and takes nothing back while it reads 1.
 */
export function switchoverTrackFile(runtimeDir: string, node: string): string {
  return `${trackDir(runtimeDir, node)}/switchover`;
}

/**
 * The unpromotable gate (src/cluster/unpromotable-gate.ts): 1 while this node must leave the VIPs
 * to its peer because it cannot be promoted by itself (a rebuild stopped half-way), else 0.
 * Rendered with weight 0, so 1 means FAULT.
 */
export function unpromotableTrackFile(runtimeDir: string, node: string): string {
  return `${trackDir(runtimeDir, node)}/unpromotable`;
}

/** keepalived's notify_fifo: transitions in order, one line each. */
export function notifyFifoPath(runtimeDir: string, node: string): string {
  return `${agentDir(runtimeDir, node)}/keepalived.fifo`;
}

export const AGENT_ALIVE = 0;
export const AGENT_GONE = 1;

/**
 * The value a check's track file holds, given the check's weight (rendered as the track_file's
 * weight) and whether the check is OK (after fall/rise):
 * - weight 0: 0 while OK, 1 while KO (any non-zero value → FAULT);
 * - weight > 0 (added while OK): 1 while OK, 0 while KO;
 * - weight < 0 (subtracted while KO): 0 while OK, 1 while KO.
 */
export function checkTrackValue(weight: number, ok: boolean): 0 | 1 {
  if (weight > 0) return ok ? 1 : 0;
  return ok ? 0 : 1;
}

/** Plain decimal and a newline: keepalived parses with strtol(…, 0), so a leading 0 would be octal. */
export function trackFileText(value: number): string {
  if (!Number.isInteger(value)) throw new RangeError(`track value ${value} is not an integer`);
  return `${value}\n`;
}
