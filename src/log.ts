/**
 * pino set-up shared by every command that logs. Logs are JSON lines with an `event` field; secrets
 * are redacted by key wherever they appear. Writes are synchronous: notify and check processes are
 * short-lived and must not lose their last lines on exit.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { ConfigError } from './errors.js';
import { problemWithUserPath } from './fs/user-path.js';

export type { Logger };

const REDACT = [
  'password',
  'passwd',
  'auth_pass',
  '*.password',
  '*.passwd',
  '*.auth_pass',
  '*.*.password',
  'err.config.password',
];

export interface LogOptions {
  /** Append JSON lines here; stderr when absent. */
  file?: string | undefined;
  level?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Fields on every line, e.g. { command: 'notify', node: 'ha1' }. */
  base?: Record<string, unknown>;
}

/** Log lines name databases, hosts and decisions: readable by the owner's group (adm), not by all. */
export const LOG_FILE_MODE = 0o640;

function pinoOptions(options: LogOptions): pino.LoggerOptions {
  return {
    level: options.level ?? 'info',
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(options: LogOptions = {}): Logger {
  if (options.file !== undefined && /^\/(proc|sys)(\/|$)/.test(resolve(options.file))) {
    // Recursive mkdir loops forever below /proc on Node 20; nothing there is a log file anyway.
    throw new ConfigError(`log file ${options.file} is on a pseudo-filesystem; choose a path under /var/log`);
  }
  const destination = options.file
    ? pino.destination({ dest: options.file, mkdir: true, sync: true, append: true, mode: LOG_FILE_MODE })
    : pino.destination({ fd: 2, sync: true });
  return pino(pinoOptions(options), destination);
}

export interface LongLivedLogger {
  log: Logger;
  /** Writes out what is buffered for the file (bounded); stderr needs nothing. */
  close(): Promise<void>;
}

const CLOSE_BOUND_MS = 2_000;

/**
 * For the agent: every line goes to stderr (the journal under systemd) and, when the spec names
 * one, to logging.file as well, so check failures and transitions land where notify and the
 * spawned checks write theirs. The file is written asynchronously (a long-lived loop must not block
 * on an operator's path) and vetted first: Node 20's recursive mkdir never returns under /proc.
 */
export async function createLongLivedLogger(
  options: LogOptions & { fileField: string },
): Promise<LongLivedLogger> {
  const stderr = pino.destination({ fd: 2, sync: true });
  if (options.file === undefined) {
    return { log: pino(pinoOptions(options), stderr), close: () => Promise.resolve() };
  }
  const problem = await problemWithUserPath(dirname(resolve(options.file)), options.fileField);
  if (problem) throw new ConfigError(problem);
  await mkdir(dirname(resolve(options.file)), { recursive: true });
  const file = pino.destination({
    dest: options.file,
    sync: false,
    append: true,
    mode: LOG_FILE_MODE,
  });
  let failed = false;
  file.on('error', (error: Error) => {
    // Said once on stderr; the journal keeps every line regardless.
    if (failed) return;
    failed = true;
    stderr.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), event: 'log.file_failed', file: options.file, reason: error.message })}\n`,
    );
  });
  // Levels are filtered by the logger (a reload may change it), so both streams take everything.
  const streams = pino.multistream([
    { level: 'trace', stream: stderr },
    { level: 'trace', stream: file },
  ]);
  return {
    log: pino(pinoOptions(options), streams),
    close: () =>
      // Flushed, not ended: a late line from work abandoned at exit must not throw on a closed
      // stream; the process's exit closes the file.
      new Promise<void>((done) => {
        const timer = setTimeout(done, CLOSE_BOUND_MS);
        try {
          file.flush(() => {
            clearTimeout(timer);
            done();
          });
        } catch {
          clearTimeout(timer);
          done();
        }
      }),
  };
}
