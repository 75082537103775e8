/**
 * The pair spec: one YAML file, identical on every node. This zod schema is the single source of
 * truth for the TypeScript types, the validation, the published JSON Schema (`hactl schema`) and
 * the field documentation: every field's .describe() text is its description in the JSON Schema,
 * and the comments of the annotated example (templates/example.yaml) are sentences quoted from
 * these texts (test/schema/example.test.ts holds them to it).
 */
import { z } from 'zod';
import { actionsSchema } from './actions-schema.js';
import { checkSchema } from './checks-schema.js';
import { proxySchema } from './proxy-schema.js';
import {
  absolutePath,
  hostname,
  identifier,
  intInRange,
  interfaceName,
  ipv4,
  ipv4Cidr,
  LINT_ONLY,
  listenAddress,
  numberInRange,
  safeToken,
  syncSourcePath,
} from './fields.js';

const nodeNetwork = z
  .strictObject({
    interface: interfaceName.describe(
      'The interface this network role uses on this node, e.g. eth0 (at most 15 characters).',
    ),
    address: ipv4.describe(
      `This node's IPv4 address on that interface, without a prefix length: the unicast source and the address its peers send adverts to. Every node needs its own address ${LINT_ONLY}.`,
    ),
  })
  .describe("This node's interface and address on one network role.");

const nodeSchema = z
  .strictObject({
    name: identifier.describe(
      `Names the node: keepalived's router_id and the value of --node. Matched against the machine's hostname (or set hostname:). Unique among the nodes ${LINT_ONLY}.`,
    ),
    hostname: hostname
      .describe(
        'The machine\'s hostname (short or full), used to find "this node" when --node is not given. Defaults to name.',
      )
      .optional(),
    priority: intInRange(1, 254, ' (255 would make keepalived ignore every check weight)').describe(
      `VRRP base priority, 1..254. Highest priority = preferred node. 255 is refused: keepalived would ignore every check weight. With every check healthy the preferred node must outrank every other node ${LINT_ONLY}.`,
    ),
    networks: z
      .record(identifier, nodeNetwork)
      .describe(
        `Per network role (e.g. inside, outside): the interface and this node's address on it. Every node needs every network that a VIP, mysql.replication_network, sync.network or a proxy action's network names ${LINT_ONLY}.`,
      ),
  })
  .describe('One machine of the pair.');

const vipSchema = z
  .strictObject({
    name: identifier.describe(
      `Names the VIP: it becomes the vrrp_instance name. Unique among the VIPs ${LINT_ONLY}.`,
    ),
    address: ipv4Cidr.describe(
      `The virtual IPv4 address with its prefix length, e.g. 192.0.2.50/24. No node may own it ${LINT_ONLY}.`,
    ),
    network: identifier.describe(
      `Which of the nodes' networks carries it. Every node must have that network ${LINT_ONLY}.`,
    ),
    virtual_router_id: intInRange(1, 255).describe(
      `VRRP virtual router id. Unique per network segment, 1..255. Two VIPs on one interface must not share it ${LINT_ONLY}.`,
    ),
  })
  .describe('One virtual IP address: one vrrp_instance on every node.');

