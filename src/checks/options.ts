/**
 * Small, dependency-free helpers every check kind uses to turn parseArgs values into options,
 * plus the pure parsers (status lists, body patterns) that deserve their own unit tests.
 * Everything throws UsageError so `hactl check` exits 2 with a hint.
 */
import { UsageError } from '../errors.js';
import type { FlagValues } from './types.js';

/** The --help lines of the flags `hactl check` adds to every kind (src/commands/check.ts). */
export const COMMON_FLAGS_USAGE = `  --quiet                print nothing when healthy
  --log-file PATH        append one JSON line per failure to PATH (rate-limited per check)
  --check-name NAME      the check's name in messages and log lines (default: the kind)`;

function hint(kind: string): string {
  return `run \`hactl check ${kind} --help\` for the flags`;
}

export function stringFlag(values: FlagValues, name: string, kind: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UsageError(`--${name} takes a value`, hint(kind));
  if (value === '') throw new UsageError(`--${name} must not be empty`, hint(kind));
  return value;
}

export function requiredString(values: FlagValues, name: string, kind: string): string {
  const value = stringFlag(values, name, kind);
  if (value === undefined) throw new UsageError(`hactl check ${kind} needs --${name}`, hint(kind));
  return value;
}

export function stringList(values: FlagValues, name: string, kind: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    if (typeof item !== 'string') throw new UsageError(`--${name} takes a value`, hint(kind));
    return item;
  });
}

/**
 * A value that goes onto a protocol line or into a name lookup (URL, Host header, host names):
 * no control characters (CR/LF would inject a header line) and no whitespace. The spec's rule for
 * these params (fields.ts safeToken) is stricter, so whatever a spec renders passes here too.
 * `shown` is how the value may appear in the message (a URL may carry a password).
 */
export function wireValue(value: string, name: string, kind: string, shown = JSON.stringify(value)): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (
      code <= 0x20 ||
      code === 0x7f ||
      code === 0x85 ||
      code === 0xa0 ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      const what =
        code === 0x0d || code === 0x0a
          ? 'a line break'
          : code === 0x20
            ? 'a space'
            : 'a control or space character';
      throw new UsageError(
        `--${name} ${shown} contains ${what} (character ${i + 1}); it would reach the wire as is, so it is refused`,
        `give --${name} without spaces or control characters; ${hint(kind)}`,
      );
    }
  }
  return value;
}

/** Printable ASCII only (a Host header; write an international name in its xn-- form). */
export function asciiWireValue(value: string, name: string, kind: string): string {
  wireValue(value, name, kind);
  if (/[^\x21-\x7e]/.test(value)) {
    throw new UsageError(
      `--${name} ${JSON.stringify(value)} is not printable ASCII`,
      `write an international name in its punycode (xn--) form; ${hint(kind)}`,
    );
  }
  return value;
}

export function booleanFlag(values: FlagValues, name: string): boolean {
  return values[name] === true;
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** Seconds as a decimal ("0.8", "2"); returns milliseconds. */
export function parseSeconds(
  text: string,
  name: string,
  range: { min: number; max: number },
  kind = '',
): number {
  const seconds = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds < range.min || seconds > range.max) {
    throw new UsageError(
      `--${name} ${JSON.stringify(text)} is not a number of seconds in ${range.min}..${range.max}`,
      kind ? hint(kind) : 'e.g. --timeout 0.8',
    );
  }
  return Math.round(seconds * 1000);
}

export function secondsFlag(
  values: FlagValues,
  name: string,
  kind: string,
  range: { min: number; max: number; default: number },
): number {
  const text = stringFlag(values, name, kind);
  return text === undefined ? Math.round(range.default * 1000) : parseSeconds(text, name, range, kind);
}

export function intFlag(
  values: FlagValues,
  name: string,
  kind: string,
  range: { min: number; max: number; default?: number },
): number | undefined {
  const text = stringFlag(values, name, kind);
  if (text === undefined) return range.default;
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new UsageError(
      `--${name} ${JSON.stringify(text)} is not an integer in ${range.min}..${range.max}`,
      hint(kind),
    );
  }
  return value;
}

/** A set of accepted HTTP statuses: `200`, `200,204`, `200-299,301-302`. */
export type StatusSet = ReadonlyArray<readonly [number, number]>;

export function parseStatusList(text: string): StatusSet {
  const ranges = text.split(',').map((part): [number, number] => {
    const match = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(part);
    const low = Number(match?.[1]);
    const high = match?.[2] === undefined ? low : Number(match[2]);
    if (!match || low < 100 || high > 599 || high < low) {
      throw new UsageError(
        `--expect-status ${JSON.stringify(text)}: ${JSON.stringify(part.trim())} is not a status or range of statuses`,
        'use a list of 3-digit codes and ranges, e.g. --expect-status 200,301-302',
      );
    }
    return [low, high];
  });
  return ranges;
}

export function statusAccepted(status: number, accepted: StatusSet): boolean {
  return accepted.some(([low, high]) => status >= low && status <= high);
}

export function describeStatuses(accepted: StatusSet): string {
  return accepted.map(([low, high]) => (low === high ? String(low) : `${low}-${high}`)).join(',');
}

/** `/regex/flags` is a regular expression; anything else is a plain substring. */
export type BodyPattern = { kind: 'substring'; text: string } | { kind: 'regex'; regex: RegExp };

export function parseBodyPattern(text: string): BodyPattern {
  const match = /^\/(.+)\/([dgimsuvy]*)$/s.exec(text);
  if (!match) return { kind: 'substring', text };
  const flags = match[2] ?? '';
  if (/[gy]/.test(flags)) {
    throw new UsageError(
      `--expect-body ${JSON.stringify(text)}: flags g and y make no sense for one match`,
      'use e.g. /ok/i',
    );
  }
  try {
    return { kind: 'regex', regex: new RegExp(match[1]!, flags) };
  } catch (error) {
    throw new UsageError(
      `--expect-body ${JSON.stringify(text)} is not a valid regular expression: ${(error as Error).message}`,
      'write /pattern/flags for a regular expression, anything else is matched as plain text',
    );
  }
}

/**
 * Synchronous and unbounded for a regex: never on a peer's answer inside a budget (the http check
 * matches through src/bounded/regex-match.ts); kept for checking a pattern against known text.
 */
export function bodyMatches(body: string, pattern: BodyPattern): boolean {
  return pattern.kind === 'substring' ? body.includes(pattern.text) : pattern.regex.test(body);
}

export function describePattern(pattern: BodyPattern): string {
  return pattern.kind === 'substring' ? JSON.stringify(pattern.text) : String(pattern.regex);
}

/** Why the signal aborted, for a one-line detail ("no response: check budget of 0.8 s used up"). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : 'aborted';
}

export function elapsedSince(start: number): string {
  return `${Math.round(performance.now() - start)} ms`;
}
