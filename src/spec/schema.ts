/**
 * The pair spec: one YAML file, identical on every node. This zod schema is the single source of
 * truth for the TypeScript types, the validation and the published JSON Schema.
 */
import { z } from 'zod';
import { actionsSchema } from './actions-schema.js';
import { checkSchema } from './checks-schema.js';
import {
  absolutePath,
  hostname,
  identifier,
  intInRange,
  interfaceName,
  ipv4,
  ipv4Cidr,
  numberInRange,
  safeToken,
} from './fields.js';

const nodeNetwork = z.strictObject({
  interface: interfaceName,
  address: ipv4,
});

const nodeSchema = z.strictObject({
  name: identifier,
  /** The machine's hostname, used to find "this node" when --node is not given; defaults to name. */
  hostname: hostname.optional(),
  /** VRRP base priority. The highest one is the preferred node. 255 is refused: it disables check weights. */
  priority: intInRange(1, 254, ' (255 would make keepalived ignore every check weight)'),
  /** Per network role (e.g. inside, outside): the interface and this node's address on it. */
  networks: z.record(identifier, nodeNetwork),
});

const vipSchema = z.strictObject({
  /** Becomes the vrrp_instance name. */
  name: identifier,
  address: ipv4Cidr,
  /** Which of the nodes' networks carries this VIP. */
  network: identifier,
  virtual_router_id: intInRange(1, 255),
});

const electionSchema = z.strictObject({
  /** Seconds between adverts. VRRPv2 takes whole seconds; VRRPv3 takes steps of 0.01 s. */
  advert_int: numberInRange(0.01, 255, ' seconds').default(1),
  vrrp_version: z.union([z.literal(2), z.literal(3)]).default(2),
  /** Send adverts by unicast to the other nodes' addresses (no multicast on the wire). */
  unicast: z.boolean().default(true),
  /** VRRPv2 PASS authentication; keepalived keeps only 8 characters and ignores it under VRRPv3. */
  authentication: z
    .strictObject({
      type: z.literal('PASS'),
      password: safeToken,
    })
    .optional(),
  /** vrrp_rt_priority: real-time VRRP process. Lint warns: under load the kernel killed it in our lab (CPU-time cap). */
  realtime_priority: intInRange(1, 99).optional(),
  /** Gratuitous ARPs a master repeats when it hears a lower-priority advert (heals partitions). */
  garp_lower_prio_repeat: intInRange(1, 100).default(5),
});

const mysqlSchema = z.strictObject({
  /** MySQL option file ([client] user/password), mode 0600. The password never goes into argv. */
  credentials_file: absolutePath,
  host: safeToken.default('127.0.0.1'),
  port: intInRange(1, 65535).default(3306),
  socket: absolutePath.optional(),
  /** Option file with the replication account used in CHANGE MASTER TO when re-pointing. */
  replication_credentials_file: absolutePath.optional(),
  /** Which node network the replicas use to reach their source (default: the first VIP's network). */
  replication_network: identifier.optional(),
  /** one-way: the standby replicates from the primary and is re-pointed; dual-master: both replicate from each other. */
  topology: z.enum(['one-way', 'dual-master']).default('one-way'),
  /** How long a promotion waits for the relay log to be applied. */
  catch_up_timeout: numberInRange(0.1, 86400, ' seconds').default(30),
  on_catch_up_timeout: z.enum(['stay-read-only', 'promote-anyway']).default('stay-read-only'),
  /**
   * How long a demoted node keeps looking for its peer to become the writable primary before it
   * gives up re-pointing (the peer's promotion often lands a moment after our BACKUP event).
   * The wait ends early when this node takes the VIPs.
   */
  repoint_wait: numberInRange(0, 600, ' seconds').default(20),
  /** Whether semi-synchronous replication is expected to be on (reported, never assumed). */
  semi_sync: z.enum(['off', 'expected']).default('off'),
});

const syncSchema = z.strictObject({
  directories: z.array(absolutePath).min(1),
  /** rsync daemon module on the peer that receives the directories. */
  module: identifier,
  network: identifier.optional(),
  interval: intInRange(1, 86400, ' seconds').default(20),
  excludes: z.array(safeToken).default([]),
});

const loggingSchema = z.strictObject({
  file: absolutePath.optional(),
  level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

const pathsSchema = z.strictObject({
  /** Absolute path of the hactl launcher keepalived runs (must pass keepalived's script security). */
  hactl: absolutePath.default('/usr/local/bin/hactl'),
  /** Where this spec lives on the nodes (passed to check and notify commands). */
  spec: absolutePath.default('/etc/hactl/hactl.yaml'),
  /** Locks, state and the notify FIFO. */
  runtime_dir: absolutePath.default('/run/hactl'),
  /**
   * What must survive a reboot: which node this one last knew as primary and how far it had got,
   * so a node that fell behind or diverged is never promoted.
   */
  state_dir: absolutePath.default('/var/lib/hactl'),
});

const keepalivedSchema = z.strictObject({
  /** script: keepalived runs `hactl notify` per transition; fifo: keepalived writes to a FIFO the agent reads. */
  notify: z.enum(['script', 'fifo']).default('script'),
  /** Your own mustache template instead of the bundled one. */
  template: absolutePath.optional(),
  /** The user keepalived runs check and notify scripts as (root: 2.2.7's `-t` breaks with others). */
  script_user: identifier.default('root'),
});

export const specSchema = z
  .strictObject({
    version: z.literal(1),
    /** Names the pair in logs and the sync group. */
    cluster: identifier,
    nodes: z.array(nodeSchema).min(2),
    vips: z.array(vipSchema).min(1),
    election: electionSchema.default(electionSchema.parse({})),
    /**
     * preempt: the preferred node takes the VIPs back as soon as it is healthy.
     * nopreempt: the VIPs stay where they are until that node fails (both nodes state BACKUP).
     * after-catch-up: like nopreempt, and the agent hands them back once the database caught up.
     */
    failback: z.enum(['preempt', 'nopreempt', 'after-catch-up']).default('nopreempt'),
    checks: z.array(checkSchema).default([]),
    actions: actionsSchema.default(actionsSchema.parse({})),
    mysql: mysqlSchema.optional(),
    sync: syncSchema.optional(),
    logging: loggingSchema.default(loggingSchema.parse({})),
    paths: pathsSchema.default(pathsSchema.parse({})),
    keepalived: keepalivedSchema.default(keepalivedSchema.parse({})),
  })
  .superRefine((spec, ctx) => crossFieldRules(spec, ctx));

type SpecShape = z.infer<typeof specSchema>;

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
}

export type Spec = z.infer<typeof specSchema>;
export type NodeSpec = Spec['nodes'][number];
export type VipSpec = Spec['vips'][number];
export type ElectionSpec = Spec['election'];
export type MysqlSpec = NonNullable<Spec['mysql']>;
export type FailbackPolicy = Spec['failback'];