const electionSchema = z
  .strictObject({
    advert_int: numberInRange(0.01, 255, ' seconds')
      .describe(
        "Seconds between VRRP adverts (default 1). Fractions (e.g. 0.1) need vrrp_version: 3. VRRPv2 takes whole seconds only; VRRPv3 at most 40.95 in steps of 0.01 (the 0.01 steps are checked by hactl lint only: JSON Schema's multipleOf is unreliable for decimals).",
      )
      .default(1),
    vrrp_version: z
      .literal([2, 3])
      .describe(
        'VRRP protocol version, 2 (default) or 3. Version 3 allows fractional advert_int and has no authentication.',
      )
      .default(2),
    unicast: z
      .boolean()
      .describe(
        "Adverts go to the peers' addresses only. true (default): unicast, no multicast on the wire; false: VRRP multicast.",
      )
      .default(true),
    authentication: z
      .strictObject({
        type: z.literal('PASS').describe("Always PASS (keepalived's auth_type PASS)."),
        password: safeToken
          .describe(
            'The shared VRRP password (auth_pass), sent in the clear in every advert. keepalived keeps 8 characters at most (hactl lint refuses more).',
          )
          .meta({ maxLength: 8 }),
      })
      .describe('VRRPv2 PASS authentication. keepalived ignores it under VRRPv3 (hactl lint warns).')
      .optional(),
    realtime_priority: intInRange(1, 99)
      .describe(
        'vrrp_rt_priority: run the VRRP process with this real-time priority, 1..99. hactl lint warns: under load the kernel killed it in our lab (CPU-time cap).',
      )
      .optional(),
    garp_lower_prio_repeat: intInRange(1, 100)
      .describe(
        'Gratuitous ARPs a master repeats when it hears a lower-priority advert (heals partitions), 1..100.',
      )
      .default(5),
    garp_master_refresh: intInRange(0, 86400)
      .describe(
        "Seconds between gratuitous ARP re-announcements of the VIPs while this node is MASTER (vrrp_garp_master_refresh), 0..86400; 0 (default) announces only on taking the VIPs. Set it where gateways or switches forget the VIPs' MAC address (seed 000 re-announced every few seconds from a loop).",
      )
      .default(0),
    garp_master_refresh_repeat: intInRange(1, 100)
      .describe(
        'Gratuitous ARPs sent at each re-announcement (vrrp_garp_master_refresh_repeat), 1..100, default 1. Only with garp_master_refresh above 0 (hactl lint refuses it otherwise).',
      )
      .optional(),
  })
  .describe('How the nodes elect the holder of the VIPs: VRRP settings shared by every instance.')
  // hactl lint's advert_int rules (keepalived.lint advertFindings), said again for editors.
  .meta({
    if: { type: 'object', properties: { vrrp_version: { const: 3 } }, required: ['vrrp_version'] },
    then: { type: 'object', properties: { advert_int: { type: 'number', maximum: 40.95 } } },
    else: { type: 'object', properties: { advert_int: { type: 'integer' } } },
  });

const mysqlSchema = z
  .strictObject({
    credentials_file: absolutePath.describe(
      'MySQL option file ([client] user= password=), mode 0600. The password never goes into argv.',
    ),
    host: safeToken
      .describe('Address of the local server (default 127.0.0.1). Ignored when socket is set.')
      .default('127.0.0.1'),
    port: intInRange(1, 65535)
      .describe('TCP port of the local server (default 3306). Ignored when socket is set.')
      .default(3306),
    socket: absolutePath.describe('Unix socket of the local server, instead of host and port.').optional(),
    replication_credentials_file: absolutePath
      .describe(
        'Option file with the replication account used in CHANGE MASTER TO when re-pointing. Without it a demoted node is never re-pointed to the new primary.',
      )
      .optional(),
    replication_network: identifier
      .describe(
        `Which node network the replicas use to reach their source (default: the first VIP's network). Every node must have it ${LINT_ONLY}.`,
      )
      .optional(),
    topology: z
      .enum(['one-way', 'dual-master'])
      .describe(
        'one-way (default): the standby replicates from the primary and is re-pointed. dual-master: both replicate from each other.',
      )
      .default('one-way'),
    catch_up_timeout: numberInRange(0.1, 86400, ' seconds')
      .describe(
        'Seconds a promotion waits for the relay log to be applied; with fencing, also for what the fenced old primary logged beyond it (one budget for both); also how long `hactl notify` keeps retrying a promotion its database did not answer for (no attempt starts later). Default 30, 0.1..86400.',
      )
      .default(30),
    on_catch_up_timeout: z
      .enum(['stay-read-only', 'promote-anyway'])
      .describe(
        'What a promotion does when catch_up_timeout runs out: stay-read-only (default) or promote-anyway, which makes the server writable without the transactions it has not applied.',
      )
      .default('stay-read-only'),
    repoint_wait: numberInRange(0, 600, ' seconds')
      .describe(
        "Seconds a demoted node keeps looking for its peer to become the writable primary before it gives up re-pointing (default 20), 0..600. The peer's promotion often lands a moment after our BACKUP event; the wait ends early when this node takes the VIPs.",
      )
      .default(20),
    semi_sync: z
      .enum(['off', 'expected', 'strict'])
      .describe(
        'Semi-synchronous replication: off (default); expected (reported at promotion, never assumed); strict (MariaDB: promotion makes the new primary wait AFTER_SYNC for its standby with no async fallback, re-pointing makes a replica acknowledge, status and lint flag a server that differs; every node needs init_rpl_role=SLAVE and rpl_semi_sync_slave_enabled=ON in its option file; while no standby acknowledges, commits wait).',
      )
      .default('off'),
  })
  .describe(
    `The local MySQL or MariaDB server. Required when a check (kind mysql or replication) or an action (mysql.*) uses MySQL.`,
  );

