/**
 * One keepalived per lab node, in the node's namespace, with its own pid files (a second instance
 * with the default ones prints "already running" and exits 0) and its log on stdout (`-l`).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { validateFile } from '../keepalived/validate.js';
import { killGroup } from './pgroup.js';
import { commandLineOf, isAlive, readPidFile, startDaemon, stopProcess, waitFor } from './processes.js';

const MARKER = 'keepalived';

export interface KeepalivedFiles {
  conf: string;
  /** keepalived's own pid files: parent (-p), VRRP child (-r), checker child (-c). */
  pid: string;
  vrrpPid: string;
  checkPid: string;
  /** The PID we spawned (the same process as `pid`, recorded before keepalived writes its own). */
  spawnPid: string;
  log: string;
}

export function keepalivedFiles(nodeDir: string): KeepalivedFiles {
  return {
    conf: join(nodeDir, 'keepalived.conf'),
    pid: join(nodeDir, 'keepalived.pid'),
    vrrpPid: join(nodeDir, 'keepalived-vrrp.pid'),
    checkPid: join(nodeDir, 'keepalived-check.pid'),
    spawnPid: join(nodeDir, 'keepalived.spawn.pid'),
    log: join(nodeDir, 'keepalived.log'),
  };
}

function ours(pid: number | undefined): pid is number {
  return pid !== undefined && isAlive(pid) && (commandLineOf(pid)?.includes(MARKER) ?? false);
}

/**
 * Pid files a keepalived left when it was killed. PIDs are reused (pid_max is often 32768 and the
 * lab spawns many processes): a stale file can name a live, unrelated process, and keepalived then
 * takes itself for running and exits at once. A file naming a live keepalived is left alone.
 */
function removeStalePidFiles(files: KeepalivedFiles): void {
  for (const file of [files.pid, files.vrrpPid, files.checkPid, files.spawnPid]) {
    if (!ours(readPidFile(file))) rmSync(file, { force: true });
  }
}

/** The parent's PID if it is alive and still keepalived. */
export function keepalivedPid(files: KeepalivedFiles): number | undefined {
  const pid = readPidFile(files.spawnPid) ?? readPidFile(files.pid);
  return ours(pid) ? pid : undefined;
}

/** `keepalived -t` inside the node's namespace (interfaces must exist); throws with its complaints. */
export async function validateKeepalived(files: KeepalivedFiles, netns: string): Promise<void> {
  const result = await validateFile(files.conf, { netns });
  if (!result.ok)
    throw new Error(
      `keepalived -t rejects ${files.conf} (exit ${result.exitCode ?? '?'}): ${result.message}`,
    );
}

export async function startKeepalived(files: KeepalivedFiles, netns: string): Promise<number> {
  const running = keepalivedPid(files);
  if (running !== undefined) return running;
  removeStalePidFiles(files);
  const argv = [
    'keepalived',
    '-n',
    '-l',
    '-D',
    '-f',
    files.conf,
    '-p',
    files.pid,
    '-r',
    files.vrrpPid,
    '-c',
    files.checkPid,
  ];
  const daemon = startDaemon(argv, { netns, logFile: files.log, pidFile: files.spawnPid });
  // It exits at once on a bad config or a pid-file clash; give it a moment to prove it stays.
  await waitFor(
    'keepalived to write its VRRP pid file',
    () => ours(readPidFile(files.vrrpPid)) || !isAlive(daemon.pid),
    // keepalived itself starts in milliseconds; the bound is for a CPU-starved machine.
    { timeoutMs: 15_000 },
  );
  if (!isAlive(daemon.pid)) {
    throw new Error(`keepalived exited right after start; see ${files.log}`);
  }
  return daemon.pid;
}

/** SIGTERM to the parent: keepalived releases its VIPs at once and its children exit with it. */
export async function stopKeepalived(files: KeepalivedFiles, waitMs = 8_000): Promise<boolean> {
  const pid = keepalivedPid(files);
  const stopped = pid === undefined ? false : await stopProcess(pid, MARKER, { waitMs });
  // Children that outlived a crashed parent are ours too, if their cmdline says so.
  for (const file of [files.vrrpPid, files.checkPid]) {
    const child = readPidFile(file);
    if (ours(child)) await stopProcess(child, MARKER, { signal: 'SIGKILL', waitMs: 2_000 });
  }
  return stopped;
}

/**
 * Freezes (SIGSTOP) or thaws (SIGCONT) the node's VRRP process, the one that sends adverts, reads
 * track files and adds or removes the VIPs: frozen, the node keeps whatever it holds. False when
 * there is no such process of ours.
 */
export function signalVrrp(files: KeepalivedFiles, signal: 'SIGSTOP' | 'SIGCONT'): boolean {
  const pid = readPidFile(files.vrrpPid);
  if (!ours(pid)) return false;
  process.kill(pid, signal);
  return true;
}

/** SIGKILL to every keepalived process of the node at once: the VIPs stay configured, like a crash. */
export async function killKeepalived(files: KeepalivedFiles): Promise<boolean> {
  const leader = readPidFile(files.spawnPid) ?? readPidFile(files.pid);
  const killed = ours(leader) ? await killGroup(leader, MARKER) : false;
  for (const file of [files.vrrpPid, files.checkPid]) {
    const child = readPidFile(file);
    if (ours(child)) await stopProcess(child, MARKER, { signal: 'SIGKILL', waitMs: 2_000 });
  }
  return killed;
}

export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'INIT';

/**
 * keepalived 2.2.7 logs a state change as "(inside) Entering MASTER STATE", but a change to FAULT
 * through a tracked file, a script or an interface as "(inside) entering FAULT state" (after a
 * reason line "(inside): entering FAULT state (tracked file … has status …)", which has a colon
 * and is not the change itself). Anchored at the end of the line so reason lines never count.
 */
const STATE_CHANGE =
  /\(([A-Za-z0-9_.-]+)\) [Ee]ntering (MASTER|BACKUP|FAULT) (?:STATE|state)(?: \(init\))?$/gm;

/** Every state change `text` (a keepalived log) records, in the order logged. */
export function loggedStateChanges(text: string): { instance: string; state: VrrpState }[] {
  return [...text.matchAll(STATE_CHANGE)].map((m) => ({ instance: m[1]!, state: m[2] as VrrpState }));
}

/** Last state each instance logged ("(inside) Entering MASTER STATE"), read from the node's log. */
export function lastLoggedStates(files: KeepalivedFiles): Record<string, VrrpState> {
  let text: string;
  try {
    text = readFileSync(files.log, 'utf8');
  } catch {
    return {};
  }
  // A restart begins a new story: only lines after the last start-up count.
  const lastStart = Math.max(0, text.lastIndexOf('Starting Keepalived'));
  const states: Record<string, VrrpState> = {};
  for (const { instance, state } of loggedStateChanges(text.slice(lastStart))) states[instance] = state;
  return states;
}
