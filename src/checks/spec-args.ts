/**
 * A spec check as `hactl check` argv: `[kind, --flag, value, …]`. Spec params are the flag names in
 * snake_case; mysql/replication checks get the connection from the spec's `mysql` section unless
 * they name their own defaults_file; process restarts keep their backoff state in paths.runtime_dir. `hactl check --spec` parses exactly these argv, so a named
 * check and the rendered vrrp_script line mean the same thing. Type-only imports: no zod here.
 */
import type { CheckSpec } from '../spec/checks-schema.js';
import type { Spec } from '../spec/schema.js';

export function flagName(param: string): string {
  return '--' + param.replace(/_/g, '-');
}

export function checkArgs(spec: Pick<Spec, 'mysql' | 'paths'>, check: CheckSpec): string[] {
  const argv: string[] = [check.kind];
  const params: Record<string, unknown> = { ...check.params };
  if ((check.kind === 'mysql' || check.kind === 'replication') && params.defaults_file === undefined) {
    params.defaults_file = spec.mysql?.credentials_file;
    if (spec.mysql?.socket) params.socket = spec.mysql.socket;
    else {
      params.host = spec.mysql?.host;
      params.port = spec.mysql?.port;
    }
  }
  // The restart backoff is remembered across check processes in the spec's runtime directory.
  if (check.kind === 'process' && params.restart_cmd !== undefined) params.state_dir = spec.paths.runtime_dir;
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === false) continue;
    if (value === true) argv.push(flagName(key));
    else if (key === 'restart_cmd' && Array.isArray(value)) {
      const [program, ...args] = value as string[];
      argv.push(...flag(key, String(program)));
      for (const arg of args) argv.push(`--restart-arg=${arg}`);
    } else argv.push(...flag(key, String(value)));
  }
  return argv;
}

/** A value that starts with "-" would read as the next option: it is glued on with "=". */
function flag(key: string, value: string): string[] {
  return value.startsWith('-') ? [`${flagName(key)}=${value}`] : [flagName(key), value];
}
