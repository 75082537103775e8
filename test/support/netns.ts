/**
 * Throwaway network namespaces for tests: both ends of every veth live inside the namespace, so
 * nothing is added to the root namespace. Deleting the namespace removes its links.
 */
import { execFileSync } from 'node:child_process';

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

export function createNamespace(name: string, interfaces: string[]): void {
  deleteNamespace(name);
  ip(['netns', 'add', name]);
  interfaces.forEach((iface, i) => {
    ip(['-n', name, 'link', 'add', iface, 'type', 'veth', 'peer', 'name', `peer${i}`]);
    ip(['-n', name, 'link', 'set', iface, 'up']);
  });
}

export function deleteNamespace(name: string): void {
  try {
    ip(['netns', 'del', name]);
  } catch {
    /* not there */
  }
}
