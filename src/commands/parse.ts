/** yargs set-up shared by the commands that are not on keepalived's hot path. */
import yargs, { type Argv } from 'yargs';
import { UsageError } from '../errors.js';

/** `--spec -` (stdin): yargs takes a lone "-" for a positional, so it is glued to its flag. */
function glueDash(argv: string[]): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    const last = out[out.length - 1];
    if (arg === '-' && last !== undefined && /^--[a-z][a-z-]*$/.test(last)) out[out.length - 1] = `${last}=-`;
    else out.push(arg);
  }
  return out;
}

export function commandParser(argv: string[], usage: string): Argv {
  return yargs(glueDash(argv))
    .scriptName('hactl')
    .usage(usage)
    .strict()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(message, `run \`hactl ${usage.split(' ')[1] ?? ''} --help\` for the options`);
    });
}