const syncPathSchema = z
  .strictObject({
    source: syncSourcePath.describe(
      "Absolute path of a directory on the pushing node; its contents are copied (rsync source with a trailing /). {node} stands for the node's name, for nodes that share one filesystem (the lab).",
    ),
    module: identifier
      .describe(
        'rsync daemon module on the peer that receives the contents (rsync peer::module, port 873), as in seed 000. Give module or destination, not both.',
      )
      .optional(),
    destination: absolutePath
      .describe(
        'Directory on the peer that receives the contents over ssh (rsync -e ssh peer:destination), instead of a daemon module. Give module or destination, not both.',
      )
      .optional(),
  })
  .describe('One directory and where it goes on the peer: an rsync daemon module or, over ssh, a directory.');

const syncSchema = z
  .strictObject({
    paths: z
      .array(syncPathSchema)
      .min(1)
      .describe(
        'The directories to push from the node holding the VIPs to its peer, each to its own destination (at least one).',
      ),
    network: identifier.describe(
      `Which node network carries the copy: the peer's address on it is where rsync connects. Every node must have it ${LINT_ONLY}.`,
    ),
    interval: intInRange(1, 86400, ' seconds')
      .describe(
        'Whole seconds from the start of one push to the start of the next (default 20), 1..86400. A push still running when the next is due is never started twice; the next starts once it ends.',
      )
      .default(20),
    timeout: intInRange(1, 86400, ' seconds')
      .describe(
        "Whole seconds a push may take before hactl kills it and records it failed (default 600); also rsync's own --timeout for a stalled transfer.",
      )
      .default(600),
    delete: z
      .boolean()
      .describe(
        'Also delete on the peer what no longer exists in the source (rsync --delete). false (default): deletions are not copied.',
      )
      .default(false),
    bwlimit: intInRange(0, 10_000_000, ' KiB/s')
      .describe('Bandwidth limit of one push in KiB/s (rsync --bwlimit); 0 (default): unlimited.')
      .default(0),
    excludes: z
      .array(safeToken)
      .describe('rsync --exclude patterns (no spaces), relative to each source directory.')
      .default([]),
    auth: z
      .strictObject({
        user: identifier.describe("The rsync daemon user (the module's auth users)."),
        password_file: absolutePath.describe(
          "File holding the daemon user's password (rsync --password-file; rsync refuses it unless only its owner can read it, e.g. mode 0600). Never on a command line or in the environment.",
        ),
      })
      .describe(
        "Authentication to the peer's rsync daemon modules (secrets file, auth users). Absent: anonymous modules.",
      )
      .optional(),
    ssh: z
      .strictObject({
        user: identifier.describe('User to log in as on the peer (default root).').default('root'),
        port: intInRange(1, 65535).describe("The peer's ssh port (default 22).").default(22),
        identity_file: absolutePath
          .describe("Private key file for the login (ssh -i); absent: ssh's defaults.")
          .optional(),
      })
      .describe(
        'How to reach the peer for paths with a destination (ssh in batch mode: keys only, no password prompt).',
      )
      .optional(),
  })
  .describe(
    'File sync: while this node holds the VIPs and its agent has applied MASTER, hactl agent pushes each path to the peer with rsync -a every interval (incremental; symbolic links are copied as links, permissions, times, owner and group kept). Never from a BACKUP, never while a transition is in progress, never two pushes at once. `hactl sync` pushes once by hand.',
  );

const loggingSchema = z
  .strictObject({
    file: absolutePath
      .describe(
        'File that notify, check and the agent append their JSON log lines to (default: stderr only; the agent always writes stderr too).',
      )
      .optional(),
    level: z
      .enum(['debug', 'info', 'warn', 'error'])
      .describe(
        'Least severe level written (default info). debug is refused by hactl lint: nothing logs at debug yet.',
      )
      // Editors see what lint accepts; the loader keeps the value so lint can explain the refusal.
      .meta({ enum: ['info', 'warn', 'error'] })
      .default('info'),
  })
  .describe('Where and how much hactl logs when keepalived runs it.');

