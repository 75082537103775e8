/**
 * Transition actions: what `hactl notify` runs, in order, when this node enters a VRRP state.
 * Every action has a timeout and a failure policy; argv values are validated tokens, never shell text.
 */
import { z } from 'zod';
import { absolutePath, identifier, intInRange, numberInRange, safeToken } from './fields.js';

const common = {
  /** Seconds this action may take before it is stopped and counted as failed. */
  timeout: numberInRange(0.1, 3600, ' seconds').optional(),
  /**
   * `abort` stops the remaining actions of this transition; `continue` logs and goes on.
   * Default: abort for mysql.promote (never start the application on a read-only database), continue otherwise.
   */
  on_failure: z.enum(['continue', 'abort']).optional(),
};

// argv words are execve'd without a shell, but stay safe tokens like every value that reaches a
// command line: a script path plus plain arguments is all a transition needs.
const argv = z.array(safeToken).min(1);

export const actionSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...common, type: z.literal('mysql.promote') }),
  z.strictObject({ ...common, type: z.literal('mysql.demote') }),
  z.strictObject({
    ...common,
    type: z.literal('service'),
    name: identifier,
    op: z.enum(['start', 'stop', 'reload', 'restart']),
    /** Instead of systemctl: the argv to run for each operation (machines without systemd). */
    commands: z
      .strictObject({
        start: argv.optional(),
        stop: argv.optional(),
        reload: argv.optional(),
        restart: argv.optional(),
      })
      .optional(),
  }),
  z.strictObject({
    ...common,
    type: z.literal('signal'),
    pidfile: absolutePath,
    signal: z.enum(['HUP', 'USR1', 'USR2', 'TERM', 'INT', 'QUIT', 'WINCH']),
  }),
  z.strictObject({
    ...common,
    type: z.literal('command'),
    argv,
    /** Added to a minimal environment (PATH and HACTL_CLUSTER/NODE/STATE/PREVIOUS); hactl's own environment is not passed on. */
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), safeToken)
      .optional(),
  }),
  z.strictObject({
    ...common,
    type: z.literal('webhook'),
    /** POSTed {cluster, node, state, previous, timestamp} as JSON; never logged whole (it may carry a token). */
    url: safeToken.refine((url) => /^https?:\/\/[^/]/.test(url), 'must be an http:// or https:// URL'),
    /** Extra attempts after a network error or a 5xx answer, with exponential backoff (default 2). */
    retries: intInRange(0, 10).optional(),
  }),
  z.strictObject({
    ...common,
    type: z.literal('haproxy'),
    socket: absolutePath,
    backend: identifier,
    server: identifier,
    op: z.enum(['enable', 'disable', 'drain']),
  }),
  z.strictObject({
    ...common,
    type: z.literal('proxysql'),
    admin_host: safeToken.default('127.0.0.1'),
    admin_port: intInRange(1, 65535).default(6032),
    credentials_file: absolutePath,
    writer_hostgroup: intInRange(0, 2147483647),
    reader_hostgroup: intInRange(0, 2147483647).optional(),
    /** Which node network the proxy reaches the databases on (default: mysql.replication_network, else the first VIP's). */
    network: identifier.optional(),
  }),
  z.strictObject({
    ...common,
    type: z.literal('atlas'),
    admin_host: safeToken.default('127.0.0.1'),
    admin_port: intInRange(1, 65535).default(2345),
    credentials_file: absolutePath,
    /** Which node network the proxy reaches the databases on (default: mysql.replication_network, else the first VIP's). */
    network: identifier.optional(),
  }),
]);

export const actionsSchema = z.strictObject({
  master: z.array(actionSchema).default([]),
  backup: z.array(actionSchema).default([]),
  fault: z.array(actionSchema).default([]),
  stop: z.array(actionSchema).default([]),
});

export type ActionSpec = z.infer<typeof actionSchema>;
export type ActionsSpec = z.infer<typeof actionsSchema>;
