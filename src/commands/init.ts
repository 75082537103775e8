/** hactl init: writes the annotated example spec to start from (never over an existing file). */
import { existsSync, readFileSync } from 'node:fs';
import { CommandFailed } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { exampleSpecPath } from '../spec/load.js';
import { commandParser } from './parse.js';

const USAGE = `hactl init [--out FILE] [--force]

Writes the annotated example spec (two nodes, inside + outside VIPs, nopreempt, nginx and MariaDB
checks, promote/demote actions) to FILE (default: hactl.yaml in the current directory).`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('out', { type: 'string', default: 'hactl.yaml', describe: 'where to write the spec' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing file' })
    .parseAsync();
  if (existsSync(args.out) && !args.force) {
    throw new CommandFailed(`${args.out} already exists; pass --force to overwrite it`);
  }
  writeFileAtomic(args.out, readFileSync(exampleSpecPath(), 'utf8'), 0o644);
  process.stdout.write(`wrote ${args.out}; edit it, then run \`hactl lint --spec ${args.out}\`\n`);
  return 0;
}
