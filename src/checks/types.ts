/**
 * The contract every check kind implements. A check is (options, AbortSignal) → CheckResult;
 * it never throws for "unhealthy" (that is a result), only for a configuration mistake
 * (ConfigError / UsageError), and it stops promptly when the signal aborts.
 */
import type { ParseArgsConfig } from 'node:util';

export interface CheckResult {
  healthy: boolean;
  /** One line a person can read: why it is unhealthy, or what was seen when healthy. */
  detail: string;
}

export type CheckFlags = NonNullable<ParseArgsConfig['options']>;
export type FlagValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CheckKind<Options> {
  /** e.g. "http"; also the name used in the spec's `checks[].kind`. */
  kind: string;
  /** One line for `hactl check --help`. */
  summary: string;
  /** Full `--help` text for `hactl check <kind> --help`. */
  usage: string;
  /** node:util parseArgs options for this kind's flags (common flags are added by the command). */
  flags: CheckFlags;
  /** Turns parsed flags (or a spec check's params, same names) into validated options; throws UsageError. */
  fromFlags(values: FlagValues): Options;
  /**
   * `abortAtMs` (performance.now() clock) is when `signal` will abort, for work that cannot listen
   * to a signal while it runs (a regex match is cut off by V8 at that time instead).
   */
  run(options: Options, signal: AbortSignal, abortAtMs?: number): Promise<CheckResult>;
}
