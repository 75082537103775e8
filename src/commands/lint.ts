/** hactl lint: schema problems, keepalived's priority/weight maths and the seeds' traps. */
import { CommandFailed, ConfigError } from '../errors.js';
import { lintSpec, type Finding } from '../keepalived/lint.js';
import { scriptSecurityProblem } from '../keepalived/script-security.js';
import { exampleSpecPath, loadSpec, SpecInvalid } from '../spec/load.js';
import { commandParser } from './parse.js';

const USAGE = `hactl lint [--spec FILE] [--strict] [--local]

Checks a spec the way keepalived would read the rendered configs: every check must be able to move
the VIPs when it fails on the MASTER, the preferred node must win when all is healthy, and the known
traps (priority 255, fractional advert_int on VRRPv2, auth_pass over 8 characters, duplicate
virtual_router_id, a VIP equal to a node address) are refused. Exit 1 on errors; warnings exit 0
unless --strict. --local also checks, on this machine, that keepalived's script security accepts
the hactl path.`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('spec', { type: 'string', describe: 'spec file (YAML); default: the bundled example' })
    .option('strict', { type: 'boolean', default: false, describe: 'warnings fail too' })
    .option('local', { type: 'boolean', default: false, describe: 'also check script paths on this machine' })
    .parseAsync();

  const path = args.spec ?? exampleSpecPath();
  let findings: Finding[];
  try {
    const { spec } = loadSpec(path);
    findings = lintSpec(spec);
    if (args.local) {
      const problem = scriptSecurityProblem(spec.paths.hactl);
      if (problem) {
        findings.push({
          severity: 'error',
          path: 'paths.hactl',
          message: `keepalived's script security would refuse it: ${problem}`,
        });
      }
    }
  } catch (error) {
    if (!(error instanceof SpecInvalid))
      throw error instanceof ConfigError ? new CommandFailed(error.message) : error;
    findings = error.problems.map((problem) => {
      const at = problem.indexOf(': ');
      return { severity: 'error', path: problem.slice(0, at), message: problem.slice(at + 2) };
    });
  }

  for (const finding of findings) {
    process.stdout.write(`${finding.severity}: ${finding.path}: ${finding.message}\n`);
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  process.stdout.write(`${path}: ${errors} error(s), ${warnings} warning(s)\n`);
  return errors > 0 || (args.strict && warnings > 0) ? 1 : 0;
}
