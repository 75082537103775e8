/**
 * The rsync command line of one push of one path to one peer, built from the spec alone (pure).
 * `-a` is recursive and keeps symbolic links as links (-l), permissions, times, owner, group and
 * devices: seed 000 used -rtuog and its author warned that symlinks were not copied; -a copies
 * them. rsync is incremental by itself (only changed files travel). The daemon's password is read
 * by rsync from --password-file: it never appears in argv or the environment.
 */
import type { NodeSpec, SyncPathSpec, SyncSpec } from '../spec/schema.js';

/** rsync's connect timeout to a daemon, and ssh's: a peer that is gone fails fast. */
export const CONNECT_TIMEOUT_SEC = 10;

export interface PushTarget {
  /** The path as the spec has it (index for messages). */
  index: number;
  path: SyncPathSpec;
  peer: NodeSpec;
}

/** The source directory on `node`: {node} replaced by its name. */
export function sourceOf(path: SyncPathSpec, node: NodeSpec): string {
  return path.source.replaceAll('{node}', node.name);
}

/** Where the copy goes, as rsync writes it (no secret: a daemon user is a name, not a password). */
export function destinationOf(sync: SyncSpec, path: SyncPathSpec, peer: NodeSpec): string {
  const address = peer.networks[sync.network]?.address;
  if (address === undefined) throw new Error(`${peer.name} has no address on sync.network "${sync.network}"`);
  if (path.module !== undefined) {
    const user = sync.auth ? `${sync.auth.user}@` : '';
    return `${user}${address}::${path.module}/`;
  }
  const ssh = sync.ssh;
  return `${ssh?.user ?? 'root'}@${address}:${path.destination ?? ''}/`;
}

export function pushArgv(
  sync: SyncSpec,
  node: NodeSpec,
  target: PushTarget,
  options: { dryRun?: boolean } = {},
): string[] {
  const { path, peer } = target;
  const argv = ['rsync', '-a', `--timeout=${sync.timeout}`];
  if (options.dryRun) argv.push('--dry-run', '--itemize-changes');
  if (sync.delete) argv.push('--delete');
  if (sync.bwlimit > 0) argv.push(`--bwlimit=${sync.bwlimit}`);
  for (const pattern of sync.excludes) argv.push(`--exclude=${pattern}`);
  if (path.module !== undefined) {
    argv.push(`--contimeout=${CONNECT_TIMEOUT_SEC}`);
    if (sync.auth) argv.push(`--password-file=${sync.auth.password_file}`);
  } else {
    const ssh = sync.ssh;
    // rsync splits -e on spaces; every value here is validated to hold none.
    const remoteShell = [
      'ssh',
      '-p',
      String(ssh?.port ?? 22),
      '-o',
      'BatchMode=yes',
      '-o',
      `ConnectTimeout=${CONNECT_TIMEOUT_SEC}`,
      ...(ssh?.identity_file ? ['-i', ssh.identity_file] : []),
    ].join(' ');
    argv.push('-e', remoteShell);
  }
  argv.push(`${sourceOf(path, node).replace(/\/+$/, '')}/`, destinationOf(sync, path, peer));
  return argv;
}

/** Every path to every peer, in spec order. */
export function pushTargets(sync: SyncSpec, node: NodeSpec, nodes: readonly NodeSpec[]): PushTarget[] {
  const peers = nodes.filter((other) => other.name !== node.name);
  return sync.paths.flatMap((path, index) => peers.map((peer) => ({ index, path, peer })));
}