const pathsSchema = z
  .strictObject({
    hactl: absolutePath
      .describe(
        "What keepalived runs: the hactl launcher (default /usr/local/bin/hactl). Must be root-owned and not group/world-writable, like every directory above it: keepalived's script security (hactl lint --local checks it on this machine).",
      )
      .default('/usr/local/bin/hactl'),
    spec: absolutePath
      .describe(
        'Where this spec lives on the nodes (default /etc/hactl/hactl.yaml); passed to the check and notify commands.',
      )
      .default('/etc/hactl/hactl.yaml'),
    runtime_dir: absolutePath
      .describe('Locks, state and the notify FIFO (default /run/hactl).')
      .default('/run/hactl'),
    state_dir: absolutePath
      .describe(
        'What must survive a reboot (default /var/lib/hactl): which node this one last knew as primary and how far it had got, so a node that fell behind or diverged is never promoted.',
      )
      .default('/var/lib/hactl'),
  })
  .describe('Paths on the nodes that end up in keepalived.conf.');

const keepalivedSchema = z
  .strictObject({
    notify: z
      .enum(['script', 'fifo'])
      .describe(
        'script (default): keepalived runs hactl notify per transition. fifo: keepalived writes transitions into a FIFO that hactl agent reads; only with agent.enabled: true (agent mode always uses the FIFO, whatever this says).',
      )
      .default('script'),
    template: absolutePath
      .describe('Your own mustache template instead of the bundled keepalived.conf one.')
      .optional(),
    script_user: identifier
      .describe(
        "The user keepalived runs check and notify scripts as: root, the default and the only value hactl lint accepts (keepalived 2.2.7's -t breaks with others).",
      )
      .meta({ enum: ['root'] })
      .default('root'),
  })
  .describe('How the rendered keepalived.conf wires keepalived to hactl.');

const agentApiSchema = z
  .strictObject({
    network: identifier
      .describe(
        `Which node network the agent's API listens on (default inside), at this node's address there and on 127.0.0.1: hactl status asks the local agent and the peer's agent through it. Every node must have that network ${LINT_ONLY}.`,
      )
      .default('inside'),
    port: intInRange(1, 65535)
      .describe('TCP port of the agent API (default 9641), the same on every node.')
      .default(9641),
    token_file: absolutePath.describe(
      'File holding the shared bearer token every request to the agent API must carry (the same on every node), e.g. from `openssl rand -hex 32`. It must be a regular file of mode 0600 (no group or other access) holding at least 16 characters: the agent refuses to start otherwise. hactl status reads it to ask the agents.',
    ),
    metrics_listen: listenAddress
      .describe(
        "Where the agent serves Prometheus metrics (GET /metrics, no token) as address:port (default 127.0.0.1:9642). Keep it on loopback (hactl lint warns otherwise): the metrics name the pair's nodes, databases and addresses to whoever can connect.",
      )
      .default('127.0.0.1:9642'),
  })
  .describe(
    "The agent's HTTP API (optional; only with agent.enabled: true, checked by hactl lint): GET /v1/node returns this node's facts as its agent knows them (VRRP state, effective priority, checks, transitions) to holders of the token; hactl status asks both agents through it.",
  );

const agentSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .describe(
        "Agent mode (default false): one long-lived hactl agent per node runs the checks in-process and feeds keepalived through track files, and reads transitions from the notify FIFO, instead of keepalived spawning hactl check and hactl notify. render-config then also writes each node's hactl-agent.service; keepalived keeps the node in FAULT while the agent is not running.",
      )
      .default(false),
    heartbeat_timeout: intInRange(1, 60, ' seconds')
      .describe(
        'Whole seconds without a heartbeat from the agent after which keepalived sees this node as faulty (default 3), 1..60: a frozen or dead agent must not leave a node looking healthy.',
      )
      .default(3),
    track_process: z
      .boolean()
      .describe(
        "Also have keepalived watch the agent's process (vrrp_track_process, default true): no process named hactl-agent, FAULT. Turn it off only where keepalived runs in a network namespace other than the host's: keepalived 2.2.7 hears process events only in the initial one, and elsewhere would keep the node in FAULT. The agent's heartbeat file still covers a dead or frozen agent.",
      )
      .default(true),
    api: agentApiSchema.optional(),
  })
  .describe('The per-node hactl agent (hactl agent).');

