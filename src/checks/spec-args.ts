/**
 * A spec check as `hactl check` argv, the one place that decides it. `checkArgs` gives the kind and
 * its own flags (`[kind, --flag, value, …]`; spec params are the flag names in snake_case;
 * mysql/replication checks get the connection from the spec's `mysql` section unless they name
 * their own defaults_file; process restarts keep their backoff state in paths.runtime_dir), which
 * `hactl check --spec` parses. `checkCommand` adds what keepalived's line needs (budget, --quiet,
 * the check's name and the log file), and the `--help` examples are rendered by the same code, so
 * they cannot drift from what render-config writes. Type-only imports: no zod here.
 */
import { appliedStatePath } from '../cluster/applied-state.js';
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

/** keepalived's script `timeout` for a check; the check's own budget stays below it. */
export function scriptTimeout(check: Pick<CheckSpec, 'timeout' | 'interval'>): number {
  return check.timeout ?? check.interval;
}

/** Budget passed to `hactl check --timeout`: keepalived's timeout minus a margin for process start. */
export function checkBudgetSeconds(check: Pick<CheckSpec, 'timeout' | 'interval'>): number {
  const timeout = scriptTimeout(check);
  return Math.max(0.5, Math.round((timeout - Math.min(0.25, timeout / 4)) * 100) / 100);
}

export type CommandSpec = Pick<Spec, 'mysql' | 'paths' | 'logging'>;

/**
 * The full command keepalived runs for a spec check. keepalived discards a check's stderr, so the
 * line names the check and the log file: a failure then leaves its reason in the log.
 */
export function checkCommand(spec: CommandSpec, check: CheckSpec, node?: string): string {
  const argv = [spec.paths.hactl, 'check', ...checkArgs(spec, check), '--check-name', check.name];
  if (check.only_on_master && node !== undefined) {
    argv.push('--only-while-master', appliedStatePath(spec.paths.runtime_dir, node));
  }
  if (spec.logging.file !== undefined) argv.push('--log-file', spec.logging.file);
  argv.push('--timeout', String(checkBudgetSeconds(check)), '--quiet');
  return argv.join(' ');
}

/** What the `--help` examples are rendered from: the spec defaults plus a log file. */
export const EXAMPLE_SPEC: CommandSpec = {
  paths: {
    hactl: '/usr/local/bin/hactl',
    spec: '/etc/hactl/hactl.yaml',
    runtime_dir: '/run/hactl',
    state_dir: '/var/lib/hactl',
  },
  mysql: {
    credentials_file: '/etc/hactl/mysql.cnf',
    host: '127.0.0.1',
    port: 3306,
    topology: 'one-way',
    catch_up_timeout: 30,
    on_catch_up_timeout: 'stay-read-only',
    repoint_wait: 20,
    semi_sync: 'off',
  },
  logging: { file: '/var/log/hactl/hactl.log', level: 'info' },
};

/** The vrrp_script block render-config writes for `check` under EXAMPLE_SPEC, indented for help text. */
export function exampleBlock(check: CheckSpec, indent = '  '): string {
  const lines = [
    `vrrp_script chk_${check.name} {`,
    `    script "${checkCommand(EXAMPLE_SPEC, check)}"`,
    `    interval ${check.interval}`,
    `    timeout ${scriptTimeout(check)}`,
    `    fall ${check.fall}`,
    `    rise ${check.rise}`,
    `    weight ${check.weight}`,
    '}',
  ];
  return lines.map((line) => indent + line).join('\n');
}
