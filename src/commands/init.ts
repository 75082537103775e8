/** hactl init: writes the annotated example spec to start from (never over an existing file). */
import { readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { ADMIN_ACCOUNT, REPLICATION_ACCOUNT, type AccountGrants } from '../mysql/grants.js';
import { exampleSpecPath } from '../spec/load.js';
import { commandParser } from './parse.js';

const USAGE = `hactl init [--out FILE] [--force]

Writes the annotated example spec (two nodes, inside + outside VIPs, nopreempt, nginx and MariaDB
checks, promote/demote actions) to FILE (default: hactl.yaml in the current directory).
Exit status: 0 written, 2 FILE exists (without --force), is a directory or cannot be written.
It asks nothing: edit the file, then \`hactl lint --spec FILE\`.

Example:
  hactl init --out /etc/hactl/hactl.yaml && hactl lint --spec /etc/hactl/hactl.yaml`;

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
  process.stdout.write(
    `wrote ${args.out}; edit it, then run \`hactl lint --spec ${args.out}\`\n\n${grantsText()}`,
  );
  return 0;
}

/** The two MySQL accounts the spec names, with the exact grants, for the operator to create. */
function grantsText(): string {
  const account = (user: string, grants: AccountGrants) =>
    [
      `  ${user}: ${grants.purpose}`,
      `    MariaDB: GRANT ${grants.mariadb} TO '${user}'@'%';`,
      `    MySQL:   GRANT ${grants.mysql} TO '${user}'@'%';`,
    ].join('\n');
  return [
    'MySQL accounts to create on every node (after SET SESSION sql_log_bin=0, so the GTIDs of the pair stay equal):',
    account('hactl', ADMIN_ACCOUNT),
    account('hactl_repl', REPLICATION_ACCOUNT),
    '',
  ].join('\n');
}