const fencingSchema = z
  .strictObject({
    unreachable: z
      .enum(['promote-anyway', 'wait-for-witness'])
      .describe(
        'What a node about to promote does when no path reaches the old primary (no default: it is a choice between availability and safety). promote-anyway: promote, logged at error level (the old primary may still be writable). wait-for-witness: promote only while this node reaches a witness (it is on the majority side) and no other host answers ARP for its VIPs (an old primary cut off from this node but not from the clients; its agent yields them); otherwise stay read-only and try again at the next tick.',
      ),
    networks: z
      .array(identifier)
      .min(1)
      .describe(
        `Which node networks a fence tries, all at once (default: every network the old primary has). Every node must have each of them ${LINT_ONLY}.`,
      )
      .optional(),
    connect_timeout: numberInRange(0.1, 10, ' seconds')
      .describe(
        "Seconds one fencing path (or one probe of the witness or the peer) may take to connect, 0.1..10 (default 1). A dead old primary costs a promotion this long: a fence waits for every path's answer or timeout.",
      )
      .default(1),
    witness: z
      .array(ipv4)
      .describe(
        `Addresses outside the pair (the gateway, or a small arbiter) that each node's agent probes by TCP connect to witness_port; an answer, even a refused connection, means reachable. A node that reaches neither a witness nor its peer demotes itself; one whose peer is silent while another host answers ARP for the VIPs it held (the peer took them) yields them (needs arping, Debian iputils-arping). Each must lie in the subnet of a VIP's network, and the agent must be enabled ${LINT_ONLY}.`,
      )
      .default([]),
    witness_port: intInRange(1, 65535)
      .describe(`TCP port of the witness probe. Required with a witness ${LINT_ONLY}.`)
      .optional(),
    probe_interval: numberInRange(0.1, 10, ' seconds')
      .describe('Seconds between two probes of the witness and the peer by the agent, 0.1..10 (default 0.5).')
      .default(0.5),
    isolation_timeout: numberInRange(0.5, 60, ' seconds')
      .describe(
        'Seconds without an answer from any witness and from the peer after which a node demotes itself (read-only, client sessions ended, keepalived FAULT), 0.5..60 (default 2). The node returns to BACKUP once either answers again. Its peer may take the VIPs sooner (3 × advert_int + skew): lint warns when both databases could then be writable for over 1 s.',
      )
      .default(2),
  })
  .describe(
    'Split-brain protection: a node about to make its database writable first fences the old primary (read-only, client sessions ended) over every network at once; with a witness, a node cut off from both the witness and its peer demotes itself.',
  );

const usesMysqlAction = {
  type: 'array',
  contains: {
    type: 'object',
    properties: { type: { enum: ['mysql.promote', 'mysql.demote'] } },
    required: ['type'],
  },
};

const specObject = z.strictObject({
  version: z.literal(1).describe('Spec format version: always 1.'),
  cluster: identifier.describe('Names the pair (sync group, logs). The vrrp_sync_group is <cluster>_vips.'),
  nodes: z
    .array(nodeSchema)
    .min(2)
    .describe(
      `The machines of the pair, at least 2 (demotion re-points to the one peer). Node names must be unique ${LINT_ONLY}.`,
    ),
  vips: z
    .array(vipSchema)
    .min(1)
    .describe(
      `The virtual IP addresses, at least 1. More than one VIP: all move together in one vrrp_sync_group. Names must be unique ${LINT_ONLY}.`,
    ),
  election: electionSchema.default(electionSchema.parse({})),
  failback: z
    .enum(['preempt', 'nopreempt', 'after-catch-up'])
    .describe(
      "When the VIPs go back to the preferred node: preempt | nopreempt | after-catch-up. `preempt`: as soon as it is healthy. `nopreempt` (default): they stay where they are until their holder fails (every node starts BACKUP). `after-catch-up` (only with agent.enabled: true): like preempt, but the agent holds the returning node's priority below its peer's until its database has caught up.",
    )
    .default('nopreempt'),
  checks: z
    .array(checkSchema)
    .describe(
      `Health checks: keepalived runs each one as a vrrp_script (hactl check) on every node it applies to. Names must be unique ${LINT_ONLY}.`,
    )
    .default([]),
  actions: actionsSchema.default(actionsSchema.parse({})),
  mysql: mysqlSchema.optional(),
  sync: syncSchema.optional(),
  proxy: proxySchema.optional(),
  logging: loggingSchema.default(loggingSchema.parse({})),
  paths: pathsSchema.default(pathsSchema.parse({})),
  keepalived: keepalivedSchema.default(keepalivedSchema.parse({})),
  agent: agentSchema.default(agentSchema.parse({})),
  fencing: fencingSchema.optional(),
});

