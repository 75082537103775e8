/**
 * The one error model: commands throw these, `src/run.ts` maps them to exit codes and messages.
 *
 * Exit codes (the README shows the same table; test/spec/exit-codes.test.ts holds both to it):
 *   0  the command did its work and found nothing wrong (healthy, valid, written)
 *   1  the command did its work and found problems (lint errors, an unhealthy check, a rejected
 *      rendered file, a failed action)
 *   2  usage or configuration error: the command could not start its work (bad flags, a spec or
 *      path that is missing, of the wrong kind, too large or invalid)
 *   3  unexpected error: a bug (the stack trace with --debug)
 *
 * Messages must never contain a secret: validators name the field, not the value, and every
 * message printed through run.ts is also cleaned of the secrets the spec loader saw.
 */
export const EXIT = { ok: 0, problems: 1, usage: 2, unexpected: 3 } as const;

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
    super(message, EXIT.usage);
    this.hint = hint;
  }
}

/** The spec file (or another configuration file or path) is unusable or invalid: exit 2. */
export class ConfigError extends HactlError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** A health check ran and found the service unhealthy: exit 1. */
export class CheckFailed extends HactlError {
  constructor(message: string) {
    super(message, EXIT.problems);
  }
}

/** A command ran to the end and found problems (lint errors, keepalived -t rejections, a failed action): exit 1. */
export class CommandFailed extends HactlError {
  constructor(message: string) {
    super(message, EXIT.problems);
  }
}

/** Exit code for a process that died from a signal, the way shells report it. */
export function signalExitCode(signalNumber: number): number {
  return 128 + signalNumber;
}

export const HIDDEN = 'the value (hidden)';

/** Whether `text` still carries `secret`, or (for a long secret) any 8 characters of it in a row. */
export function leaks(text: string, secret: string): boolean {
  if (secret.length < 4) return false;
  if (secret.length < 8) return text.includes(secret);
  const grams = new Set<string>();
  for (let i = 0; i + 8 <= text.length; i++) grams.add(text.slice(i, i + 8));
  for (let i = 0; i + 8 <= secret.length; i++) if (grams.has(secret.slice(i, i + 8))) return true;
  return false;
}

/** A string as messages quote it: JSON, cut at 40 characters. */
export function shown(value: string): string {
  return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
}

/** `text` with `secret` replaced in every form a message quotes values in (whole, JSON-quoted, cut at 40). */
function replaceForms(text: string, secret: string): string {
  const head = JSON.stringify(secret.slice(0, 40));
  const quoted = [shown(secret), JSON.stringify(secret), `${head}…`, head];
  // Unquoted, a very short secret would match ordinary words of the message.
  const bare = [JSON.stringify(secret).slice(1, -1), secret].filter((form) => form.length >= 4);
  let out = text;
  for (const form of [...quoted, ...bare].sort((a, b) => b.length - a.length)) {
    out = out.split(form).join(HIDDEN);
  }
  return out;
}

/**
 * A message about `secret` itself, without it: its quoted forms replaced, and `fallback` instead
 * when any 8 characters of it in a row would still show.
 */
export function scrubSecret(text: string, secret: string, fallback: string): string {
  if (secret.length === 0) return text;
  const out = replaceForms(text, secret);
  return leaks(out, secret) ? fallback : out;
}

/** Secrets seen in this process (spec passwords, env values, webhook URLs): never printed. */
const secrets = new Set<string>();

export function rememberSecret(value: string): void {
  if (value.length >= 4) secrets.add(value);
}

/** For a process that loads one spec after another (the corpus test): start from none. */
export function forgetSecrets(): void {
  secrets.clear();
}

/** `text` with every remembered secret taken out, longest first (a URL before the password in it). */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = replaceForms(out, secret);
  return out;
}
