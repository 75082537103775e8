/**
 * The keepalived.conf of one node as typed data. Every decision (state, priorities, weights, which
 * block tracks what, how checks and notify are wired) is made here; the template only lays it out.
 */
import {
  AGENT_GONE,
  AGENT_PROCESS_TITLE,
  agentTrackFile,
  checkTrackFile,
  checkTrackValue,
  failbackTrackFile,
  isolationTrackFile,
  switchoverTrackFile,
  unpromotableTrackFile,
  notifyFifoPath,
} from '../agent/contract.js';
import { checkCommand, scriptTimeout } from '../checks/spec-args.js';
import type { CheckSpec } from '../spec/checks-schema.js';
import type { NodeSpec, Spec, VipSpec } from '../spec/schema.js';

// The check line is decided in src/checks/spec-args.ts (shared with `hactl check --spec` and the
// checks' --help examples); re-exported for the callers that look for it here.
export { checkBudgetSeconds, checkCommand, scriptTimeout } from '../checks/spec-args.js';

export interface ScriptBlock {
  name: string;
  /** Full command line keepalived runs; every part is a validated token. */
  command: string;
  interval: number;
  timeout: number;
  fall: number;
  rise: number;
  weight: number;
}

/** keepalived's track_file: the agent writes the value, keepalived adds value × weight to the priority. */
export interface TrackFileBlock {
  name: string;
  file: string;
  weight: number;
  /** What keepalived writes when it starts and the file is missing (with overwrite: always on start). */
  initValue: number;
  /** Rewrite initValue on every keepalived start (never on reload: verified with 2.2.7). */
  overwrite: boolean;
}

/** keepalived's vrrp_track_process, matched against the process name (/proc/PID/comm). */
export interface TrackProcessBlock {
  name: string;
  process: string;
  weight: number;
}

export interface InstanceBlock {
  name: string;
  state: 'MASTER' | 'BACKUP';
  interface: string;
  virtualRouterId: number;
  priority: number;
  advertInt: string;
  nopreempt: boolean;
  unicastSrcIp: string | undefined;
  unicastPeers: string[];
  authPass: string | undefined;
  vips: { address: string; dev: string }[];
  trackScripts: string[];
  trackFiles: string[];
  trackProcesses: string[];
  /** Generic notify command (keepalived appends GROUP|INSTANCE name STATE priority). */
  notify: string | undefined;
  /** Agent mode: `hactl notify … fault|stop`, for when the agent that reads the FIFO is dead or frozen. */
  notifyFault: string | undefined;
  notifyStop: string | undefined;
}

export interface SyncGroupBlock {
  name: string;
  members: string[];
  /** Needed for weighted track_scripts/track_files of members to apply at all (else keepalived drops them). */
  trackingWeight: boolean;
  notify: string | undefined;
  notifyFault: string | undefined;
  notifyStop: string | undefined;
}

export interface NodeConfig {
  node: string;
  routerId: string;
  scriptUser: string;
  vrrpVersion: 2 | 3;
  garpLowerPrioRepeat: number;
  /** Re-announce the VIPs while MASTER; undefined: keepalived's default (off). */
  garpMasterRefresh: { seconds: number; repeat: number } | undefined;
  realtimePriority: number | undefined;
  notifyFifo: string | undefined;
  scripts: ScriptBlock[];
  /** Agent mode: the agent feeds keepalived through these instead of scripts. */
  agent: boolean;
  trackFiles: TrackFileBlock[];
  trackProcesses: TrackProcessBlock[];
  syncGroup: SyncGroupBlock | undefined;
  instances: InstanceBlock[];
}

/** The node that should hold the VIPs when everything is healthy: highest priority, first listed on ties. */
export function preferredNode(spec: Spec): NodeSpec {
  return spec.nodes.reduce((best, node) => (node.priority > best.priority ? node : best));
}

export function checksForNode(spec: Spec, nodeName: string): CheckSpec[] {
  return spec.checks.filter((check) => check.nodes === undefined || check.nodes.includes(nodeName));
}

function notifyCommand(spec: Spec, node: NodeSpec): string {
  return [spec.paths.hactl, 'notify', '--spec', spec.paths.spec, '--node', node.name].join(' ');
}

interface NotifyHooks {
  notify: string | undefined;
  notifyFault: string | undefined;
  notifyStop: string | undefined;
}

