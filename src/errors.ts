/**
 * The one error model: commands throw these, `src/cli.ts` maps them to exit codes.
 * Messages must never contain a secret (passwords, auth_pass).
 */
export class HactlError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad flags or arguments: exit 2 with a hint about the right usage. */
export class UsageError extends HactlError {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message, 2);
    this.hint = hint;
  }
}

/** The spec file (or another configuration file) is unreadable or invalid: exit 2. */
export class ConfigError extends HactlError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A health check ran and found the service unhealthy: exit 1. */
export class CheckFailed extends HactlError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** A command ran to the end and found problems (lint errors, keepalived -t rejections, a failed action): exit 1. */
export class CommandFailed extends HactlError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Exit code for a process that died from a signal, the way shells report it. */
export function signalExitCode(signalNumber: number): number {
  return 128 + signalNumber;
}
