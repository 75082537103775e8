/**
 * pino set-up shared by every command that logs. Logs are JSON lines with an `event` field; secrets
 * are redacted by key wherever they appear. Writes are synchronous: notify and check processes are
 * short-lived and must not lose their last lines on exit.
 */
import { resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { ConfigError } from './errors.js';

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

export function createLogger(options: LogOptions = {}): Logger {
  if (options.file !== undefined && /^\/(proc|sys)(\/|$)/.test(resolve(options.file))) {
    // Recursive mkdir loops forever below /proc on Node 20; nothing there is a log file anyway.
    throw new ConfigError(`log file ${options.file} is on a pseudo-filesystem; choose a path under /var/log`);
  }
  const destination = options.file
    ? pino.destination({ dest: options.file, mkdir: true, sync: true, append: true, mode: LOG_FILE_MODE })
    : pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
