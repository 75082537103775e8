/**
 * What the installed keepalived itself rejects in a file, with the lines it names. The file is
 * copied to a private temporary directory first with its `include` lines blanked (so keepalived
 * reads exactly what lint read, and line numbers stay the same), then `keepalived -t` runs on the
 * copy under a timeout through the existing runner (src/keepalived/validate.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { validateFile } from '../keepalived/validate.js';

export interface KeepalivedComplaint {
  line?: number;
  message: string;
  warning: boolean;
}

export interface KeepalivedVerdict {
  ran: boolean;
  exitCode: number | undefined;
  summary: string;
  complaints: KeepalivedComplaint[];
}

/**
 * Complaints about this machine rather than the file: the interfaces of the server the file was
 * written for need not exist where lint runs.
 */
const ABOUT_THIS_MACHINE = [
  /interface \S+ for vrrp_instance \S+ doesn't exist/,
  /^Non-existent interface specified/,
];

/** keepalived prints `(Line N) msg` or `(FILE: Line N) msg`, once per process: one entry each. */
export function parseComplaints(output: string): KeepalivedComplaint[] {
  const seen = new Set<string>();
  const complaints: KeepalivedComplaint[] = [];
  for (const raw of output.split('\n')) {
    const text = raw.trim();
    if (!text) continue;
    const match = /^\((?:[^():]*: )?Line (\d+)\)\s*(.*)$/.exec(text);
    const line = match ? Number(match[1]) : undefined;
    const message = match ? match[2]! : text;
    if (
      !match &&
      !/error|unknown|invalid|not found|ignor|security|cannot|fail|warning|refus|remov/i.test(text)
    )
      continue;
    if (ABOUT_THIS_MACHINE.some((re) => re.test(message))) continue;
    const key = `${line ?? ''}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    complaints.push({
      ...(line === undefined ? {} : { line }),
      message,
      warning: /^WARNING\b/i.test(message),
    });
  }
  return complaints;
}

export async function keepalivedVerdict(file: string, text: string): Promise<KeepalivedVerdict> {
  const dir = await mkdtemp(join(tmpdir(), 'hactl-lint-conf-'));
  try {
    const copy = join(dir, basename(file).replace(/[^A-Za-z0-9._-]/g, '_') || 'keepalived.conf');
    const withoutIncludes = text
      .split('\n')
      .map((line) => (/^\s*include\b/.test(line) ? '' : line))
      .join('\n');
    await writeFile(copy, withoutIncludes, { mode: 0o600 });
    const result = await validateFile(copy);
    if (result.exitCode === undefined) {
      return { ran: false, exitCode: undefined, summary: result.message, complaints: [] };
    }
    return {
      ran: true,
      exitCode: result.exitCode,
      summary: result.message.split('\n')[0] ?? '',
      complaints: parseComplaints(result.output),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** lintConfs' view: the complaints, or one sentence when keepalived -t could not judge the file. */
export async function keepalivedComplaints(
  file: string,
  text: string,
): Promise<KeepalivedComplaint[] | string> {
  const verdict = await keepalivedVerdict(file, text);
  if (!verdict.ran) return `keepalived -t could not check this file: ${verdict.summary}`;
  if (verdict.exitCode === 143) return `keepalived -t could not check this file: ${verdict.summary}`;
  return verdict.complaints;
}
