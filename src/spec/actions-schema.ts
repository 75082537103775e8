/**
 * Transition actions: what `hactl notify` runs, in order, when this node enters a VRRP state.
 * Every action has a timeout and a failure policy; argv values are validated tokens, never shell text.
 */
import { z } from 'zod';
import {
  absolutePath,
  HTTP_URL,
  identifier,
  intInRange,
  LINT_ONLY,
  numberInRange,
  safeToken,
} from './fields.js';

const common = {
  timeout: numberInRange(0.1, 3600, ' seconds')
    .describe(
      'Seconds this action may take before it is stopped and counted as failed, 0.1..3600. Default by type: mysql.promote catch_up_timeout + 15, mysql.demote repoint_wait + 30, service 60, command 30, signal and haproxy 5, webhook, proxysql and atlas 10. A mysql.promote timeout must be longer than mysql.catch_up_timeout, a mysql.demote one longer than mysql.repoint_wait (the wait inside the step).',
    )
    .optional(),
  on_failure: z
    .enum(['continue', 'abort'])
    .describe(
      '`abort` stops the remaining actions of this transition; `continue` logs and goes on. Default: abort for mysql.promote (never start the application on a read-only database), continue otherwise.',
    )
    .optional(),
};

// argv words are execve'd without a shell, but stay safe tokens like every value that reaches a
// command line: a script path plus plain arguments is all a transition needs.
const argv = z.array(safeToken).min(1);
const opArgv = (op: string) =>
  argv.describe(`The argv that does "${op}" (program first, no shell).`).optional();

const proxyNetwork = identifier
  .describe(
    `Which node network the proxy reaches the databases on (default: mysql.replication_network, else the first VIP's). Every node must have it ${LINT_ONLY}.`,
  )
  .optional();

const type = <T extends string>(name: T, what: string) => z.literal(name).describe(what);

export const actionSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        ...common,
        type: type(
          'mysql.promote',
          'Drain the relay log, then read_only=0. Waits up to mysql.catch_up_timeout for everything received to be applied; needs the mysql section.',
        ),
      })
      .describe('Make the local database the writable primary.'),
    z
      .strictObject({
        ...common,
        type: type(
          'mysql.demote',
          'Set read_only=1, end client sessions, re-point to the new primary. Re-pointing needs mysql.replication_credentials_file; needs the mysql section.',
        ),
      })
      .describe('Make the local database a read-only replica of its peer.'),
    z
      .strictObject({
        ...common,
        type: type(
          'service',
          'Start, stop, reload or restart a service: with systemctl, or with your own argv per operation (commands).',
        ),
        name: identifier.describe('The service (systemd unit) name.'),
        op: z
          .enum(['start', 'stop', 'reload', 'restart'])
          .describe('What to do: start, stop, reload or restart.'),
        commands: z
          .strictObject({
            start: opArgv('start'),
            stop: opArgv('stop'),
            reload: opArgv('reload'),
            restart: opArgv('restart'),
          })
          .describe('Instead of systemctl: the argv to run for each operation (machines without systemd).')
          .optional(),
      })
      .describe('Control a service.'),
    z
      .strictObject({
        ...common,
        type: type('signal', 'Send a signal to the process whose PID is in pidfile.'),
        pidfile: absolutePath.describe('File that holds the PID of the process to signal.'),
        signal: z
          .enum(['HUP', 'USR1', 'USR2', 'TERM', 'INT', 'QUIT', 'WINCH'])
          .describe('The signal to send.'),
      })
      .describe('Signal a process.'),
    z
      .strictObject({
        ...common,
        type: type('command', 'Run a program (argv, no shell) with a minimal environment.'),
        argv: argv.describe('Program and arguments, program first; an absolute path is advised.'),
        env: z
          .record(
            z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
            safeToken,
          )
          .describe(
            "Added to a minimal environment (PATH and HACTL_CLUSTER/NODE/STATE/PREVIOUS); hactl's own environment is not passed on. Values contain no spaces.",
          )
          .optional(),
      })
      .describe('Run a command.'),
    z
      .strictObject({
        ...common,
        type: type('webhook', 'POST the transition as JSON to a URL.'),
        url: safeToken
          .refine((url) => /^https?:\/\/[^/]/.test(url), 'must be an http:// or https:// URL')
          .describe(
            'The http:// or https:// URL that gets {cluster, node, state, previous, timestamp} as JSON. Never logged whole (it may carry a token).',
          )
          .meta({ pattern: HTTP_URL.source }),
        retries: intInRange(0, 10)
          .describe(
            'Extra attempts after a network error or a 5xx answer, with exponential backoff (default 2), 0..10.',
          )
          .optional(),
      })
      .describe('Tell another system about the transition.'),
    z
      .strictObject({
        ...common,
        type: type(
          'haproxy',
          "Enable, disable or drain a server through HAProxy's runtime API (the stats socket, level admin).",
        ),
        socket: absolutePath.describe("HAProxy's stats socket (level admin)."),
        backend: identifier.describe('The backend name in haproxy.cfg.'),
        server: identifier.describe('The server name within that backend.'),
        op: z
          .enum(['enable', 'disable', 'drain'])
          .describe('enable (state ready), disable (state maint) or drain (state drain).'),
      })
      .describe('Change a server in HAProxy.'),
    z
      .strictObject({
        ...common,
        type: type(
          'proxysql',
          "Keep ProxySQL's writer hostgroup on the node that holds the VIPs (admin SQL).",
        ),
        admin_host: safeToken
          .describe('Address of the ProxySQL admin interface (default 127.0.0.1).')
          .default('127.0.0.1'),
        admin_port: intInRange(1, 65535)
          .describe('Port of the ProxySQL admin interface (default 6032).')
          .default(6032),
        credentials_file: absolutePath.describe(
          'Option file ([client] user= password=) of the ProxySQL admin account, mode 0600.',
        ),
        writer_hostgroup: intInRange(0, 2147483647).describe('Hostgroup id of the writer.'),
        reader_hostgroup: intInRange(0, 2147483647)
          .describe(
            'Hostgroup id of the readers: on MASTER the peers leave it (they may lag) until they caught up.',
          )
          .optional(),
        network: proxyNetwork,
      })
      .describe('Re-point ProxySQL.'),
    z
      .strictObject({
        ...common,
        type: type('atlas', "Keep Atlas's read-write backend on the node that holds the VIPs (admin SQL)."),
        admin_host: safeToken
          .describe('Address of the Atlas admin interface (default 127.0.0.1).')
          .default('127.0.0.1'),
        admin_port: intInRange(1, 65535)
          .describe('Port of the Atlas admin interface (default 2345).')
          .default(2345),
        credentials_file: absolutePath.describe(
          'Option file ([client] user= password=) of the Atlas admin account, mode 0600.',
        ),
        network: proxyNetwork,
      })
      .describe('Re-point Atlas.'),
  ])
  .describe('One transition action; type decides which fields it takes.');

const list = (state: string, when: string) =>
  z
    .array(actionSchema)
    .describe(`Actions run in order when this node becomes ${state}: ${when}.`)
    .default([]);

export const actionsSchema = z
  .strictObject({
    master: list('MASTER', 'it holds every VIP'),
    backup: list('BACKUP', 'another node holds the VIPs'),
    fault: list('FAULT', 'a check is KO or an interface is down'),
    stop: list('STOP', 'keepalived stops'),
  })
  .describe('What hactl notify runs on each transition, in order.');

export type ActionSpec = z.infer<typeof actionSchema>;
export type ActionsSpec = z.infer<typeof actionsSchema>;
