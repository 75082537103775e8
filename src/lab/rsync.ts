/**
 * An rsync daemon per lab node (the receiving end of `hactl sync`), in the foreground so the PID we
 * record is the daemon's own. It listens on the node's namespace only; clients from the inside
 * network may write into its one module.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandLineOf, isAlive, readPidFile, startDaemon, stopFromPidFile } from './processes.js';

const MARKER = 'rsync';
export const RSYNC_MODULE = 'www';

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
    'port = 873',
    `log file = ${files.log}`,
    '',
    `[${RSYNC_MODULE}]`,
    `    path = ${files.moduleDir}`,
    '    read only = no',
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
  // A bad config or a busy port makes it exit within moments.
  await sleep(150);
  if (!isAlive(daemon.pid)) throw new Error(`rsync --daemon exited right after start; see ${files.log}`);
  return daemon.pid;
}

export async function stopRsync(files: RsyncFiles): Promise<boolean> {
  return stopFromPidFile(files.spawnPid, MARKER, 3_000);
}
