/**
 * Spec checks beyond the schema: keepalived's priority/weight maths, the traps the seeds fell into,
 * fields that would be accepted without an effect, and check parameters run through the same
 * parsers `hactl check` uses. Each finding names the spec path, what would happen, and the fix.
 * The check modules imported here load their heavy parts (mysql2, tls) only when a check runs.
 */
import { statSync } from 'node:fs';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { httpCheck } from '../checks/http.js';
import { mysqlCheck } from '../checks/mysql.js';
import { processCheck } from '../checks/process.js';
import { replicationCheck } from '../checks/replication.js';
import { checkArgs } from '../checks/spec-args.js';
import { tcpCheck } from '../checks/tcp.js';
import type { CheckKind, FlagValues } from '../checks/types.js';
import type { ActionSpec } from '../spec/actions-schema.js';
import type { CheckSpec } from '../spec/checks-schema.js';
import { exampleSpecPath, loadSpec } from '../spec/load.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { checkBudgetSeconds, checksForNode, preempts, preferredNode, scriptTimeout } from './model.js';

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

  if (!preempts(spec)) {
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

/** Two writable databases while the primary is cut off from everything, at most (issue 12's bound). */
const ISOLATED_OVERLAP_MAX_S = 1;
/** The schema's floor for fencing.isolation_timeout. */
const ISOLATION_TIMEOUT_MIN_S = 0.5;

/**
 * A primary cut off from the witness and its peer demotes itself only after isolation_timeout
 * plus one probe round, while its peer takes the VIPs after 3 × advert_int + skew and promotes.
 * The difference is how long both databases can be writable (the isolated one has no clients
 * through the VIPs then, but keeps any it had).
 */
function isolationFindings(spec: Spec): Finding[] {
  const fencing = spec.fencing;
  if (!fencing || fencing.witness.length === 0) return [];
  const advert = spec.election.advert_int;
  const fastestStandby = Math.max(...spec.nodes.map((node) => effectivePriority(spec, node)));
  const takeoverS = 3 * advert + ((256 - fastestStandby) / 256) * advert;
  const probeRound = Math.max(fencing.probe_interval, fencing.connect_timeout);
  const demotedByS = fencing.isolation_timeout + probeRound;
  const overlapS = demotedByS - takeoverS;
  if (overlapS <= ISOLATED_OVERLAP_MAX_S) return [];
  const round = (x: number) => Math.round(x * 100) / 100;
  const enough = takeoverS + ISOLATED_OVERLAP_MAX_S - probeRound;
  const fix =
    enough >= ISOLATION_TIMEOUT_MIN_S
      ? `Lower fencing.isolation_timeout to ${Math.floor(enough * 100) / 100} or less, or raise election.advert_int`
      : `isolation_timeout cannot go below ${ISOLATION_TIMEOUT_MIN_S} s, so raise election.advert_int or shorten the probe round (probe_interval, connect_timeout)`;
  return [
    {
      severity: 'warning',
      path: 'fencing.isolation_timeout',
      message: `an isolated primary demotes itself up to ${round(demotedByS)} s after the cut (isolation_timeout + one probe round), but its peer can take the VIPs after ${round(takeoverS)} s (3 × advert_int + skew): both databases may be writable for up to ${round(overlapS)} s, over ${ISOLATED_OVERLAP_MAX_S} s. ${fix}`,
    },
  ];
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
      severity: 'error',
      path: 'election.authentication',
      message:
        'has no effect: VRRPv3 has no authentication, so it is not rendered and keepalived accepts any advert. Remove it, or use vrrp_version: 2',
    });
  }
  if (auth.password === examplePassword() && !isBundledExample(spec)) {
    findings.push({
      severity: 'error',
      path: 'election.authentication.password',
      message:
        "is still the password of hactl's example spec (templates/example.yaml), which anyone can read: a host on the link that sends adverts with it takes part in the election. Choose your own password (at most 8 characters)",
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

/** Strict semi-sync bought with a setting that gives its writes up again, or left open to a wedge. */
function semiSyncFindings(spec: Spec): Finding[] {
  if (spec.mysql?.semi_sync !== 'strict') return [];
  const findings: Finding[] = [];
  if (spec.mysql.on_catch_up_timeout === 'promote-anyway') {
    findings.push({
      severity: 'error',
      path: 'mysql.on_catch_up_timeout',
      message:
        "promote-anyway contradicts mysql.semi_sync: strict: under strict every acknowledged write is in the standby's relay log, and promote-anyway makes the standby writable without applying it, so exactly those writes are lost. Use stay-read-only (the default) and raise mysql.catch_up_timeout if the relay log takes long to apply",
    });
  }
  // Only the agent's witness monitor ends a silent peer's dumps (src/fence/witness-monitor.ts).
  if (!spec.agent.enabled || (spec.fencing?.witness.length ?? 0) === 0) {
    findings.push({
      severity: 'warning',
      path: 'mysql.semi_sync',
      message:
        "strict without the agent's witness monitor: after a cut that loses the TCP FIN, a standby whose IO thread reconnects by itself (after slave_net_timeout) while commits wait for its ACK wedges MariaDB 10.11: its new binlog dump ends the stale one, neither finishes, and every commit keeps waiting. hactl's own re-point ends the stale dump first, but nothing does for a reconnect hactl did not start. Set agent.enabled: true with a fencing.witness: the monitor ends the peer's dumps once a path to it goes silent",
    });
  }
  return findings;
}

/** Values that need the agent, and fields whose behaviour does not exist yet: refused, so nothing lints clean and then does nothing. */
function unimplementedFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  if (spec.keepalived.notify === 'fifo' && !spec.agent.enabled) {
    findings.push({
      severity: 'error',
      path: 'keepalived.notify',
      message:
        'fifo without the agent: keepalived would write every transition into a FIFO that nothing reads, so no action would ever run: no promotion, no demotion. Set agent.enabled: true (hactl agent reads the FIFO), or use notify: script (the default), which runs `hactl notify` on every transition',
    });
  }
  if (spec.failback === 'after-catch-up' && !spec.agent.enabled) {
    findings.push({
      severity: 'error',
      path: 'failback',
      message:
        "after-catch-up needs agent.enabled: true: only hactl agent judges whether the returning node's database has caught up and holds its priority down until then. Set agent.enabled: true, or use failback: nopreempt (fail back by hand once `hactl check replication --caught-up` passes on the preferred node) or preempt",
    });
  }
  if (spec.failback === 'after-catch-up' && spec.agent.enabled && spec.mysql === undefined) {
    findings.push({
      severity: 'error',
      path: 'failback',
      message:
        "after-catch-up without a mysql section: the agent judges catch-up by asking this node's database, so with no database to ask the gate would never open and the preferred node would never take the VIPs back. Add a mysql section (host, credentials_file, replication), or use failback: preempt",
    });
  }
  if (spec.election.garp_master_refresh_repeat !== undefined && spec.election.garp_master_refresh === 0) {
    findings.push({
      severity: 'error',
      path: 'election.garp_master_refresh_repeat',
      message:
        'has no effect while election.garp_master_refresh is 0 (no re-announcement, so nothing to repeat). Set election.garp_master_refresh to the seconds between re-announcements, or remove garp_master_refresh_repeat',
    });
  }
  const api = spec.agent.api;
  if (api && !spec.agent.enabled) {
    findings.push({
      severity: 'error',
      path: 'agent.api',
      message:
        "the agent API is served by hactl agent, which does not run without agent.enabled: true: nothing would answer, and hactl status would report every node's agent as unreachable. Set agent.enabled: true, or remove agent.api",
    });
  }
  if (api && !api.metrics_listen.startsWith('127.')) {
    findings.push({
      severity: 'warning',
      path: 'agent.api.metrics_listen',
      message: `${api.metrics_listen} is not a loopback address: the metrics (no token) name the pair's nodes, databases and addresses to anyone who can connect there. Keep the default 127.0.0.1:9642 and let a local Prometheus agent or node_exporter proxy scrape it, or firewall the port`,
    });
  }
  if (api && api.metrics_listen === `127.0.0.1:${api.port}`) {
    findings.push({
      severity: 'error',
      path: 'agent.api.metrics_listen',
      message: `${api.metrics_listen} is the agent API's own loopback address (agent.api.port ${api.port}); pick another port, e.g. 127.0.0.1:${api.port === 9642 ? 9643 : 9642}`,
    });
  }
  if (spec.sync !== undefined && !spec.agent.enabled) {
    findings.push({
      severity: 'warning',
      path: 'sync',
      message:
        'only hactl agent pushes these directories on its own: with agent.enabled false nothing copies them except `hactl sync` by hand. Set agent.enabled: true (and render the configs again), or keep your existing copy job',
    });
  }
  if (spec.logging.level === 'debug') {
    findings.push({
      severity: 'error',
      path: 'logging.level',
      message:
        'debug has no effect yet: hactl logs nothing at debug level, so the log would hold exactly what info gives. Use info',
    });
  }
  spec.checks.forEach((check, i) => {
    if (check.kind === 'process' && check.params.restart_cmd === undefined) {
      for (const param of ['restart_wait', 'restart_backoff'] as const) {
        if (check.params[param] === undefined) continue;
        findings.push({
          severity: 'error',
          path: `checks[${i}].params.${param}`,
          message: `has no effect without restart_cmd: this check restarts nothing. Add restart_cmd (the argv that starts ${check.params.name}) or remove ${param}`,
        });
      }
    }
    if (check.kind === 'http' && check.params.insecure === true && /^http:/i.test(check.params.url)) {
      findings.push({
        severity: 'error',
        path: `checks[${i}].params.insecure`,
        message:
          'has no effect on an http:// URL (there is no TLS certificate to accept). Remove it, or use an https:// URL',
      });
    }
  });
  return findings;
}

/** The bundled example, parsed once: its password must not be reused, and it must itself lint clean. */
let example: Spec | undefined;
function exampleSpec(): Spec {
  example ??= loadSpec(exampleSpecPath()).spec;
  return example;
}

function examplePassword(): string | undefined {
  return exampleSpec().election.authentication?.password;
}

/** `hactl lint` and `render-config` without --spec show the example itself; an edited copy is linted like any spec. */
function isBundledExample(spec: Spec): boolean {
  return isDeepStrictEqual(spec, exampleSpec());
}

function scriptUserFindings(spec: Spec): Finding[] {
  const user = spec.keepalived.script_user;
  if (user === 'root') return [];
  return [
    {
      severity: 'error',
      path: 'keepalived.script_user',
      message: `${JSON.stringify(user)} is not root: keepalived 2.2.7 then refuses the configuration (\`keepalived -t\` exits 5) or kills itself (exit 143), so no check and no notify would run. Use script_user: root (the default)`,
    },
  ];
}

type State = keyof Spec['actions'];
const STATES: State[] = ['master', 'backup', 'fault', 'stop'];

interface PlacedAction {
  path: string;
  state: State;
  action: ActionSpec;
}

function placedActions(spec: Spec): PlacedAction[] {
  return STATES.flatMap((state) =>
    spec.actions[state].map((action, j) => ({ path: `actions.${state}[${j}]`, state, action })),
  );
}

const serviceName = (name: string) => name.replace(/\.service$/, '');

/**
 * Seed 002's single-active application: started only when this node becomes MASTER, stopped when it
 * becomes BACKUP. A check of that application is KO on every standby by construction.
 */
function singleActiveFindings(spec: Spec): Finding[] {
  const actions = placedActions(spec);
  const service = (state: State, ops: string[]) =>
    actions.filter(
      (placed): placed is PlacedAction & { action: Extract<ActionSpec, { type: 'service' }> } =>
        placed.state === state && placed.action.type === 'service' && ops.includes(placed.action.op),
    );
  const startedOnBackup = new Set(
    service('backup', ['start', 'restart']).map((p) => serviceName(p.action.name)),
  );
  const stoppedOnBackup = service('backup', ['stop']);
  const findings: Finding[] = [];
  for (const started of service('master', ['start', 'restart'])) {
    const app = serviceName(started.action.name);
    const stopped = stoppedOnBackup.find((placed) => serviceName(placed.action.name) === app);
    if (!stopped || startedOnBackup.has(app)) continue;
    spec.checks.forEach((check, i) => {
      const probed = check.kind === 'process' ? check.params.name : undefined;
      if ((check.name !== app && probed !== app) || check.only_on_master) return;
      if (findings.some((finding) => finding.path === `checks[${i}]`)) return;
      const why = `check "${check.name}" watches the application ${app}, which ${started.path} starts and ${stopped.path} stops: it runs only on the MASTER, so the check fails on every standby`;
      const fix = `Set checks[${i}].only_on_master: true (it then counts only once this node has applied MASTER), check something that runs on every node (e.g. the web server in front of the application), or keep the application running on the standby (remove its stop from actions.backup)`;
      findings.push({
        severity: 'error',
        path: `checks[${i}]`,
        message:
          check.weight === 0
            ? `${why}, and with weight 0 that keeps every standby in FAULT: no node could take over. ${fix}`
            : `${why}, whatever the MASTER does: its weight ${check.weight} shifts both nodes alike when the application fails on the MASTER, so it can never move the VIPs. ${fix}`,
      });
    });
  }
  return findings;
}

interface Owner {
  what: string;
  node?: string;
}

/** Every address, node name and hostname the spec knows, with who owns it. */
function knownHosts(spec: Spec): Map<string, Owner> {
  const hosts = new Map<string, Owner>();
  for (const node of spec.nodes) {
    for (const [network, { address }] of Object.entries(node.networks)) {
      hosts.set(address, { what: `${node.name}'s ${network} address`, node: node.name });
    }
    hosts.set(node.name, { what: `the name of node ${node.name}`, node: node.name });
    if (node.hostname !== undefined)
      hosts.set(node.hostname, { what: `${node.name}'s hostname`, node: node.name });
  }
  for (const vip of spec.vips) {
    const [address] = vip.address.split('/');
    hosts.set(address!, { what: `VIP "${vip.name}"` });
  }
  return hosts;
}

function probedHost(check: CheckSpec): { param: string; host: string } | undefined {
  if (check.kind === 'tcp') return { param: 'host', host: check.params.host };
  if (check.kind !== 'http') return undefined;
  try {
    return { param: 'url', host: new URL(check.params.url).hostname };
  } catch {
    return undefined; // reported by paramFindings
  }
}

/** Seed 003's idea (watch the peer) written as a check: keepalived's checks judge the node they run on. */
function peerProbeFindings(spec: Spec): Finding[] {
  const hosts = knownHosts(spec);
  const findings: Finding[] = [];
  spec.checks.forEach((check, i) => {
    const probed = probedHost(check);
    const owner = probed && hosts.get(probed.host);
    if (!probed || !owner) return;
    const path = `checks[${i}].params.${probed.param}`;
    if (owner.node === undefined) {
      findings.push({
        severity: 'error',
        path,
        message: `${probed.host} is ${owner.what}: the check measures whichever node holds it, so on the standby it fails when the MASTER fails and takes the standby out exactly when it should take over. Probe the service on the node itself (127.0.0.1 or the node's own address)`,
      });
      return;
    }
    const runners = spec.nodes
      .map((node) => node.name)
      .filter((name) => name !== owner.node && (check.nodes === undefined || check.nodes.includes(name)));
    if (runners.length === 0) return; // only runs on the node it names: a local check
    findings.push({
      severity: 'error',
      path,
      message: `${probed.host} is ${owner.what}, but the check also runs on ${runners.join(', ')}: a check judges the node it runs on, so there it fails when ${owner.node} fails and takes ${runners.join(', ')} out exactly when ${runners.length > 1 ? 'they' : 'it'} should take over. Probe the service on each node itself (127.0.0.1), or add nodes: [${owner.node}]`,
    });
  });
  const host = spec.mysql?.socket === undefined ? spec.mysql?.host : undefined;
  const owner = host === undefined ? undefined : hosts.get(host);
  if (owner) {
    findings.push({
      severity: 'error',
      path: 'mysql.host',
      message:
        owner.node === undefined
          ? `${host} is ${owner.what}: the spec is the same on every node, so each node's MySQL checks, promotion and demotion would act on whichever database holds the VIP. Use 127.0.0.1 (this node's own server) or mysql.socket`
          : `${host} is ${owner.what}: the spec is the same on every node, so the other nodes' MySQL checks, promotion and demotion would act on ${owner.node}'s database. Use 127.0.0.1 (this node's own server) or mysql.socket`,
    });
  }
  return findings;
}

/** A replication check at weight 0 fails on the primary in the situations a failover is for. */
function replicationCheckFindings(spec: Spec): Finding[] {
  const topology = spec.mysql?.topology ?? 'one-way';
  const fix =
    'Give it a negative weight (with failback: preempt) so it only lowers the priority, or leave replication health to monitoring (`hactl check replication` outside keepalived)';
  return spec.checks.flatMap((check, i) => {
    if (check.kind !== 'replication' || check.weight !== 0) return [];
    return [
      {
        severity: 'error' as const,
        path: `checks[${i}].weight`,
        message:
          topology === 'dual-master'
            ? `weight 0 on a replication check with mysql.topology dual-master puts the primary in FAULT when the standby dies: the primary replicates from the standby too, so its check fails as soon as the standby is gone, and then no node holds the VIPs. ${fix}`
            : `weight 0 on a replication check with mysql.topology one-way keeps the primary in FAULT: the primary does not replicate, so the check always fails there, and whichever node becomes primary drops the VIPs. ${fix}`,
      },
    ];
  });
}

const CHECK_KINDS: Record<CheckSpec['kind'], CheckKind<unknown>> = {
  http: httpCheck as CheckKind<unknown>,
  tcp: tcpCheck as CheckKind<unknown>,
  process: processCheck as CheckKind<unknown>,
  mysql: mysqlCheck as CheckKind<unknown>,
  replication: replicationCheck as CheckKind<unknown>,
};

/** user:password@ in a URL is shown as ***@ (an error may be printed anywhere). */
function withoutCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s"]*@/g, '//***@');
}

/**
 * Each check's params through the argv the rendered line carries and the parser `hactl check`
 * runs on it: what that parser refuses would exit 2 on every node, every interval.
 */
function paramFindings(spec: Spec): Finding[] {
  return spec.checks.flatMap((check, i) => {
    const [, ...args] = checkArgs(spec, check);
    const kind = CHECK_KINDS[check.kind];
    try {
      const { values } = parseArgs({ args, options: kind.flags, strict: true });
      kind.fromFlags(values as FlagValues);
      return [];
    } catch (error) {
      const { message, hint } = error as Error & { hint?: string };
      const flag = /--([a-z][a-z-]*)/.exec(message)?.[1];
      const param = flag?.replace(/-/g, '_');
      const path =
        param !== undefined && Object.hasOwn(check.params, param)
          ? `checks[${i}].params.${param}`
          : `checks[${i}].params`;
      const consequence =
        check.weight === 0
          ? 'and with weight 0 put every node in FAULT, dropping the VIPs everywhere'
          : 'so the check could never tell a healthy node from a failed one';
      return [
        {
          severity: 'error' as const,
          path,
          message: withoutCredentials(
            `${message}: \`hactl check ${check.kind}\` would exit 2 on every node, every interval, ${consequence}${hint ? `. Fix: ${hint}` : ''}`,
          ),
        },
      ];
    }
  });
}

/** Action parameters that the action code would refuse at every transition. */
function actionParamFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  for (const { path, action } of placedActions(spec)) {
    if (action.type === 'webhook') {
      let protocol: string | undefined;
      try {
        protocol = new URL(action.url).protocol;
      } catch {
        protocol = undefined;
      }
      if (protocol !== 'http:' && protocol !== 'https:') {
        findings.push({
          severity: 'error',
          path: `${path}.url`,
          message:
            'is not a valid http(s) URL (not shown: it may carry a token), so the webhook would fail at every transition. Check the host and the port (1..65535)',
        });
      }
    }
  }
  return findings;
}

