/**
 * Spec checks beyond the schema: keepalived's priority/weight maths and the traps the seeds fell
 * into. Each finding names the spec path, what keepalived would do, and the fix.
 */
import type { CheckSpec } from '../spec/checks-schema.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { checkBudgetSeconds, checksForNode, preferredNode, scriptTimeout } from './model.js';

export interface Finding {
  severity: 'error' | 'warning';
  path: string;
  message: string;
}

const MIN_PRIORITY = 1;
const MAX_PRIORITY = 254;
const AUTH_PASS_MAX = 8;

/** keepalived clamps an effective priority to 1..254. */
function clamp(priority: number): number {
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, priority));
}

/** Effective priority of a node with every check OK except `failed` (which is KO). */
export function effectivePriority(spec: Spec, node: NodeSpec, failed?: CheckSpec): number {
  let priority = node.priority;
  for (const check of checksForNode(spec, node.name)) {
    const ok = check !== failed;
    if (ok && check.weight > 0) priority += check.weight;
    if (!ok && check.weight < 0) priority += check.weight;
  }
  return clamp(priority);
}

function checkPath(spec: Spec, check: CheckSpec): string {
  return `checks[${spec.checks.indexOf(check)}]`;
}

function electionFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  const preferred = preferredNode(spec);
  const healthy = new Map(spec.nodes.map((node) => [node.name, effectivePriority(spec, node)]));

  const preferredPriority = healthy.get(preferred.name)!;
  for (const node of spec.nodes) {
    if (node === preferred) continue;
    const priority = healthy.get(node.name)!;
    if (priority >= preferredPriority) {
      findings.push({
        severity: 'error',
        path: `nodes[${spec.nodes.indexOf(node)}].priority`,
        message:
          priority === preferredPriority
            ? `with every check healthy ${node.name} and ${preferred.name} both have priority ${priority}; keepalived then picks the higher IP address. Give the preferred node a strictly higher priority`
            : `with every check healthy ${node.name} (${priority}) outranks the preferred node ${preferred.name} (${preferredPriority}) because of positive check weights; raise ${preferred.name}'s priority`,
      });
    }
  }

  if (spec.failback !== 'preempt') {
    spec.checks.forEach((check, i) => {
      if (check.weight === 0) return;
      findings.push({
        severity: 'error',
        path: `checks[${i}].weight`,
        message: `weight ${check.weight} can never move the VIPs with failback "${spec.failback}": a nopreempt BACKUP does not take over from a running MASTER, whatever its priority. Use weight 0 (a failed check puts the node in FAULT) or failback: preempt`,
      });
    });
    return findings;
  }

  for (const node of spec.nodes) {
    const peers = spec.nodes.filter((peer) => peer !== node);
    const bestPeer = Math.max(...peers.map((peer) => healthy.get(peer.name)!));
    for (const check of checksForNode(spec, node.name)) {
      if (check.weight === 0) continue; // KO → FAULT: the VIPs always leave.
      const failed = effectivePriority(spec, node, check);
      if (failed >= bestPeer) {
        findings.push({
          severity: 'error',
          path: `${checkPath(spec, check)}.weight`,
          message: `when "${check.name}" fails on ${node.name} while it is MASTER, its priority becomes ${failed}, not below the best healthy peer's ${bestPeer}: the VIPs stay on the failed node. ${weightFix(check, failed, bestPeer)}`,
        });
      }
    }
  }
  return findings;
}

function weightFix(check: CheckSpec, failed: number, bestPeer: number): string {
  const gap = failed - bestPeer + 1;
  if (check.weight < 0) return `Use weight ${check.weight - gap} or lower, or weight 0 (FAULT)`;
  return `Use weight ${check.weight + gap} or higher, or a negative weight, or weight 0 (FAULT)`;
}

