/** hactl init: writes the annotated example spec to start from (never over an existing file). */
import { readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { exampleSpecPath } from '../spec/load.js';
import { commandParser } from './parse.js';

const USAGE = `hactl init [--out FILE] [--force]

Writes the annotated example spec (two nodes, inside + outside VIPs, nopreempt, nginx and MariaDB
checks, promote/demote actions) to FILE (default: hactl.yaml in the current directory).
Exit status: 0 written, 2 FILE exists (without --force), is a directory or cannot be written.`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('out', { type: 'string', default: 'hactl.yaml', describe: 'where to write the spec' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing file' })
    .parseAsync();
  const hint = 'run `hactl init --help` for the options';
  const problem = await problemWithUserPath(args.out, '--out');
  if (problem) throw new UsageError(problem, hint);
  const existing = await lstat(args.out).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new UsageError(`--out ${args.out} is a directory; give the path of the file to write`, hint);
  }
  if (existing && !args.force) {
    throw new UsageError(`${args.out} already exists; pass --force to overwrite it`, hint);
  }
  writeFileAtomic(args.out, readFileSync(exampleSpecPath(), 'utf8'), 0o644);
  process.stdout.write(`wrote ${args.out}; edit it, then run \`hactl lint --spec ${args.out}\`\n`);
  return 0;
}
