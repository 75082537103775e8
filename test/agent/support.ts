/**
 * The built agent (`bin/hactl agent`) as a long-running child: its JSON log lines are collected as
 * they arrive, waits are on a log line or the exit with a bound, and cleanup SIGKILLs its process
 * group if a test left it running.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { waitFor } from '../../src/lab/processes.js';
import { assertBuilt, hactlBin, repoRoot } from '../support/cli.js';

export type LogLine = Record<string, unknown> & { event?: string; level?: string };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export interface RunningAgent {
  pid: number;
  logs: LogLine[];
  stderr(): string;
  /** Resolves with the first log line (from index `from` on) that matches, or throws after `timeoutMs`. */
  waitForLog(
    what: string,
    match: (line: LogLine) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<LogLine>;
  waitForExit(timeoutMs: number): Promise<Exit>;
  exit: Exit | undefined;
  signal(signal: NodeJS.Signals): void;
  cleanup(): Promise<void>;
}

export function startAgent(args: string[], options: { netns?: string } = {}): RunningAgent {
  assertBuilt();
  const argv = [process.execPath, hactlBin, 'agent', ...args];
  // `ip netns exec` execs the command in place (no fork): the PID is the agent's.
  const full = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv;
  const child = spawn(full[0]!, full.slice(1), {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  let partial = '';
  const logs: LogLine[] = [];
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        /* not a log line (e.g. "hactl: …" on a refused start) */
      }
    }
  });
  const agent: RunningAgent = {
    pid: child.pid!,
    logs,
    stderr: () => stderr,
    exit: undefined,
    async waitForLog(what, match, timeoutMs = 15_000, from = 0) {
      let found: LogLine | undefined;
      await waitFor(
        `${what} (agent stderr so far:\n${stderr.slice(-2000)})`,
        () => {
          if (agent.exit)
            throw new Error(
              `the agent exited (${agent.exit.code ?? agent.exit.signal}) before ${what}:\n${stderr}`,
            );
          found = logs.slice(from).find(match);
          return found !== undefined;
        },
        { timeoutMs },
      );
      return found!;
    },
    async waitForExit(timeoutMs) {
      await waitFor('the agent to exit', () => agent.exit !== undefined, { timeoutMs, everyMs: 20 });
      return agent.exit!;
    },
    signal(signal) {
      process.kill(child.pid!, signal);
    },
    async cleanup() {
      if (agent.exit) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      await agent.waitForExit(10_000).catch(() => undefined);
    },
  };
  child.on('exit', (code, signal) => (agent.exit = { code, signal, at: performance.now() }));
  return agent;
}

/** One line to the FIFO, as keepalived writes it (the agent holds the read end open). */
export async function writeFifo(path: string, line: string): Promise<void> {
  await writeFile(path, `${line}\n`, { flag: 'a' });
}
