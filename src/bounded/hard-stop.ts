/**
 * The last line of defence of a process with a time budget: a tiny watchdog process (bash, its
 * input a pipe from this process) that, if the deadline passes, writes one line to stderr, SIGKILLs
 * this process and appends one JSON line to the log. It needs nothing from this process, so it holds
 * even when the event loop is stuck in a synchronous call (a regex, a recursive mkdir under /proc, a
 * bug) where no timer can fire — and when process.exit() itself hangs (it waits for libuv's
 * threadpool, which a DNS lookup or an open of a FIFO can hold forever). Process-level only: a
 * long-lived process never uses it on itself; it abandons work with raceDeadline (./deadline.ts).
 *
 * The watchdog waits with `read -t` on the pipe: when this process ends, however it ends, the pipe
 * reaches end-of-file and the watchdog ends too, at once (no kill to send, no orphan, no PID that
 * could have been reused); a line on the pipe moves the deadline. Why a process and not a worker
 * thread: a worker boots a whole Node.js environment (~10 MB more peak RSS once it is up, which put
 * the mysql/replication checks over their 60 MB target, and more CPU), measured with
 * `npm run bench:checks`; the watchdog costs one fork/exec.
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
}

// $1 seconds, $2 our PID, $3 stderr line, $4 log file (may be empty), $5 log line; later lines on
// stdin carry the same four fields (seconds, stderr line, log file, log line) separated by 0x1f.
// The log is appended after the kill: a FIFO or a hung filesystem there cannot delay the stop.
const WATCHDOG = `t=$1 msg=$3 logf=$4 logl=$5
while :; do
  IFS=$'\\x1f' read -t "$t" -r nt nmsg nlogf nlogl
  rc=$?
  [ "$rc" -gt 128 ] && break
  [ "$rc" -eq 0 ] || exit 0
  t=$nt msg=$nmsg logf=$nlogf logl=$nlogl
done
[ -z "$msg" ] || printf '%s\\n' "$msg" >&2
kill -9 "$2"
[ -n "$logf" ] && { [ -f "$logf" ] || [ ! -e "$logf" ]; } && printf '%s\\n' "$logl" >> "$logf"
exit 0`;

const SEPARATOR = '\x1f';

function fill(text: string, elapsedMs: number, time: string): string {
  return text
    .replaceAll('{elapsed}', String(Math.round(elapsedMs)))
    .replaceAll('{time}', time)
    .replace(/\n$/, '');
}

/** The four fields for the watchdog; none may hold a line break or the separator. */
function fields(deadlineMs: number, text: HardStopText): string[] {
  const seconds = Math.max(0.001, (deadlineMs - performance.now()) / 1000);
  const time = new Date(Date.now() + seconds * 1000).toISOString();
  const logLine = text.logFile && text.logLine ? fill(text.logLine, deadlineMs, time) : '';
  const clean = (value: string) => value.replaceAll('\n', ' ').replaceAll(SEPARATOR, ' ');
  return [
    seconds.toFixed(3),
    clean(fill(text.stderr, deadlineMs, time)),
    logLine ? clean(text.logFile!) : '',
    clean(logLine),
  ];
}

function spawnWatchdog(deadlineMs: number, text: HardStopText): ChildProcess | undefined {
  const [seconds, stderrLine, logFile, logLine] = fields(deadlineMs, text);
  try {
    const child = spawn(
      '/bin/bash',
      // --norc: bash would otherwise source ~/.bashrc, as it does when its input is a socket.
      [
        '--norc',
        '--noprofile',
        '-c',
        WATCHDOG,
        'hactl-hard-stop',
        seconds!,
        String(process.pid),
        stderrLine!,
        logFile!,
        logLine!,
      ],
      // Builtins only (read, printf, kill, [): no environment to copy.
      { stdio: ['pipe', 'ignore', 'inherit'], env: {} },
    );
    // Neither the watchdog nor its pipe keeps this process alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    // A watchdog that cannot start must not take the process down: the in-loop timers still apply.
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    return child;
  } catch {
    return undefined;
  }
}

const GENERIC: HardStopText = {
  stderr: 'hactl: hard stop: budget used up {elapsed} ms after start; killing the process\n',
};

/** Starts the watchdog; the process is SIGKILLed at `deadlineMs` unless it has ended or cancelled first. */
export function startHardStop(deadlineMs: number, text: HardStopText = GENERIC): HardStop {
  let current = text;
  let child = spawnWatchdog(deadlineMs, current);
  return {
    update(at, next) {
      if (next) current = next;
      child?.stdin?.write(fields(at, current).join(SEPARATOR) + '\n');
    },
    cancel() {
      child?.stdin?.destroy();
      child = undefined;
    },
  };
}