export const specSchema = specObject
  .superRefine((spec, ctx) => crossFieldRules(spec, ctx))
  // crossFieldRules' "mysql is missing" rule, said again for editors (the other rules compare fields).
  .meta({
    title: 'hactl spec',
    description:
      'The pair spec: one YAML file, identical on every node, describing the whole pair. hactl init writes an annotated example; hactl lint also checks the rules that compare fields.',
    if: {
      anyOf: [
        {
          type: 'object',
          properties: {
            checks: {
              type: 'array',
              contains: {
                type: 'object',
                properties: { kind: { enum: ['mysql', 'replication'] } },
                required: ['kind'],
              },
            },
          },
          required: ['checks'],
        },
        ...['master', 'backup', 'fault', 'stop'].map((state) => ({
          type: 'object',
          properties: {
            actions: { type: 'object', properties: { [state]: usesMysqlAction }, required: [state] },
          },
          required: ['actions'],
        })),
      ],
    },
    then: { required: ['mysql'] },
    // Without the agent: no FIFO, no failback gate, whole-second checks (lint says the same).
    allOf: [
      {
        if: {
          not: {
            type: 'object',
            properties: {
              agent: { type: 'object', properties: { enabled: { const: true } }, required: ['enabled'] },
            },
            required: ['agent'],
          },
        },
        then: {
          type: 'object',
          properties: {
            failback: { not: { const: 'after-catch-up' } },
            keepalived: { type: 'object', properties: { notify: { not: { const: 'fifo' } } } },
            checks: {
              type: 'array',
              items: {
                type: 'object',
                properties: { interval: { type: 'integer' }, timeout: { type: 'integer' } },
              },
            },
          },
        },
      },
    ],
  });

type SpecShape = z.infer<typeof specObject>;

/**
 * A mysql step whose own timeout ends before the wait it is built around: mysql.demote waits up to
 * repoint_wait for the peer to become the primary, mysql.promote up to catch_up_timeout for the
 * relay log. A shorter step timeout stops the step in the middle of that wait every time it is
 * needed (the lab's demotions were stopped at 15 s of a 20 s wait).
 */
function waitInsideStepRules(
  spec: Omit<SpecShape, never>,
  fail: (path: (string | number)[], message: string) => void,
): void {
  const waits = {
    'mysql.demote': { field: 'repoint_wait', seconds: spec.mysql?.repoint_wait ?? 20, margin: 30 },
    'mysql.promote': { field: 'catch_up_timeout', seconds: spec.mysql?.catch_up_timeout ?? 30, margin: 15 },
  } as const;
  for (const [state, list] of Object.entries(spec.actions))
    list.forEach((action, i) => {
      const wait = waits[action.type as keyof typeof waits];
      if (!wait || action.timeout === undefined || action.timeout > wait.seconds) return;
      fail(
        ['actions', state, i, 'timeout'],
        `${action.timeout} s is not longer than mysql.${wait.field} (${wait.seconds} s), which this step may wait: it would be stopped in the middle of that wait. ` +
          `Raise it above ${wait.seconds} s (the default is ${wait.field} + ${wait.margin}), or lower mysql.${wait.field}`,
      );
    });
}