function advertFindings(spec: Spec): Finding[] {
  const { advert_int: advert, vrrp_version: version } = spec.election;
  const findings: Finding[] = [];
  if (version === 2 && !Number.isInteger(advert)) {
    findings.push({
      severity: 'error',
      path: 'election.advert_int',
      message: `${advert} is a fraction of a second, which VRRPv2 cannot carry (keepalived rounds it); set election.vrrp_version: 3 or use whole seconds`,
    });
  }
  if (version === 3) {
    if (Math.abs(advert * 100 - Math.round(advert * 100)) > 1e-9) {
      findings.push({
        severity: 'error',
        path: 'election.advert_int',
        message: `${advert} is not a multiple of 0.01 s, which VRRPv3 requires`,
      });
    }
    if (advert > 40.95) {
      findings.push({
        severity: 'error',
        path: 'election.advert_int',
        message: `${advert} exceeds VRRPv3's maximum of 40.95 s`,
      });
    }
  }
  if (spec.election.realtime_priority !== undefined) {
    findings.push({
      severity: 'warning',
      path: 'election.realtime_priority',
      message:
        "keepalived also caps a real-time VRRP process's CPU time (10 ms by default); in our lab, under load on 2 cores, the kernel killed the VRRP process and failover stopped. Load-test this setting before relying on it",
    });
  }
  return findings;
}

function authFindings(spec: Spec): Finding[] {
  const auth = spec.election.authentication;
  if (!auth) return [];
  const findings: Finding[] = [];
  if (auth.password.length > AUTH_PASS_MAX) {
    findings.push({
      severity: 'error',
      path: 'election.authentication.password',
      message: `is ${auth.password.length} characters; keepalived silently keeps only the first ${AUTH_PASS_MAX}. Use at most ${AUTH_PASS_MAX}`,
    });
  }
  if (spec.election.vrrp_version === 3) {
    findings.push({
      severity: 'warning',
      path: 'election.authentication',
      message: 'VRRPv3 has no authentication; keepalived ignores it (it is not rendered)',
    });
  }
  return findings;
}

function addressFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  const owners = new Map<string, string>();
  spec.nodes.forEach((node, n) => {
    for (const [network, { address }] of Object.entries(node.networks)) {
      const path = `nodes[${n}].networks.${network}.address`;
      const owner = owners.get(address);
      if (owner) {
        findings.push({
          severity: 'error',
          path,
          message: `${address} is also ${owner}; every node needs its own address (unicast peers are these addresses)`,
        });
      }
      owners.set(address, `${node.name}'s ${network} address`);
    }
  });
  spec.vips.forEach((vip, v) => {
    const [address] = vip.address.split('/');
    const owner = owners.get(address!);
    if (owner) {
      findings.push({
        severity: 'error',
        path: `vips[${v}].address`,
        message: `${address} is ${owner}; a VIP must be an address no node owns, or keepalived treats that node as the address owner`,
      });
    }
  });
  return findings;
}

function routerIdFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  for (const node of spec.nodes) {
    const seen = new Map<string, string>();
    spec.vips.forEach((vip, v) => {
      const key = `${node.networks[vip.network]?.interface}/${vip.virtual_router_id}`;
      const other = seen.get(key);
      if (other) {
        findings.push({
          severity: 'error',
          path: `vips[${v}].virtual_router_id`,
          message: `${vip.virtual_router_id} is also used by VIP "${other}" on ${node.name}'s interface ${node.networks[vip.network]?.interface}; keepalived would see each other's adverts as bogus. Use a unique id per interface`,
        });
      } else seen.set(key, vip.name);
    });
  }
  return [...new Map(findings.map((f) => [f.path, f])).values()];
}

function checkBudgetFindings(spec: Spec): Finding[] {
  return spec.checks.flatMap((check, i) => {
    if (check.kind !== 'process' || check.params.restart_wait === undefined) return [];
    const budget = checkBudgetSeconds(check);
    if (check.params.restart_wait < budget) return [];
    return [
      {
        severity: 'error' as const,
        path: `checks[${i}].params.restart_wait`,
        message: `${check.params.restart_wait} s does not fit in the check's budget of ${budget} s (keepalived kills the check at timeout ${scriptTimeout(check)} s); raise the check's timeout/interval or shorten restart_wait`,
      },
    ];
  });
}

export function lintSpec(spec: Spec): Finding[] {
  return [
    ...electionFindings(spec),
    ...advertFindings(spec),
    ...authFindings(spec),
    ...addressFindings(spec),
    ...routerIdFindings(spec),
    ...checkBudgetFindings(spec),
  ];
}
