/** `hactl lint --keepalived-conf FILE…`: read the files, run the rules, print like `hactl lint`. */
import { ConfigError, redactSecrets } from '../errors.js';
import { keepalivedComplaints } from './keepalived-t.js';
import { parseKeepalivedConf, type ParsedConf } from './parse.js';
import { readBoundedText, CONF_SIZE_LIMIT } from './read.js';
import { lintConfs, type ConfFinding } from './rules.js';

export interface ConfLintArgs {
  files: string[];
  scriptsDir?: string | undefined;
  keepalivedT: boolean;
  json: boolean;
  strict: boolean;
}

/** Every file read and parsed, or a ConfigError (exit 2) naming the one that cannot be read. */
export async function readConfs(
  files: string[],
  flag: string,
): Promise<{ parsed: ParsedConf; text: string }[]> {
  const confs = [];
  for (const file of files) {
    const read = await readBoundedText(file, CONF_SIZE_LIMIT);
    if (!read.ok) {
      throw new ConfigError(
        `${flag} ${file} cannot be read: ${read.reason}; give the path of a keepalived.conf file`,
      );
    }
    confs.push({ parsed: parseKeepalivedConf(file, read.text), text: read.text });
  }
  return confs;
}

export function formatConfFinding(finding: ConfFinding): string {
  const where = finding.line === undefined ? finding.file : `${finding.file}:${finding.line}`;
  return `${finding.severity}: ${where}: ${finding.message} [${finding.rule}]`;
}

export async function lintConfFiles(args: ConfLintArgs): Promise<number> {
  if (args.files.length > 2) {
    process.stderr.write(
      `note: ${args.files.length} files given; the checks between nodes compare exactly two, so they are skipped\n`,
    );
  }
  const confs = await readConfs(args.files, '--keepalived-conf');
  const findings = (
    await lintConfs(confs, {
      ...(args.scriptsDir ? { scriptsDir: args.scriptsDir } : {}),
      ...(args.keepalivedT ? { keepalived: keepalivedComplaints } : {}),
    })
  ).map((f) => ({ ...f, message: redactSecrets(f.message) }));
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  if (args.json) {
    const report = {
      files: args.files,
      errors,
      warnings,
      findings: findings.map((f) => ({ ...f, line: f.line ?? null })),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    for (const finding of findings) process.stdout.write(formatConfFinding(finding) + '\n');
    process.stdout.write(`${args.files.join(', ')}: ${errors} error(s), ${warnings} warning(s)\n`);
  }
  return errors > 0 || (args.strict && warnings > 0) ? 1 : 0;
}
