/**
 * The one place that decides how a hactl process exits: commands throw typed errors
 * (src/errors.ts), this maps them to exit codes and messages. Shared by the general dispatcher
 * (src/cli.ts) and the pre-bundled `hactl check` entry (src/check-main.ts).
 */
import { HactlError, UsageError } from './errors.js';

export type CommandMain = (argv: string[]) => Promise<number | void>;

export async function runCommand(
  load: () => Promise<{ main: CommandMain }>,
  argv: string[],
): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const { main } = await load();
    return (await main(argv.filter((arg) => arg !== '--debug'))) ?? 0;
  } catch (error) {
    return reportError(error, debug);
  }
}

function reportError(error: unknown, debug: boolean): number {
  if (error instanceof HactlError) {
    process.stderr.write(`hactl: ${error.message}\n`);
    if (error instanceof UsageError && error.hint) process.stderr.write(`hint: ${error.hint}\n`);
    if (debug && error.stack) process.stderr.write(error.stack + '\n');
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hactl: unexpected error: ${message}\n`);
  if (debug && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
  else process.stderr.write('hint: run again with --debug for the stack trace\n');
  return 3;
}
