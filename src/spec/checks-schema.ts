/**
 * Spec checks: one entry per health check, with kind-specific params. Param names are the
 * `hactl check <kind>` flag names in snake_case (expect_status ↔ --expect-status), so a check in
 * the spec and the rendered vrrp_script line mean exactly the same thing.
 */
import { HOST_HEADER } from '../checks/host-header.js';
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

// The run-time parsers of `hactl check http` (src/checks/options.ts) refuse more than the spec's
// character set: these patterns say what they accept, for editors. test/schema/ compares them with
// the parsers on a corpus.
/** parseStatusList: 3-digit codes 100..599 and low-high ranges, comma-separated. */
const STATUS_LIST = /^[1-5]\d\d(-[1-5]\d\d)?(,[1-5]\d\d(-[1-5]\d\d)?)*$/;
/** parseBodyPattern: a /regex/ whose flags include g or y is refused. */
const BODY_REGEX_WITH_G_OR_Y = /^\/.+\/[dgimsuvy]*[gy][dgimsuvy]*$/;

const httpParams = z
  .strictObject({
    url: safeToken
      .describe('The http:// or https:// URL to request (--url). Redirects are not followed.')
      .meta({ pattern: HTTP_URL.source }),
    expect_status: safeToken
      .describe(
        'Accepted statuses: codes and ranges, e.g. "200,204" or "200-299,301-302" (default "200"); quote it in YAML. A range must not run backwards (checked by the parser of hactl check; JSON Schema cannot express it).',
      )
      .meta({ pattern: STATUS_LIST.source })
      .optional(),
    expect_body: safeToken
      .describe(
        'The body must contain this text, or match it when written /regex/flags (flags g and y are refused). No spaces: write a regex like /a\\sb/ as /a.b/. Whether the regex compiles is checked by hactl check, not by JSON Schema.',
      )
      .meta({ not: { type: 'string', pattern: BODY_REGEX_WITH_G_OR_Y.source } })
      .optional(),
    host_header: z
      .string()
      .regex(HOST_HEADER, 'must be a host name with an optional :port (e.g. www.example.com:8080)')
      .describe(
        'Host header (and TLS server name) to send, e.g. for a name-based vhost: a host name with an optional :port.',
      )
      .optional(),
    method: z
      .enum(['GET', 'HEAD'])
      .describe('Request method: GET (default) or HEAD. HEAD cannot be combined with expect_body.')
      .optional(),
    insecure: z
      .boolean()
      .describe('Accept self-signed or otherwise unverifiable TLS certificates.')
      .optional(),
  })
  .describe('Parameters of an http check: the flags of hactl check http.')
  .meta({
    if: { type: 'object', properties: { method: { const: 'HEAD' } }, required: ['method'] },
    then: { type: 'object', not: { type: 'object', required: ['expect_body'] } },
  });

const tcpParams = z
  .strictObject({
    host: safeToken.describe('Address or name to connect to.'),
    port: intInRange(1, 65535).describe('TCP port, 1..65535.'),
  })
  .describe('Parameters of a tcp check: the flags of hactl check tcp.');

const processParams = z
  .strictObject({
    name: identifier.describe('Process command name as ps -C matches it, e.g. nginx (not a path).'),
    min_count: intInRange(1, 10000)
      .describe('Fewest processes of that name that count as healthy (default 1), 1..10000.')
      .optional(),
    restart_cmd: z
      .array(safeToken)
      .min(1)
      .describe('Argv run once (no shell) when too few processes run; an absolute program path is advised.')
      .optional(),
    restart_wait: numberInRange(0, 60, ' seconds')
      .describe(
        `Seconds to wait for the process after a restart (default 1), 0..60. It must fit in the check's budget ${LINT_ONLY}.`,
      )
      .optional(),
    restart_backoff: numberInRange(0, 86400, ' seconds')
      .describe('Least seconds between two restart attempts, across check runs (default 30), 0..86400.')
      .optional(),
  })
  .describe('Parameters of a process check: the flags of hactl check process.');

const defaultsFile = absolutePath.describe(
  "MySQL option file for this check instead of the mysql section's credentials_file (and host/port/socket).",
);

const mysqlParams = z
  .strictObject({
    expect_role: z
      .enum(['primary', 'replica'])
      .describe('Role the server must play: primary (read_only OFF) or replica (read_only ON); default: any.')
      .optional(),
    defaults_file: defaultsFile.optional(),
  })
  .describe('Parameters of a mysql check: the flags of hactl check mysql.');

