/** yargs set-up shared by the commands that are not on keepalived's hot path. */
import yargs, { type Argv } from 'yargs';
import { UsageError } from '../errors.js';

export function commandParser(argv: string[], usage: string): Argv {
  return yargs(argv)
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
