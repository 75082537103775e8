/**
 * An rsync daemon per lab node (the receiving end of `hactl sync`), in the foreground so the PID we
 * record is the daemon's own. It listens on the node's namespace only; clients from the inside
 * network may write into its one module.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLineOf, isAlive, readPidFile, startDaemon, stopFromPidFile, waitFor } from './processes.js';

const MARKER = 'rsync';
export const RSYNC_MODULE = 'www';
const PORT = 873;

export interface RsyncFiles {
  conf: string;
  spawnPid: string;
  log: string;
  /** The module's directory. */
  moduleDir: string;
}

export function rsyncFiles(nodeDir: string): RsyncFiles {
  return {
    conf: join(nodeDir, 'rsyncd.conf'),
    spawnPid: join(nodeDir, 'rsyncd.spawn.pid'),
    log: join(nodeDir, 'rsyncd.log'),
    moduleDir: join(nodeDir, 'www'),
  };
}

export function rsyncConfig(files: RsyncFiles, allowFrom: string): string {
  return [
    '# Written by hactl lab.',
    'use chroot = no',
    `port = ${PORT}`,
    `log file = ${files.log}`,
    '',
    `[${RSYNC_MODULE}]`,
    `    path = ${files.moduleDir}`,
    '    read only = no',
    // rsync munges symlinks in a module served without chroot (they arrive as
    // /rsyncd-munged/<target>); the pushing peer is trusted to write links as they are.
    '    munge symlinks = no',
    '    uid = root',
    '    gid = root',
    `    hosts allow = ${allowFrom}`,
    '',
  ].join('\n');
}

export function rsyncPid(files: RsyncFiles): number | undefined {
  const pid = readPidFile(files.spawnPid);
  return pid !== undefined && isAlive(pid) && commandLineOf(pid)?.includes('--daemon') ? pid : undefined;
}

export async function startRsync(files: RsyncFiles, netns: string, allowFrom: string): Promise<number> {
  const running = rsyncPid(files);
  if (running !== undefined) return running;
  mkdirSync(files.moduleDir, { recursive: true });
  writeFileSync(files.conf, rsyncConfig(files, allowFrom));
  const daemon = startDaemon(['rsync', '--daemon', '--no-detach', `--config=${files.conf}`], {
    netns,
    logFile: files.log,
    pidFile: files.spawnPid,
  });
  // Ready once it listens; a bad config or a busy port makes it exit instead.
  await waitFor(
    `rsync --daemon to listen on port ${PORT}`,
    () => listening(daemon.pid, PORT) || !isAlive(daemon.pid),
    { timeoutMs: 15_000, everyMs: 50 },
  );
  if (!isAlive(daemon.pid)) throw new Error(`rsync --daemon exited right after start; see ${files.log}`);
  return daemon.pid;
}

/**
 * `pid` (once it is rsync, i.e. `ip netns exec` has entered the namespace and exec'd) has a TCP
 * socket listening on `port`: /proc/<pid>/net/tcp lists the sockets of the process's namespace.
 */
function listening(pid: number, port: number): boolean {
  if (!commandLineOf(pid)?.startsWith('rsync ')) return false;
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .some((line) => {
        const fields = line.trim().split(/\s+/);
        return fields[1]?.endsWith(local) === true && fields[3] === '0A';
      });
  } catch {
    return false;
  }
}

export async function stopRsync(files: RsyncFiles): Promise<boolean> {
  return stopFromPidFile(files.spawnPid, MARKER, 3_000);
}
