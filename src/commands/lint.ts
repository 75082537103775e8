/** hactl lint: schema problems, keepalived's priority/weight maths and the seeds' traps. */
import { redactSecrets, UsageError } from '../errors.js';
import { lintSpec } from '../keepalived/lint.js';
import { scriptSecurityProblem } from '../keepalived/script-security.js';
import { exampleSpecPath, formatProblem, loadSpec, SpecInvalid, type SpecProblem } from '../spec/load.js';
import { commandParser } from './parse.js';

const USAGE = `hactl lint [--spec FILE] [--strict] [--local] [--json]
       hactl lint --keepalived-conf NODE1.conf [NODE2.conf] [--scripts-dir DIR] [--no-keepalived-t] [--json]

Checks a spec the way keepalived would read the rendered configs: every check must be able to move
the VIPs when it fails on the MASTER, the preferred node must win when all is healthy, and the known
traps (priority 255, fractional advert_int on VRRPv2, auth_pass over 8 characters, duplicate
virtual_router_id, a VIP equal to a node address) are refused. --local also checks, on this
machine, that keepalived's script security accepts the hactl path. FILE "-" reads standard input.

Each finding names the spec path and, below it, the file's line and column. --json prints one
object instead: {"spec", "errors", "warnings", "findings": [{"severity", "path", "line", "column",
"message"}]} (line and column are null for a finding about a field the file leaves out).

--keepalived-conf reads keepalived.conf files you already run instead of a spec, one per node, and
explains their traps with file:line: misspelled keywords and blocks (with the nearest real
keyword), stray or missing braces, weights that cannot flip the election, nopreempt under state
MASTER, weighted scripts dropped in a sync group, auth_pass over 8 characters, check scripts that
cannot fail (a script file is read when its path, or its name under --scripts-dir, is readable),
what the installed \`keepalived -t\` rejects, and the two nodes disagreeing on virtual_router_id,
VIPs or authentication. include is reported, not followed. A missing or unreadable file exits 2.

Exit status: 0 no errors (warnings allowed unless --strict), 1 errors found (YAML and schema
problems included), 2 the file cannot be read as a spec (missing, not a regular file, over 1 MiB)
or bad flags.

Examples:
  hactl lint --spec /etc/hactl/hactl.yaml --local
  hactl lint --spec hactl.yaml --json | jq '.findings[] | select(.severity == "error")'
  hactl lint --keepalived-conf server1/keepalived.conf server2/keepalived.conf --scripts-dir server1/scripts`;

interface Finding extends SpecProblem {
  severity: 'error' | 'warning';
}

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('spec', {
      type: 'string',
      describe: 'spec file (YAML), - for stdin; default: the bundled example',
    })
    .option('strict', { type: 'boolean', default: false, describe: 'warnings fail too' })
    .option('local', { type: 'boolean', default: false, describe: 'also check script paths on this machine' })
    .option('json', { type: 'boolean', default: false, describe: 'print the findings as one JSON object' })
    .option('keepalived-conf', {
      type: 'string',
      array: true,
      describe: 'lint existing keepalived.conf files instead of a spec (one per node)',
    })
    .option('scripts-dir', {
      type: 'string',
      describe:
        'with --keepalived-conf: look for check scripts here by file name when their path is not readable',
    })
    .option('keepalived-t', {
      type: 'boolean',
      default: true,
      describe: 'with --keepalived-conf: also run the installed keepalived -t on each file',
    })
    .parseAsync();

  const confs = args['keepalived-conf'];
  if (confs !== undefined) {
    if (args.spec !== undefined)
      throw new UsageError('--spec and --keepalived-conf exclude each other', 'lint one or the other');
    if (confs.length === 0)
      throw new UsageError('--keepalived-conf needs at least one file', 'give one keepalived.conf per node');
    const { lintConfFiles } = await import('../migrate/lint-confs.js');
    return lintConfFiles({
      files: confs,
      scriptsDir: args['scripts-dir'],
      keepalivedT: args['keepalived-t'],
      json: args.json,
      strict: args.strict,
    });
  }
  if (args['scripts-dir'] !== undefined) throw new UsageError('--scripts-dir needs --keepalived-conf');

  const path = args.spec ?? exampleSpecPath();
  let findings: Finding[];
  try {
    // A spec file that cannot be read (SpecFileError) is not a finding: it propagates, exit 2.
    const loaded = loadSpec(path);
    findings = lintSpec(loaded.spec).map((finding) => ({ ...finding, ...loaded.locate(finding.path) }));
    if (args.local) {
      const problem = scriptSecurityProblem(loaded.spec.paths.hactl);
      if (problem) {
        findings.push({
          severity: 'error',
          path: 'paths.hactl',
          message: `keepalived's script security would refuse it: ${problem}`,
          ...loaded.locate('paths.hactl'),
        });
      }
    }
  } catch (error) {
    if (!(error instanceof SpecInvalid)) throw error;
    findings = error.findings.map((problem) => ({ severity: 'error', ...problem }));
  }
  findings = findings.map((finding) => ({ ...finding, message: redactSecrets(finding.message) }));

  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  if (args.json) {
    const report = {
      spec: path,
      errors,
      warnings,
      findings: findings.map(({ severity, path: at, line, column, message }) => ({
        severity,
        path: at,
        line: line ?? null,
        column: column ?? null,
        message,
      })),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    for (const finding of findings) {
      process.stdout.write(`${finding.severity}: ${formatProblem(finding, path)}\n`);
    }
    process.stdout.write(`${path}: ${errors} error(s), ${warnings} warning(s)\n`);
  }
  return errors > 0 || (args.strict && warnings > 0) ? 1 : 0;
}