const NO_HOOKS: NotifyHooks = { notify: undefined, notifyFault: undefined, notifyStop: undefined };

/**
 * Script mode: keepalived runs `hactl notify` on every transition. Agent mode: the agent reads the
 * FIFO, but FAULT and STOP also run `hactl notify`, because they are exactly the transitions that
 * come when the agent is dead or frozen (its track files), and the old primary must still be made
 * read-only. When the agent is alive both arrive; notify's lock and its applied-state record make
 * the second one a no-op.
 */
function notifyHooks(spec: Spec, node: NodeSpec): NotifyHooks {
  if (spec.agent.enabled) {
    const command = notifyCommand(spec, node);
    return { notify: undefined, notifyFault: `${command} fault`, notifyStop: `${command} stop` };
  }
  return { ...NO_HOOKS, notify: spec.keepalived.notify === 'script' ? notifyCommand(spec, node) : undefined };
}

function advertIntText(advertInt: number): string {
  return Number.isInteger(advertInt) ? String(advertInt) : advertInt.toFixed(2).replace(/0$/, '');
}

/** Whether a higher priority takes the VIPs over (after-catch-up preempts once its gate opens). */
export function preempts(spec: Spec): boolean {
  return spec.failback === 'preempt' || spec.failback === 'after-catch-up';
}

const MAX_TRACK_PENALTY = 253; // value × weight ≤ -254 would mean FAULT, not "lower priority"

/**
 * Initial value of the failback gate (weight -1) on `node`: enough points that the node, freshly
 * started with every check at its best, stays strictly below the weakest priority any running peer
 * can have (its own priority with every negative weight applied and no positive one), so it cannot
 * preempt before its agent has judged its database. 0 when it cannot outrank a peer anyway; at most
 * 253, since -254 would put the node in FAULT and it could then not even take over from a dead peer.
 */
