/**
 * The lab's network: four namespaces and two bridges, all built with `ip -n`, so nothing is ever
 * configured in the root namespace. Only documentation ranges are used and IPv6 is disabled in every
 * namespace before the first link exists, so no packet leaves for an address the lab does not own.
 *
 *   <prefix>-ha1 ─eth1─┐           ┌─eth1─ <prefix>-ha2        inside  192.0.2.0/24    (br-in)
 *                ─eth0─┤ <prefix>-sw ├─eth0─                  outside 198.51.100.0/24 (br-out)
 *                      └─ <prefix>-client (eth1 .100, eth0 .100)
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';

export const LAB_NODES = ['ha1', 'ha2'] as const;
export type LabNode = (typeof LAB_NODES)[number];

export const NETWORKS = {
  inside: { subnet: '192.0.2', bridge: 'br-in', iface: 'eth1', vrid: 51 },
  outside: { subnet: '198.51.100', bridge: 'br-out', iface: 'eth0', vrid: 50 },
} as const;
export type NetworkRole = keyof typeof NETWORKS;
export const ROLES = Object.keys(NETWORKS) as NetworkRole[];

export const HOST_NUMBER: Record<LabNode | 'client', number> = { ha1: 11, ha2: 12, client: 100 };
export const VIP_HOST = 50;

export function addressOf(host: LabNode | 'client', role: NetworkRole): string {
  return `${NETWORKS[role].subnet}.${HOST_NUMBER[host]}`;
}

export function vipOf(role: NetworkRole): string {
  return `${NETWORKS[role].subnet}.${VIP_HOST}`;
}

export interface Namespaces {
  ha1: string;
  ha2: string;
  client: string;
  sw: string;
}

export function namespacesFor(prefix: string): Namespaces {
  return { ha1: `${prefix}-ha1`, ha2: `${prefix}-ha2`, client: `${prefix}-client`, sw: `${prefix}-sw` };
}

/** Creation order; deletion goes the other way. */
function allNamespaces(ns: Namespaces): string[] {
  return [ns.sw, ns.ha1, ns.ha2, ns.client];
}

