/**
 * The one place that decides how a hactl process exits: commands throw typed errors
 * (src/errors.ts), this maps them to exit codes and messages. Shared by the general dispatcher
 * (src/cli.ts) and the pre-bundled `hactl check` entry (src/check-main.ts).
 */
import { EXIT, HactlError, redactSecrets, UsageError } from './errors.js';

export type CommandMain = (argv: string[]) => Promise<number | void>;

export async function runCommand(
  load: () => Promise<{ main: CommandMain }>,
  argv: string[],
): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    const { main } = await load();
    return (await main(argv.filter((arg) => arg !== '--debug'))) ?? EXIT.ok;
  } catch (error) {
    return reportError(error, debug);
  }
}

/**
 * Errors of a path the operator chose (an output file that is a directory, a parent that is a
 * file, no permission): the operator's to fix, so exit 2 with what the code means, not 3.
 */
const PATH_ERRORS: Record<string, string> = {
  EISDIR: 'it is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EEXIST: 'it already exists',
  ENOENT: 'it or its directory does not exist',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function pathError(error: unknown): string | undefined {
  const { code, path, dest, syscall } = error as NodeJS.ErrnoException & { dest?: string };
  if (code === undefined || typeof path !== 'string' || !Object.hasOwn(PATH_ERRORS, code)) return undefined;
  const target = code === 'EISDIR' || code === 'EEXIST' ? (dest ?? path) : path;
  return `cannot ${syscall ?? 'use'} ${target}: ${PATH_ERRORS[code]} (${code}); choose another path or fix this one`;
}

function write(text: string): void {
  process.stderr.write(redactSecrets(text));
}

function reportError(error: unknown, debug: boolean): number {
  if (error instanceof HactlError) {
    write(`hactl: ${error.message}\n`);
    if (error instanceof UsageError && error.hint) write(`hint: ${error.hint}\n`);
    if (debug && error.stack) write(error.stack + '\n');
    return error.exitCode;
  }
  const path = pathError(error);
  if (path !== undefined) {
    write(`hactl: ${path}\n`);
    if (debug && error instanceof Error && error.stack) write(error.stack + '\n');
    return EXIT.usage;
  }
  const message = error instanceof Error ? error.message : String(error);
  write(`hactl: unexpected error: ${message}\n`);
  if (debug && error instanceof Error && error.stack) write(error.stack + '\n');
  else write('hint: run again with --debug for the stack trace\n');
  return EXIT.unexpected;
}
