/**
 * The keepalived.conf of one node as typed data. Every decision (state, priorities, weights, which
 * block tracks what, how checks and notify are wired) is made here; the template only lays it out.
 */
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
  /** Generic notify command (keepalived appends GROUP|INSTANCE name STATE priority). */
  notify: string | undefined;
}

export interface SyncGroupBlock {
  name: string;
  members: string[];
  /** Needed for weighted track_scripts of members to apply at all (else keepalived drops them). */
  trackingWeight: boolean;
  notify: string | undefined;
}

export interface NodeConfig {
  node: string;
  routerId: string;
  scriptUser: string;
  vrrpVersion: 2 | 3;
  garpLowerPrioRepeat: number;
  realtimePriority: number | undefined;
  notifyFifo: string | undefined;
  scripts: ScriptBlock[];
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

function advertIntText(advertInt: number): string {
  return Number.isInteger(advertInt) ? String(advertInt) : advertInt.toFixed(2).replace(/0$/, '');
}

function instanceFor(
  spec: Spec,
  node: NodeSpec,
  vip: VipSpec,
  scripts: ScriptBlock[],
  notify: string | undefined,
): InstanceBlock {
  const network = node.networks[vip.network]!;
  const preempt = spec.failback === 'preempt';
  const isPreferred = preferredNode(spec).name === node.name;
  const election = spec.election;
  return {
    name: vip.name,
    // nopreempt is ignored under state MASTER, so every node starts BACKUP unless we want preemption.
    state: preempt && isPreferred ? 'MASTER' : 'BACKUP',
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
    trackScripts: scripts.map((script) => script.name),
    notify,
  };
}

export function buildNodeConfig(spec: Spec, node: NodeSpec): NodeConfig {
  const scripts: ScriptBlock[] = checksForNode(spec, node.name).map((check) => ({
    name: `chk_${check.name}`,
    command: checkCommand(spec, check),
    interval: check.interval,
    timeout: scriptTimeout(check),
    fall: check.fall,
    rise: check.rise,
    weight: check.weight,
  }));
  const grouped = spec.vips.length > 1;
  const notify = spec.keepalived.notify === 'script' ? notifyCommand(spec, node) : undefined;
  const instances = spec.vips.map((vip) =>
    instanceFor(spec, node, vip, scripts, grouped ? undefined : notify),
  );
  return {
    node: node.name,
    routerId: node.name,
    scriptUser: spec.keepalived.script_user,
    vrrpVersion: spec.election.vrrp_version,
    garpLowerPrioRepeat: spec.election.garp_lower_prio_repeat,
    realtimePriority: spec.election.realtime_priority,
    notifyFifo: spec.keepalived.notify === 'fifo' ? `${spec.paths.runtime_dir}/keepalived.fifo` : undefined,
    scripts,
    syncGroup: grouped
      ? {
          name: `${spec.cluster}_vips`,
          members: instances.map((instance) => instance.name),
          trackingWeight: scripts.some((script) => script.weight !== 0),
          notify,
        }
      : undefined,
    instances,
  };
}
