/**
 * Flag parsing for the commands that parse with node:util instead of yargs (agent, status, sync,
 * switchover): the parts every one of them had a copy of. Kept apart from parse.ts, whose static `import yargs`
 * would otherwise be loaded (some 150 ms on a busy node) by every `hactl status` a monitor runs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

/** --spec and --node as every per-node command takes them. */
export const SPEC_AND_NODE = {
  spec: { type: 'string', default: '/etc/hactl/hactl.yaml' },
  node: { type: 'string' },
} as const;

const HELP_FLAG = { help: { type: 'boolean', short: 'h', default: false } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: false; options: O & typeof HELP_FLAG }>
>['values'];

/**
 * `hactl <command>`'s flags (no positionals; -h/--help added), or undefined once `help` has been
 * printed for --help. A flag parseArgs refuses is a UsageError naming it, with the --help hint.
 */
export function commandFlags<O extends Options>(
  command: string,
  help: string,
  argv: string[],
  options: O,
): Values<O> | undefined {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, allowPositionals: false, options: { ...options, ...HELP_FLAG } }));
  } catch (error) {
    throw new UsageError((error as Error).message, `run \`hactl ${command} --help\` for the options`);
  }
  if (values.help === true) {
    process.stdout.write(help + '\n');
    return undefined;
  }
  // parseArgs types its result from the options' literal types, which a generic O hides here.
  return values as Values<O>;
}

/** A plain decimal number of seconds within min..max, else a UsageError naming --flag. */
export function secondsFlag(flag: string, text: string, min: number, max: number, example: number): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < min || value > max)
    throw new UsageError(
      `--${flag} ${text} is not a number of seconds in ${min}..${max}`,
      `e.g. --${flag} ${example}`,
    );
  return value;
}