/** Rules that need more than one field; they keep the rendered model free of dangling references. */
function crossFieldRules(spec: Omit<SpecShape, never>, ctx: z.RefinementCtx): void {
  const fail = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path, message });

  const nodeNames = new Set<string>();
  spec.nodes.forEach((node, i) => {
    if (nodeNames.has(node.name))
      fail(['nodes', i, 'name'], `"${node.name}" is used by two nodes; node names must be unique`);
    nodeNames.add(node.name);
  });
  const vipNames = new Set<string>();
  spec.vips.forEach((vip, i) => {
    if (vipNames.has(vip.name))
      fail(['vips', i, 'name'], `"${vip.name}" is used by two VIPs; VIP names must be unique`);
    vipNames.add(vip.name);
    spec.nodes.forEach((node, n) => {
      if (!node.networks[vip.network]) {
        fail(
          ['nodes', n, 'networks'],
          `has no "${vip.network}" network, which VIP "${vip.name}" uses; add networks.${vip.network} with its interface and address`,
        );
      }
    });
  });
  const checkNames = new Set<string>();
  spec.checks.forEach((check, i) => {
    if (checkNames.has(check.name))
      fail(['checks', i, 'name'], `"${check.name}" is used by two checks; check names must be unique`);
    checkNames.add(check.name);
    check.nodes?.forEach((name, j) => {
      if (!nodeNames.has(name))
        fail(
          ['checks', i, 'nodes', j],
          `"${name}" is not a node of this spec (nodes: ${[...nodeNames].join(', ')})`,
        );
    });
    // keepalived 2.2.7 parses a vrrp_script's interval and timeout as whole seconds; the agent does not.
    for (const field of ['interval', 'timeout'] as const) {
      const value = check[field];
      if (!spec.agent.enabled && value !== undefined && !Number.isInteger(value)) {
        fail(
          ['checks', i, field],
          `${value} is a fraction of a second: keepalived 2.2.7 runs a vrrp_script on whole seconds only. Use whole seconds (e.g. ${Math.max(1, Math.round(value))}), or set agent.enabled: true so hactl agent runs the checks itself`,
        );
      }
    }
    if (check.timeout !== undefined && check.timeout > check.interval) {
      fail(
        ['checks', i, 'timeout'],
        `${check.timeout} is longer than the interval (${check.interval}); keepalived would start a new run before the last one ended`,
      );
    }
  });
  const usesMysql =
    spec.checks.some((c) => c.kind === 'mysql' || c.kind === 'replication') ||
    Object.values(spec.actions).some((list) => list.some((a) => a.type.startsWith('mysql.')));
  if (usesMysql && !spec.mysql) {
    fail(['mysql'], 'is missing: a check or action uses MySQL; add mysql.credentials_file at least');
  }
  const networks = [spec.mysql?.replication_network, spec.sync?.network];
  networks.forEach((network, i) => {
    if (network && spec.nodes.some((node) => !node.networks[network])) {
      fail(
        [i === 0 ? 'mysql' : 'sync', i === 0 ? 'replication_network' : 'network'],
        `"${network}" is not a network every node has`,
      );
    }
  });
  spec.sync?.paths.forEach((path, i) => {
    if ((path.module === undefined) === (path.destination === undefined)) {
      fail(
        ['sync', 'paths', i],
        path.module === undefined
          ? 'names no destination: give module (an rsync daemon module on the peer) or destination (a directory on the peer, over ssh)'
          : 'gives both module and destination: keep module for an rsync daemon on the peer, or destination for ssh',
      );
    }
  });
  const api = spec.agent.api;
  if (api && spec.nodes.some((node) => !node.networks[api.network])) {
    fail(
      ['agent', 'api', 'network'],
      `"${api.network}" is not a network every node has (${spec.nodes
        .filter((node) => !node.networks[api.network])
        .map((node) => node.name)
        .join(', ')} lacks it); the agent API listens on each node's address there`,
    );
  }
  fencingRules(spec, fail);
  waitInsideStepRules(spec, fail);
  if (spec.proxy) {
    const network = spec.proxy.network ?? spec.mysql?.replication_network ?? spec.vips[0]!.network;
    if (spec.nodes.some((node) => !node.networks[network]))
      fail(['proxy', 'network'], `"${network}" is not a network every node has`);
    else if (
      spec.proxy.proxies.some((p) => p.writer === 'vip') &&
      !spec.vips.some((v) => v.network === network)
    )
      fail(['proxy', 'network'], `no VIP is on "${network}", and a proxy's writer: vip needs one there`);
    spec.proxy.proxies.forEach((entry, i) =>
      entry.nodes?.forEach((name, j) => {
        if (!nodeNames.has(name))
          fail(
            ['proxy', 'proxies', i, 'nodes', j],
            `"${name}" is not a node of this spec (nodes: ${[...nodeNames].join(', ')})`,
          );
      }),
    );
    if (!spec.agent.enabled)
      fail(['proxy'], 'is kept by hactl agent: set agent.enabled: true (or remove proxy)');
    if (!spec.mysql)
      fail(['proxy'], 'needs the mysql section: the standby is listed only once its database has caught up');
  }
  // A proxy action resolves every node's address on its network at failover time: a missing one
  // would fail the action then, not at lint.
  for (const [state, list] of Object.entries(spec.actions)) {
    list.forEach((action, i) => {
      const network = 'network' in action ? action.network : undefined;
      if (network && spec.nodes.some((node) => !node.networks[network])) {
        fail(['actions', state, i, 'network'], `"${network}" is not a network every node has`);
      }
    });
  }
}