const replicationParams = z
  .strictObject({
    max_lag: intInRange(0, 86400, ' seconds')
      .describe('Most whole seconds behind the source that still count as healthy (default: any), 0..86400.')
      .optional(),
    allow_connecting: z
      .boolean()
      .describe('An IO thread still connecting (lag NULL) counts as healthy.')
      .optional(),
    caught_up: z
      .boolean()
      .describe('Also require everything received to be applied; use it to gate failback.')
      .optional(),
    defaults_file: defaultsFile.optional(),
  })
  .describe('Parameters of a replication check: the flags of hactl check replication.');

const common = {
  name: identifier.describe(
    `Names the check: keepalived's vrrp_script is chk_<name>, and hactl check --spec FILE <name> runs it. Unique among the checks ${LINT_ONLY}.`,
  ),
  interval: numberInRange(0.1, 3600, ' seconds')
    .describe(
      "Seconds between two runs (keepalived's interval; default 2), 0.1..3600. Fractions (e.g. 0.25) need agent.enabled. The agent runs the checks itself; without it hactl lint refuses fractions: keepalived 2.2.7 runs a vrrp_script on whole seconds only.",
    )
    .default(2),
  timeout: numberInRange(0.1, 3600, ' seconds')
    .describe(
      `Seconds one run may take before it counts as failed (default: interval), 0.1..3600; hactl check gets a budget a little below it. Fractions only with agent.enabled: true, like interval. At most the interval ${LINT_ONLY}.`,
    )
    .optional(),
  fall: intInRange(1, 255)
    .describe("Failures in a row that make the check KO. keepalived's fall, 1..255 (default 2).")
    .default(2),
  rise: intInRange(1, 255)
    .describe("Successes in a row that make a KO check OK again. keepalived's rise, 1..255 (default 2).")
    .default(2),
  weight: intInRange(-253, 253)
    .describe(
      `How a KO moves the VIPs, -253..253 (default 0). 0 = FAULT on KO: releases the VIPs even with nopreempt. Otherwise a positive weight is added to the priority while OK and a negative one subtracted while KO; it must be able to move the VIPs, which it never can under nopreempt ${LINT_ONLY}.`,
    )
    .default(0),
  only_on_master: z
    .boolean()
    .describe(
      'For an application that runs only on the MASTER (started by actions.master, stopped by actions.backup, as in seed 002): the check counts only once this node has applied MASTER; elsewhere it is not run and reports healthy, so the stopped application never puts a standby in FAULT (default false). The start action must return once the application serves (as systemctl start does for notify or forking units); otherwise a check that runs before it is up fails the new MASTER. If the application fails on every node, the VIPs move back and forth at the pace of fall/rise.',
    )
    .optional(),
  nodes: z
    .array(identifier)
    .min(1)
    .describe(
      `Names of the nodes this check runs on (default: all). Each must be a node of this spec ${LINT_ONLY}.`,
    )
    .optional(),
};

const kind = <K extends string>(name: K, what: string) => z.literal(name).describe(what);

export const checkSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        ...common,
        kind: kind('http', 'http: an HTTP(S) request must get an expected status (and body).'),
        params: httpParams,
      })
      .describe('An HTTP(S) check.'),
    z
      .strictObject({
        ...common,
        kind: kind('tcp', 'tcp: a TCP connection to host:port must be accepted.'),
        params: tcpParams,
      })
      .describe('A TCP connect check.'),
    z
      .strictObject({
        ...common,
        kind: kind('process', 'process: enough processes of that name must run (optionally restarted once).'),
        params: processParams,
      })
      .describe('A process check.'),
    z
      .strictObject({
        ...common,
        kind: kind(
          'mysql',
          'mysql: the local server must accept the credentials and answer (in the expected role).',
        ),
        params: mysqlParams.default({}),
      })
      .describe('A MySQL server check; needs the mysql section.'),
    z
      .strictObject({
        ...common,
        kind: kind(
          'replication',
          'replication: this server must be a running, healthy replica (lag at most max_lag).',
        ),
        params: replicationParams.default({}),
      })
      .describe('A replication check; needs the mysql section.'),
  ])
  .describe('One health check; kind decides which params it takes.');

export type CheckSpec = z.infer<typeof checkSchema>;
export type CheckKindName = CheckSpec['kind'];