/** Switch-side end of a host's veth on `role`. */
function switchPort(host: LabNode | 'client', role: NetworkRole): string {
  return `${host}-${role === 'inside' ? 'in' : 'out'}`;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs argv (no shell) with a hard timeout; never throws for a non-zero exit. */
export async function run(argv: string[], timeoutMs = 10_000): Promise<RunResult> {
  const [file, ...args] = argv;
  const result = await execa(file!, args, { reject: false, timeout: timeoutMs, stdin: 'ignore' });
  return {
    exitCode: result.exitCode ?? (result.timedOut ? 124 : 125),
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
  };
}

/** Like run(), but a non-zero exit is an error naming the command and its stderr. */
export async function must(argv: string[], timeoutMs = 10_000): Promise<string> {
  const result = await run(argv, timeoutMs);
  if (result.exitCode !== 0) {
    throw new Error(
      `\`${argv.join(' ')}\` exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

/** Runs `ip` commands (one per line) in namespace `ns` from one process; fails on the first error. */
export async function mustBatch(ns: string, lines: string[], timeoutMs = 10_000): Promise<void> {
  const argv = ['ip', '-n', ns, '-batch', '-'];
  const result = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    timeout: timeoutMs,
    input: lines.join('\n') + '\n',
  });
  if (result.exitCode !== 0) {
    const output = String(result.stderr ?? '').trim() || String(result.stdout ?? '').trim();
    throw new Error(
      `\`${argv.join(' ')}\` (${lines.join('; ')}) exited ${result.exitCode ?? 124}: ${output}`,
    );
  }
}

export function namespaceExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

export function existingNamespaces(prefix: string): string[] {
  return allNamespaces(namespacesFor(prefix)).filter(namespaceExists);
}

async function addNamespace(name: string): Promise<void> {
  await must(['ip', 'netns', 'add', name]);
  // Before any link exists: new interfaces inherit `default`, so none ever gets an IPv6 address.
  await must([
    'ip',
    'netns',
    'exec',
    name,
    'sysctl',
    '-q',
    '-w',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  ]);
  await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

async function connect(ns: Namespaces, host: LabNode | 'client', role: NetworkRole): Promise<void> {
  const port = switchPort(host, role);
  const { iface, bridge } = NETWORKS[role];
  // Created inside the switch namespace with the peer placed straight into the host namespace.
  await must([
    'ip',
    '-n',
    ns.sw,
    'link',
    'add',
    port,
    'type',
    'veth',
    'peer',
    'name',
    iface,
    'netns',
    ns[host],
  ]);
  await must(['ip', '-n', ns.sw, 'link', 'set', port, 'master', bridge]);
  await must(['ip', '-n', ns.sw, 'link', 'set', port, 'up']);
  await must(['ip', '-n', ns[host], 'addr', 'add', `${addressOf(host, role)}/24`, 'dev', iface]);
  await must(['ip', '-n', ns[host], 'link', 'set', iface, 'up']);
}

/** Builds the whole network. Refuses if any of the lab's namespaces already exists. */
export async function createNetwork(prefix: string): Promise<Namespaces> {
  const ns = namespacesFor(prefix);
  const existing = existingNamespaces(prefix);
  if (existing.length > 0) {
    throw new Error(
      `namespace(s) ${existing.join(', ')} already exist: run \`hactl lab down --prefix ${prefix}\` first`,
    );
  }
  for (const name of allNamespaces(ns)) await addNamespace(name);
  for (const role of ROLES) {
    const { bridge } = NETWORKS[role];
    await must([
      'ip',
      '-n',
      ns.sw,
      'link',
      'add',
      bridge,
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
    ]);
    await must(['ip', '-n', ns.sw, 'link', 'set', bridge, 'up']);
  }
  for (const host of [...LAB_NODES, 'client'] as const) {
    for (const role of ROLES) await connect(ns, host, role);
  }
  return ns;
}

/** Deletes whichever of the lab's namespaces exist (their veths go with them). Safe to repeat. */
export async function destroyNetwork(prefix: string): Promise<string[]> {
  const deleted: string[] = [];
  for (const name of allNamespaces(namespacesFor(prefix)).reverse()) {
    if (!namespaceExists(name)) continue;
    const result = await run(['ip', 'netns', 'del', name]);
    if (result.exitCode === 0) deleted.push(name);
    else if (namespaceExists(name))
      throw new Error(`cannot delete namespace ${name}: ${result.stderr.trim()}`);
  }
  return deleted;
}

/** The node's own interfaces up or down: the node loses (or regains) its links. */
export async function setNodeLinks(prefix: string, node: LabNode, up: boolean): Promise<void> {
  // One `ip -batch` for both links, as in setAttached: a spawn apart, on a loaded machine, a
  // fast-profile standby took over on the first network's silence and its fence still reached
  // the "lost" node over the second, a different fault from node loss.
  const lines = ROLES.map((role) => `link set ${NETWORKS[role].iface} ${up ? 'up' : 'down'}`);
  await mustBatch(namespacesFor(prefix)[node], lines);
}

/**
 * Detaches the node's switch ports from the bridges (or re-attaches them). The node's links keep
 * their carrier, so keepalived sees no fault: it simply stops hearing its peer, a true partition.
 */
export async function setAttached(prefix: string, node: LabNode, attached: boolean): Promise<void> {
  // One `ip -batch` for every network: a heal (or a cut) that reached the networks a spawn apart,
  // hundreds of ms on a loaded machine, would be a different fault, e.g. GARPs sent on a network
  // that is still cut while the other one already carries adverts.
  const lines = ROLES.flatMap((role) => {
    const port = switchPort(node, role);
    return attached
      ? [`link set ${port} master ${NETWORKS[role].bridge}`, `link set ${port} up`]
      : [`link set ${port} nomaster`];
  });
  await mustBatch(namespacesFor(prefix).sw, lines);
}

export interface LinkState {
  /** The node's own interfaces are administratively up. */
  up: boolean;
  /** Its switch ports are enslaved to the bridges. */
  attached: boolean;
}

interface IpLink {
  ifname: string;
  flags?: string[];
  master?: string;
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function linkState(prefix: string, node: LabNode): Promise<LinkState> {
  const ns = namespacesFor(prefix);
  const nodeLinks = JSON.parse(
    (await must(['ip', '-n', ns[node], '-j', 'link', 'show'])) || '[]',
  ) as IpLink[];
  const swLinks = JSON.parse((await must(['ip', '-n', ns.sw, '-j', 'link', 'show'])) || '[]') as IpLink[];
  const up = ROLES.every(
    (role) => nodeLinks.find((l) => l.ifname === NETWORKS[role].iface)?.flags?.includes('UP') === true,
  );
  const attached = ROLES.every(
    (role) => swLinks.find((l) => l.ifname === switchPort(node, role))?.master === NETWORKS[role].bridge,
  );
  return { up, attached };
}

/**
 * Which VIP roles the node holds right now: configured on an interface that is up. An address
 * left on a downed interface (a killed keepalived on a dead node) serves nobody; `includeDown`
 * lists those too.
 */
export async function vipsOn(prefix: string, node: LabNode, includeDown = false): Promise<NetworkRole[]> {
  const ns = namespacesFor(prefix)[node];
  const result = await run(
    ['ip', '-n', ns, '-j', '-4', 'addr', 'show', ...(includeDown ? [] : ['up'])],
    5_000,
  );
  if (result.exitCode !== 0) return [];
  const addrs = (JSON.parse(result.stdout || '[]') as IpAddr[]).flatMap((link) =>
    (link.addr_info ?? []).map((info) => ({ ifname: link.ifname, local: info.local })),
  );
  return ROLES.filter((role) =>
    addrs.some((a) => a.ifname === NETWORKS[role].iface && a.local === vipOf(role)),
  );
}

/** Who holds each VIP, sampled from both nodes at (nearly) the same moment. */
export async function vipHolders(prefix: string): Promise<Record<NetworkRole, LabNode[]>> {
  const held = await Promise.all(LAB_NODES.map((node) => vipsOn(prefix, node)));
  const holders = { inside: [] as LabNode[], outside: [] as LabNode[] };
  LAB_NODES.forEach((node, i) => {
    for (const role of held[i] ?? []) holders[role].push(node);
  });
  return holders;
}

/** Removes VIPs a dead keepalived left behind (a rebooted machine would not carry them either). */
export async function dropStaleVips(prefix: string, node: LabNode): Promise<NetworkRole[]> {
  const ns = namespacesFor(prefix)[node];
  const stale = await vipsOn(prefix, node, true);
  for (const role of stale) {
    await run(['ip', '-n', ns, 'addr', 'del', `${vipOf(role)}/24`, 'dev', NETWORKS[role].iface]);
  }
  return stale;
}

/** A MAC no lab interface has: frames sent to it reach nobody. */
const NOWHERE_MAC = '02:00:00:00:00:00';

/**
 * Cuts (or restores) the path between the two nodes only, on every network, while the client still
 * reaches both: each node gets a permanent neighbour entry sending its peer's addresses to a MAC
 * nobody has (the lab has no iptables/nft; keepalived's sockets are bound to their interface, so a
 * route cannot stop its adverts, but the interface's neighbour table can and ARP does not override
 * it). Traffic to a VIP the peer holds still flows (its MAC is the peer's real one): what is cut is
 * every node-to-node address, i.e. adverts, replication and the agents' API.
 */
export async function setPeerLink(prefix: string, up: boolean): Promise<void> {
  const ns = namespacesFor(prefix);
  for (const [from, to] of [
    ['ha1', 'ha2'],
    ['ha2', 'ha1'],
  ] as const) {
    for (const role of ROLES) {
      const entry = [addressOf(to, role), 'dev', NETWORKS[role].iface];
      if (up) await run(['ip', '-n', ns[from], 'neigh', 'del', ...entry]);
      else
        await must([
          'ip',
          '-n',
          ns[from],
          'neigh',
          'replace',
          ...entry,
          'lladdr',
          NOWHERE_MAC,
          'nud',
          'permanent',
        ]);
    }
  }
}