const ipNumber = (address: string) => address.split('.').reduce((n, part) => n * 256 + Number(part), 0);

/** The subnets the spec names: each VIP's address/prefix, on its network. */
function subnetsOf(
  spec: Omit<SpecShape, never>,
): { network: string; cidr: string; contains(ip: string): boolean }[] {
  return spec.vips.map((vip) => {
    const [address, bits] = vip.address.split('/');
    const prefix = Number(bits ?? 32);
    const size = 2 ** (32 - prefix);
    const base = Math.floor(ipNumber(address!) / size) * size;
    return {
      network: vip.network,
      cidr: vip.address,
      contains: (ip: string) => Math.floor(ipNumber(ip) / size) * size === base,
    };
  });
}

/** A VIP's address without its prefix length ('192.0.2.50/24' → '192.0.2.50'). */
export function vipAddress(vip: { address: string }): string {
  return vip.address.split('/')[0]!;
}

/** A fencing section that cannot work is refused, naming the field. */
function fencingRules(
  spec: Omit<SpecShape, never>,
  fail: (path: (string | number)[], message: string) => void,
): void {
  const fencing = spec.fencing;
  if (!fencing) return;
  if (!spec.mysql)
    fail(
      ['fencing'],
      'needs the mysql section: a fence reaches the old primary on mysql.port with mysql.credentials_file',
    );
  fencing.networks?.forEach((network, i) => {
    if (spec.nodes.some((node) => !node.networks[network]))
      fail(['fencing', 'networks', i], `"${network}" is not a network every node has`);
  });
  if (fencing.unreachable === 'wait-for-witness' && fencing.witness.length === 0)
    fail(
      ['fencing', 'unreachable'],
      'wait-for-witness needs a witness: add fencing.witness (an address outside the pair, e.g. the gateway) and fencing.witness_port, or choose promote-anyway',
    );
  if (fencing.witness.length === 0) return;
  if (fencing.witness_port === undefined)
    fail(['fencing', 'witness_port'], 'is missing: the witness is probed by a TCP connect to this port');
  if (!spec.agent.enabled)
    fail(
      ['fencing', 'witness'],
      'needs agent.enabled: true: the agent probes the witness and demotes an isolated node',
    );
  const subnets = subnetsOf(spec);
  const pairAddresses = new Set([
    ...spec.nodes.flatMap((node) => Object.values(node.networks).map((n) => n.address)),
    ...spec.vips.map(vipAddress),
  ]);
  fencing.witness.forEach((address, i) => {
    if (pairAddresses.has(address)) {
      fail(
        ['fencing', 'witness', i],
        `${address} belongs to the pair (a node or a VIP); the witness must be outside it`,
      );
    } else if (!subnets.some((subnet) => subnet.contains(address))) {
      fail(
        ['fencing', 'witness', i],
        `${address} is in none of the listed networks (${subnets.map((s) => `${s.network} ${s.cidr}`).join(', ')}); put the witness on a network the nodes share, e.g. its gateway`,
      );
    }
  });
}

export type Spec = z.infer<typeof specSchema>;
export type NodeSpec = Spec['nodes'][number];
export type VipSpec = Spec['vips'][number];
export type ElectionSpec = Spec['election'];
export type MysqlSpec = NonNullable<Spec['mysql']>;
export type FailbackPolicy = Spec['failback'];
export type AgentApiSpec = NonNullable<Spec['agent']['api']>;
export type FencingSpec = NonNullable<Spec['fencing']>;
export type SyncSpec = NonNullable<Spec['sync']>;
export type SyncPathSpec = SyncSpec['paths'][number];
