/** hactl import: the keepalived.conf files a pair runs today → an hactl spec to review. */
import { lstat } from 'node:fs/promises';
import { CommandFailed, UsageError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { importPair, ImportRefused } from '../migrate/import.js';
import { readConfs } from '../migrate/lint-confs.js';
import { commandParser } from './parse.js';

const USAGE = `hactl import NODE1.conf NODE2.conf [--out FILE] [--force] [--scripts-dir DIR]

Reads the keepalived.conf of each node of a pair (one file per node, preferred node first) and
writes the equivalent hactl spec for review: nodes, VIPs, virtual_router_ids, advert interval,
authentication, nopreempt, the tracked scripts as hactl checks where their kind is recognised, and
mysql.promote/mysql.demote (and atlas) actions when the notify scripts promoted MySQL. Whatever the
files do not say is guessed and marked "# GUESSED:"; what hactl does differently is marked
"# NOT IMPORTED:". Scripts are read from their paths, or by file name under --scripts-dir.
Without --out the spec goes to stdout. The spec holds the VRRP password: --out writes it mode 0600.
Run \`hactl lint --keepalived-conf\` on the same files first to see their traps.

Exit status: 0 written, 1 the files cannot be turned into a spec (e.g. no vrrp_instance),
2 a file cannot be read, FILE exists (without --force) or bad flags.

Examples:
  hactl import server1/keepalived.conf server2/keepalived.conf --scripts-dir server1/sh --out hactl.yaml
  hactl import a.conf b.conf | hactl lint --spec -`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .strict(false)
    .strictOptions()
    .positional('files', { type: 'string', array: true, describe: 'keepalived.conf of each node' })
    .option('out', { type: 'string', describe: 'write the spec here instead of stdout' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing --out file' })
    .option('scripts-dir', {
      type: 'string',
      describe: 'look for check and notify scripts here by file name when their path is not readable',
    })
    .parseAsync();
  const hint = 'run `hactl import --help` for the options';
  const files = args._.map(String);
  if (files.length !== 2)
    throw new UsageError(`import needs two keepalived.conf files, one per node (got ${files.length})`, hint);
  if (args.out !== undefined) {
    const problem = await problemWithUserPath(args.out, '--out');
    if (problem) throw new UsageError(problem, hint);
    const existing = await lstat(args.out).catch(() => undefined);
    if (existing?.isDirectory())
      throw new UsageError(`--out ${args.out} is a directory; give the path of the file to write`, hint);
    if (existing && !args.force)
      throw new UsageError(`--out ${args.out} already exists; pass --force to overwrite it`, hint);
  }
  const confs = await readConfs(files, 'import:');
  let result;
  try {
    result = await importPair(
      confs.map((c) => c.parsed),
      { sources: files, ...(args['scripts-dir'] ? { scriptsDir: args['scripts-dir'] } : {}) },
    );
  } catch (error) {
    if (error instanceof ImportRefused) throw new CommandFailed(`cannot import: ${error.message}`);
    throw error;
  }
  const syntax = confs.flatMap((c) =>
    c.parsed.problems.filter((p) => p.kind !== 'include').map((p) => `${c.parsed.file}:${p.line}`),
  );
  if (syntax.length) {
    process.stderr.write(
      `note: ${syntax.join(', ')}: brace problems; the spec follows the blocks as keepalived would nest them — run \`hactl lint --keepalived-conf\` on these files\n`,
    );
  }
  if (args.out === undefined) {
    process.stdout.write(result.yaml + '\n');
  } else {
    writeFileAtomic(args.out, result.yaml + '\n', 0o600);
    process.stdout.write(`wrote ${args.out}; review it, then run \`hactl lint --spec ${args.out}\`\n`);
  }
  for (const note of result.notes) process.stderr.write(`review: ${note}\n`);
  return 0;
}
