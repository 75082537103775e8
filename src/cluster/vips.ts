/** Which of the spec's VIPs this node holds right now, read from its own interfaces (no process spawned). */
import { networkInterfaces } from 'node:os';
import { vipAddress, type Spec } from '../spec/schema.js';
import type { VipFacts } from './observation.js';

/** Addresses configured on interfaces that are up (libuv skips interfaces that are down). */
export function localAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) if (entry.family === 'IPv4') found.add(entry.address);
  }
  return found;
}

export function vipHolding(spec: Spec, addresses: ReadonlySet<string> = localAddresses()): VipFacts {
  const held: string[] = [];
  const missing: string[] = [];
  for (const vip of spec.vips) {
    const address = vipAddress(vip);
    (addresses.has(address) ? held : missing).push(address);
  }
  return { held, missing };
}
