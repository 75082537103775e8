/**
 * The last line of defence of a process with a time budget: a tiny watchdog process (/bin/sh and
 * sleep, in its own process group) that, if the deadline passes, writes one line to stderr, SIGKILLs
 * this process and appends one JSON line to the log. It needs nothing from this process, so it holds
 * even when the event loop is stuck in a synchronous call (a regex, a recursive mkdir under /proc, a
 * bug) where no timer can fire. Process-level only: a long-lived process never uses it on itself;
 * it abandons work with raceDeadline (./deadline.ts) instead.
 *
 * Why a process and not a worker thread: a worker boots a whole Node.js environment (~10 MB more
 * peak RSS once it is up, which put the mysql/replication checks over their 60 MB target, and more
 * CPU), measured with `npm run bench:checks`; the watchdog costs one fork/exec. Before it acts it
 * checks that this process is still its parent, so a PID reused after an unrelated death is never
 * killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface HardStopText {
  /** One line for stderr. `{elapsed}` becomes the ms since process start at which it fires. */
  stderr: string;
  /** Append `logLine` (same placeholders, plus `{time}` as an ISO date) to this file if it is a regular file or absent. */
  logFile?: string | undefined;
  logLine?: string | undefined;
}

export interface HardStop {
  /** Moves the deadline (performance.now() clock) and, optionally, what is written when it fires. */
  update(deadlineMs: number, text?: HardStopText): void;
  /** Stands down (the watchdog ends and releases the stderr it shares). */
  cancel(): void;
  /**
   * Stands down at exit unless the exit may hang: process.exit() waits for libuv's threadpool,
   * which a call that never returns (a DNS lookup, an open of a FIFO) holds forever. Then a quiet
   * watchdog (no stderr held, no stderr line) stays armed until the deadline and kills the process
   * if it is still there; it ends by itself otherwise.
   */
  cancelAtExit(): void;
}

// $1 seconds to sleep, $2 our PID, $3 stderr line, $4 log file (may be empty), $5 log line.
// Only sh holds our stderr (sleep gets none of our descriptors), so cancel() releases it at once.
// The log is appended after the kill: a FIFO or a hung filesystem there cannot delay the stop.
const WATCHDOG = [
  'sleep "$1" </dev/null >/dev/null 2>&1',
  'read -r _ _ _ parent _ < /proc/$$/stat',
  '[ "$parent" = "$2" ] || exit 0',
  '[ -z "$3" ] || printf "%s" "$3" >&2',
  'kill -9 "$2"',
  '[ -n "$4" ] && { [ -f "$4" ] || [ ! -e "$4" ]; } && printf "%s" "$5" >> "$4"',
  'exit 0',
].join('\n');

function fill(text: string, elapsedMs: number, time: string): string {
  return text.replaceAll('{elapsed}', String(Math.round(elapsedMs))).replaceAll('{time}', time);
}

function spawnWatchdog(deadlineMs: number, text: HardStopText, quiet = false): ChildProcess | undefined {
  const seconds = Math.max(0, deadlineMs - performance.now()) / 1000;
  const time = new Date(Date.now() + seconds * 1000).toISOString();
  const logLine = text.logFile && text.logLine ? fill(text.logLine, deadlineMs, time) : '';
  try {
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        WATCHDOG,
        'hactl-hard-stop',
        seconds.toFixed(3),
        String(process.pid),
        quiet ? '' : fill(text.stderr, deadlineMs, time),
        logLine ? text.logFile! : '',
        logLine,
      ],
      // Its own process group, so cancel() ends the sleep too; stderr shared for the one line.
      { detached: true, stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'] },
    );
    child.unref();
    // A watchdog that cannot start must not take the process down: the in-loop timers still apply.
    child.on('error', () => undefined);
    return child;
  } catch {
    return undefined;
  }
}

function stop(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * Active resources whose work may still run in libuv's threadpool, which process.exit() waits
 * for. A finished fs/promises request can linger in the list until it is collected: then the
 * exit path pays one more (quiet) watchdog, which is harmless.
 */
const THREADPOOL_WORK = /^(FSReq|GetAddrInfoReqWrap|GetNameInfoReqWrap)|Job$|^Zlib/;

const GENERIC: HardStopText = {
  stderr: 'hactl: hard stop: budget used up {elapsed} ms after start; killing the process\n',
};

/** Starts the watchdog; the process is SIGKILLed at `deadlineMs` unless it is cancelled or moved. */
export function startHardStop(deadlineMs: number, text: HardStopText = GENERIC): HardStop {
  let current = text;
  let deadline = deadlineMs;
  let child = spawnWatchdog(deadline, current);
  return {
    update(at, next) {
      stop(child);
      if (next) current = next;
      deadline = at;
      child = spawnWatchdog(deadline, current);
    },
    cancel() {
      stop(child);
      child = undefined;
    },
    cancelAtExit() {
      process.once('exit', () => {
        const exitMayHang = process.getActiveResourcesInfo().some((name) => THREADPOOL_WORK.test(name));
        stop(child);
        // Still armed, but holding none of our descriptors: whoever reads our stderr sees its end now.
        child = exitMayHang ? spawnWatchdog(deadline, current, true) : undefined;
      });
    },
  };
}
