/**
 * keepalived's enable_script_security rule for scripts run as root: the file and every directory
 * above it must be owned by root and not writable by group or others (sticky directories excepted).
 * A refused script is silently dropped, so a check would never fail: lint reports it instead.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';

export function scriptSecurityProblem(path: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return `${path} does not exist or is not executable (keepalived counts a script it cannot run as healthy)`;
  }
  let current = path;
  for (;;) {
    const stat = statSync(current);
    const isDir = stat.isDirectory();
    if (stat.uid !== 0) return `${current} is owned by uid ${stat.uid}, not root`;
    const sticky = isDir && (stat.mode & 0o1000) !== 0;
    if (!sticky && (stat.mode & 0o022) !== 0) {
      return `${current} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)})`;
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}
