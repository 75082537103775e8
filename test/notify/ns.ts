/**
 * Namespaces standing in for the two nodes: "holds the VIPs" is made real by adding the VIP address
 * to the namespace's own loopback, and hactl notify runs inside with `ip netns exec`.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';

export function ip(args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
}

export function createNs(name: string): void {
  deleteNs(name);
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
}

export function deleteNs(name: string): void {
  try {
    ip(['netns', 'del', name]);
  } catch {
    /* not there */
  }
}

export function addVip(ns: string, address: string): void {
  ip(['-n', ns, 'addr', 'replace', `${address}/32`, 'dev', 'lo']);
}

export function removeVip(ns: string, address: string): void {
  try {
    ip(['-n', ns, 'addr', 'del', `${address}/32`, 'dev', 'lo']);
  } catch {
    /* not there */
  }
}

/** Whether process `pid` lives in namespace `ns` (same network namespace inode). */
export function processInNs(pid: number, ns: string): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${ns}`).ino;
  } catch {
    return false;
  }
}

/** A veth between two namespaces with an address on each end (for the MySQL pair). */
export function linkNs(a: string, b: string, addressA: string, addressB: string, prefix = 24): void {
  const ifA = `v${a}`.slice(0, 15);
  const ifB = `v${b}`.slice(0, 15);
  ip(['-n', a, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
  ip(['-n', a, 'addr', 'add', `${addressA}/${prefix}`, 'dev', ifA]);
  ip(['-n', b, 'addr', 'add', `${addressB}/${prefix}`, 'dev', ifB]);
  ip(['-n', a, 'link', 'set', ifA, 'up']);
  ip(['-n', b, 'link', 'set', ifB, 'up']);
}