/** mysql.demote re-points a demoted database to its one peer with the replication account. */
function demoteFindings(spec: Spec): Finding[] {
  const demote = placedActions(spec).find((placed) => placed.action.type === 'mysql.demote');
  if (!demote) return [];
  const findings: Finding[] = [];
  if (spec.mysql !== undefined && spec.mysql.replication_credentials_file === undefined) {
    findings.push({
      severity: 'error',
      path: 'mysql.replication_credentials_file',
      message: `is missing, and ${demote.path} is mysql.demote: without the replication account a demoted node is made read-only but never re-pointed to the new primary, so it replicates from nobody and falls behind. Add mysql.replication_credentials_file (an option file with the replication user and password, mode 0600)`,
    });
  }
  if (spec.nodes.length !== 2) {
    findings.push({
      severity: 'error',
      path: 'nodes',
      message: `has ${spec.nodes.length} nodes, but mysql.demote (${demote.path}) re-points a demoted database only when it has exactly one peer: with ${spec.nodes.length} nodes every demoted node stays read-only and replicates from nobody. Use a pair of nodes, or re-point the replicas yourself (a command action) instead of mysql.demote`,
    });
  }
  return findings;
}

function ipToInt(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

function netmask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Address ranges that can never be a VIP or a node's address on a link. */
function specialRange(address: string): string | undefined {
  const first = Number(address.split('.')[0]);
  if (first === 127) return 'a loopback address (127.0.0.0/8): it never leaves the machine';
  if (first === 0) return 'in 0.0.0.0/8 ("this network"), which no host can use';
  if (first >= 224 && first <= 239) return 'a multicast address (224.0.0.0/4)';
  if (first >= 240) return 'a reserved or broadcast address (240.0.0.0/4)';
  return undefined;
}

function vipFindings(spec: Spec): Finding[] {
  const findings: Finding[] = [];
  const seen = new Map<string, string>();
  spec.nodes.forEach((node, n) => {
    for (const [network, { address }] of Object.entries(node.networks)) {
      const special = specialRange(address);
      if (special) {
        findings.push({
          severity: 'error',
          path: `nodes[${n}].networks.${network}.address`,
          message: `${address} is ${special}; use the node's address on the ${network} link`,
        });
      }
    }
  });
  spec.vips.forEach((vip, v) => {
    const path = `vips[${v}].address`;
    const [address, prefixText] = vip.address.split('/') as [string, string];
    const prefix = Number(prefixText);
    const special = specialRange(address);
    if (special) {
      findings.push({
        severity: 'error',
        path,
        message: `${address} is ${special}; a VIP must be a free unicast address on the ${vip.network} link`,
      });
      return;
    }
    const other = seen.get(address);
    if (other) {
      findings.push({
        severity: 'error',
        path,
        message: `${address} is also VIP ${other}: two VIPs with one address fight over it (each instance adds and removes it on its own). Give each VIP its own address, or remove one`,
      });
    }
    seen.set(address, `"${vip.name}" (vips[${v}])`);
    // A /31 or /32 VIP says nothing about the link's subnet.
    if (prefix > 30) return;
    const mask = netmask(prefix);
    const value = ipToInt(address);
    const network = (value & mask) >>> 0;
    const broadcast = (network | ~mask) >>> 0;
    const subnet = `${intToIp(network)}/${prefix}`;
    if (value === network || value === broadcast) {
      findings.push({
        severity: 'error',
        path,
        message: `${address} is the ${value === network ? 'network' : 'broadcast'} address of ${subnet}, which no host can use. Use a free address inside ${subnet}`,
      });
      return;
    }
    const members = spec.nodes.map((node, n) => ({ node, n, address: node.networks[vip.network]?.address }));
    const inside = members.filter(
      (m) => m.address !== undefined && (ipToInt(m.address) & mask) >>> 0 === network,
    );
    if (inside.length === 0) {
      findings.push({
        severity: 'error',
        path,
        message: `${vip.address} is outside the subnet of every node's ${vip.network} address (${members.map((m) => m.address).join(', ')}): hosts on that link would send its traffic to their router instead of the node that holds it. Use a free address in the nodes' ${vip.network} subnet`,
      });
      return;
    }
    for (const member of members) {
      if (member.address === undefined || inside.includes(member)) continue;
      const nodePath = `nodes[${member.n}].networks.${vip.network}.address`;
      if (findings.some((finding) => finding.path === nodePath)) continue;
      findings.push({
        severity: 'error',
        path: nodePath,
        message: `${member.address} is not in ${subnet}, the subnet of VIP "${vip.name}" and of ${inside.map((m) => `${m.node.name}'s ${vip.network} address`).join(', ')}: the nodes of one network must share its link and subnet, or the VIP cannot move between them. Put ${member.node.name}'s ${vip.network} address in ${subnet}`,
      });
    }
  });
  return findings;
}

const REFUSED_TREES = ['/proc/', '/sys/', '/dev/'];

/** render-config reads the template on this machine; a missing one only shows when rendering. */
function templateFindings(spec: Spec): Finding[] {
  const template = spec.keepalived.template;
  if (template === undefined) return [];
  const problem = (message: string): Finding[] => [
    { severity: 'error', path: 'keepalived.template', message },
  ];
  if (REFUSED_TREES.some((tree) => template.startsWith(tree))) {
    return problem(`${template} is on a pseudo-filesystem; give the path of your template file`);
  }
  let isFile: boolean;
  try {
    isFile = statSync(template).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return problem(
      code === 'ENOENT'
        ? `${template} does not exist, so render-config could not render any node. Create it (start from hactl's templates/keepalived.conf.mustache) or remove keepalived.template to use the bundled one`
        : `${template} cannot be read (${code ?? String(error)}); fix its permissions or remove keepalived.template to use the bundled one`,
    );
  }
  return isFile ? [] : problem(`${template} is not a regular file; give the path of your template file`);
}

export function lintSpec(spec: Spec): Finding[] {
  return [
    ...unimplementedFindings(spec),
    ...semiSyncFindings(spec),
    ...electionFindings(spec),
    ...advertFindings(spec),
    ...isolationFindings(spec),
    ...authFindings(spec),
    ...scriptUserFindings(spec),
    ...addressFindings(spec),
    ...vipFindings(spec),
    ...routerIdFindings(spec),
    ...checkBudgetFindings(spec),
    ...paramFindings(spec),
    ...singleActiveFindings(spec),
    ...peerProbeFindings(spec),
    ...replicationCheckFindings(spec),
    ...actionParamFindings(spec),
    ...demoteFindings(spec),
    ...templateFindings(spec),
  ];
}
