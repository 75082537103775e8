/**
 * pino set-up shared by every command that logs. Logs are JSON lines with an `event` field; secrets
 * are redacted by key wherever they appear. Writes are synchronous: notify and check processes are
 * short-lived and must not lose their last lines on exit.
 */
import pino, { type Logger } from 'pino';

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

export function createLogger(options: LogOptions = {}): Logger {
  const destination = options.file
    ? pino.destination({ dest: options.file, mkdir: true, sync: true, append: true })
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
