/**
 * Where the databases are, as seen from the peers and the proxies: each node's address on the
 * replication network (default: the first VIP's network) and the spec's MySQL port.
 */
import type { NodeSpec, Spec } from '../spec/schema.js';

export interface DbAddress {
  node: string;
  host: string;
  port: number;
}

export function dbNetwork(spec: Spec, override?: string): string {
  return override ?? spec.mysql?.replication_network ?? spec.vips[0]!.network;
}

export function dbAddress(spec: Spec, node: NodeSpec, network?: string): DbAddress {
  const net = dbNetwork(spec, network);
  const address = node.networks[net];
  if (!address) throw new Error(`node ${node.name} has no "${net}" network`);
  return { node: node.name, host: address.address, port: spec.mysql?.port ?? 3306 };
}

export function peerAddresses(spec: Spec, self: NodeSpec, network?: string): DbAddress[] {
  return spec.nodes.filter((n) => n.name !== self.name).map((n) => dbAddress(spec, n, network));
}