export function failbackGateInit(spec: Spec, node: NodeSpec): number {
  const clamp = (priority: number): number => Math.min(254, Math.max(1, priority));
  const weights = (name: string): number[] => checksForNode(spec, name).map((check) => check.weight);
  const best = clamp(node.priority + sum(weights(node.name).filter((weight) => weight > 0)));
  const weakestPeer = Math.min(
    ...spec.nodes
      .filter((peer) => peer.name !== node.name)
      .map((peer) => clamp(peer.priority + sum(weights(peer.name).filter((weight) => weight < 0)))),
  );
  return Math.min(MAX_TRACK_PENALTY, Math.max(0, best - weakestPeer + 1));
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function instanceFor(
  spec: Spec,
  node: NodeSpec,
  vip: VipSpec,
  tracks: { scripts: ScriptBlock[]; files: TrackFileBlock[]; processes: TrackProcessBlock[] },
  notify: NotifyHooks,
): InstanceBlock {
  const network = node.networks[vip.network]!;
  const preempt = preempts(spec);
  const isPreferred = preferredNode(spec).name === node.name;
  const election = spec.election;
  return {
    name: vip.name,
    // nopreempt is ignored under state MASTER, so every node starts BACKUP unless we want preemption.
    // after-catch-up starts BACKUP too: a node must not claim the VIPs before its failback gate opens.
    state: spec.failback === 'preempt' && isPreferred ? 'MASTER' : 'BACKUP',
    interface: network.interface,
    virtualRouterId: vip.virtual_router_id,
    priority: node.priority,
    advertInt: advertIntText(election.advert_int),
    nopreempt: !preempt,
    unicastSrcIp: election.unicast ? network.address : undefined,
    unicastPeers: election.unicast
      ? spec.nodes
          .filter((peer) => peer.name !== node.name)
          .map((peer) => peer.networks[vip.network]!.address)
      : [],
    authPass: election.vrrp_version === 2 ? election.authentication?.password : undefined,
    vips: [{ address: vip.address, dev: network.interface }],
    trackScripts: tracks.scripts.map((script) => script.name),
    trackFiles: tracks.files.map((file) => file.name),
    trackProcesses: tracks.processes.map((process) => process.name),
    ...notify,
  };
}

/**
 * Agent mode's tracks. Fail-safe: the agent's liveness file starts at AGENT_GONE on every keepalived
 * start (init_file … overwrite) and keepalived also tracks the agent's process, both at weight 0, so
 * the node is FAULT until a running agent has written 0. Check files start KO (when missing) so a
 * check nobody has run yet never counts as healthy.
 */
export const AGENT_FILE_TRACK = 'hactl_agent';
export const AGENT_PROCESS_TRACK = 'hactl_agent_process';
/** A planned switchover's hand-over (contract.ts): starts at 0 on every keepalived start. */
export const SWITCHOVER_TRACK = 'hactl_switchover';
/** The unpromotable gate (contract.ts): a half-rebuilt node leaves the VIPs to its peer. */
export const UNPROMOTABLE_TRACK = 'hactl_unpromotable';

function agentTracks(
  spec: Spec,
  node: NodeSpec,
): { files: TrackFileBlock[]; processes: TrackProcessBlock[] } {
  const runtimeDir = spec.paths.runtime_dir;
  const files: TrackFileBlock[] = checksForNode(spec, node.name).map((check) => ({
    name: `chk_${check.name}`,
    file: checkTrackFile(runtimeDir, node.name, check.name),
    weight: check.weight,
    initValue: checkTrackValue(check.weight, false),
    overwrite: false,
  }));
  files.push({
    name: AGENT_FILE_TRACK,
    file: agentTrackFile(runtimeDir, node.name),
    weight: 0,
    initValue: AGENT_GONE,
    overwrite: true,
  });
  files.push({
    name: SWITCHOVER_TRACK,
    file: switchoverTrackFile(runtimeDir, node.name),
    weight: 0,
    initValue: 0,
    overwrite: true,
  });
  files.push({
    name: UNPROMOTABLE_TRACK,
    file: unpromotableTrackFile(runtimeDir, node.name),
    weight: 0,
    initValue: 0,
    // Kept across a keepalived restart: a half-rebuilt node must not claim the VIPs on start.
    overwrite: false,
  });
  if (spec.failback === 'after-catch-up') {
    files.push({
      name: 'hactl_failback',
      file: failbackTrackFile(runtimeDir, node.name),
      weight: -1,
      initValue: failbackGateInit(spec, node),
      overwrite: true,
    });
  }
  if (spec.fencing && spec.fencing.witness.length > 0) {
    files.push({
      name: 'hactl_isolation',
      file: isolationTrackFile(runtimeDir, node.name),
      weight: 0,
      initValue: 0,
      overwrite: false,
    });
  }
  const processes = spec.agent.track_process
    ? [{ name: AGENT_PROCESS_TRACK, process: AGENT_PROCESS_TITLE, weight: 0 }]
    : [];
  return { files, processes };
}

export function buildNodeConfig(spec: Spec, node: NodeSpec): NodeConfig {
  const agent = spec.agent.enabled;
  const scripts: ScriptBlock[] = agent
    ? []
    : checksForNode(spec, node.name).map((check) => ({
        name: `chk_${check.name}`,
        command: checkCommand(spec, check, node.name),
        interval: check.interval,
        timeout: scriptTimeout(check),
        fall: check.fall,
        rise: check.rise,
        weight: check.weight,
      }));
  const { files: trackFiles, processes: trackProcesses } = agent
    ? agentTracks(spec, node)
    : { files: [], processes: [] };
  const grouped = spec.vips.length > 1;
  const hooks = notifyHooks(spec, node);
  const tracks = { scripts, files: trackFiles, processes: trackProcesses };
  const instances = spec.vips.map((vip) => instanceFor(spec, node, vip, tracks, grouped ? NO_HOOKS : hooks));
  return {
    node: node.name,
    routerId: node.name,
    scriptUser: spec.keepalived.script_user,
    vrrpVersion: spec.election.vrrp_version,
    garpLowerPrioRepeat: spec.election.garp_lower_prio_repeat,
    garpMasterRefresh:
      spec.election.garp_master_refresh > 0
        ? {
            seconds: spec.election.garp_master_refresh,
            repeat: spec.election.garp_master_refresh_repeat ?? 1,
          }
        : undefined,
    realtimePriority: spec.election.realtime_priority,
    notifyFifo:
      agent || spec.keepalived.notify === 'fifo'
        ? notifyFifoPath(spec.paths.runtime_dir, node.name)
        : undefined,
    scripts,
    agent,
    trackFiles,
    trackProcesses,
    syncGroup: grouped
      ? {
          name: `${spec.cluster}_vips`,
          members: instances.map((instance) => instance.name),
          trackingWeight: [...scripts, ...trackFiles].some((track) => track.weight !== 0),
          ...hooks,
        }
      : undefined,
    instances,
  };
}
