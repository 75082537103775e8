/**
 * The lab's `hactl agent` per node (agent mode): started in the node's namespace with a pid file of
 * our own, stopped, killed, frozen and thawed only through that PID. The agent renames itself
 * (process.title), so the marker is the part its command line keeps either way.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLineOf, isAlive, readPidFile, startDaemon, stopFromPidFile, waitFor } from './processes.js';
import { logSince, logSize } from './log-tail.js';

const MARKER = 'hactl';

export interface AgentFiles {
  pid: string;
  log: string;
}

export function agentFiles(nodeDir: string): AgentFiles {
  return { pid: join(nodeDir, 'agent.pid'), log: join(nodeDir, 'agent.log') };
}

/** The agent's PID if the one we started still runs (and is still ours). */
export function agentPid(files: AgentFiles): number | undefined {
  const pid = readPidFile(files.pid);
  if (pid === undefined || !isAlive(pid)) return undefined;
  return commandLineOf(pid)?.includes(MARKER) ? pid : undefined;
}

export async function startAgent(
  files: AgentFiles,
  options: { netns: string; hactl: string; specPath: string; node: string },
): Promise<number> {
  const running = agentPid(files);
  if (running !== undefined) return running;
  const argv = [options.hactl, 'agent', '--spec', options.specPath, '--node', options.node];
  const from = logSize(files.log);
  const daemon = startDaemon(argv, { netns: options.netns, logFile: files.log, pidFile: files.pid });
  // It refuses at once on a bad spec or a second instance; give it a moment to prove it stays.
  await waitFor(
    `${options.node}'s agent to take its name`,
    () => !isAlive(daemon.pid) || commandLineOf(daemon.pid)?.startsWith('hactl-agent') === true,
    // A Node start with the agent's imports is well under a second idle; this is for a busy machine.
    { timeoutMs: 20_000, everyMs: 50 },
  );
  if (!isAlive(daemon.pid))
    throw new Error(`${options.node}'s agent exited right after start; see ${files.log}`);
  // The title comes before the FIFO, the heartbeat and the checks start, any of which can still
  // refuse: keepalived must not be started until the agent says it runs.
  await waitFor(
    `${options.node}'s agent to log agent.started`,
    () => !isAlive(daemon.pid) || startedLogged(files.log, from),
    { timeoutMs: 30_000, everyMs: 100 },
  );
  if (!isAlive(daemon.pid)) {
    throw new Error(`${options.node}'s agent exited during start: ${logTail(files.log, from)}`);
  }
  return daemon.pid;
}

/** This start's part of the agent's log has its "agent.started" line. */
function startedLogged(path: string, from: number): boolean {
  return logSince(path, from).includes('"event":"agent.started"');
}

function logTail(path: string, from: number): string {
  return logSince(path, from).split('\n').slice(-8).join('\n').slice(-2_000) || `(nothing in ${path})`;
}

/** SIGTERM (a clean stop: the agent marks the node unhealthy before it exits). */
export async function stopAgent(files: AgentFiles): Promise<boolean> {
  return stopFromPidFile(files.pid, MARKER, 10_000);
}

/** SIGKILL, SIGSTOP or SIGCONT to our agent; false when none of ours runs. */
export function signalAgent(files: AgentFiles, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): boolean {
  const pid = agentPid(files);
  if (pid === undefined) return false;
  process.kill(pid, signal);
  return true;
}

/** Whether our agent is stopped (state T in /proc/<pid>/stat). */
export function agentFrozen(files: AgentFiles): boolean {
  const pid = agentPid(files);
  if (pid === undefined) return false;
  try {
    return /\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
