/**
 * Suites that need root or Debian packages call `requirementsMissing()` and, when something is
 * missing, name their describe block with `[skipped: why]` so the summary line says why.
 * Under CI (CI=true) a missing requirement is a failure, never a silent skip.
 */
import { accessSync, constants } from 'node:fs';

const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export function hasProgram(name: string): boolean {
  return SEARCH_PATH.some((dir) => {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function requirementsMissing(needs: { root?: boolean; programs?: string[] }): string | undefined {
  const missing: string[] = [];
  if (needs.root && process.getuid?.() !== 0) missing.push('root');
  for (const program of needs.programs ?? []) if (!hasProgram(program)) missing.push(program);
  if (missing.length === 0) return undefined;
  const reason = `needs ${missing.join(', ')}`;
  if (process.env.CI === 'true') {
    throw new Error(`CI run is missing requirements (${reason}); .ci/run must install them`);
  }
  return reason;
}

/** describe title carrying the skip reason (read by test/support/summary-reporter.ts). */
export function titled(title: string, missing: string | undefined): string {
  return missing ? `${title} [skipped: ${missing}]` : title;
}
