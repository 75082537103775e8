/**
 * The lab's pair spec, as YAML text. keepalived.conf is always rendered from it by the same code
 * as `hactl render-config`: the lab proves the product, it never hand-writes a config.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { RSYNC_MODULE } from './rsync.js';
import { LAB_NODES, NETWORKS, ROLES, addressOf, vipOf, type LabNode } from './network.js';

export type LabFailback = 'preempt' | 'nopreempt' | 'after-catch-up';
export type LabMode = 'scripts' | 'agent';
/** nginx and mysql run on both nodes; app is a single-active application (seed 002) only the MASTER runs. */
export const LAB_CHECKS = ['nginx', 'mysql', 'app'] as const;
/** What `--checks` gives when not asked: the single-active app only on request. */
export const DEFAULT_LAB_CHECKS: LabCheck[] = ['nginx', 'mysql'];
/** The single-active application's TCP port on each node's loopback. */
export const LAB_APP_PORT = 8081;
export type LabCheck = (typeof LAB_CHECKS)[number];

export interface LabSpecOptions {
  /** The lab's state directory (absolute). */
  dir: string;
  /** Absolute path of bin/hactl, which keepalived runs for checks and notify. */
  hactl: string;
  /** Where the spec is written (keepalived passes it to `hactl notify --spec`). */
  specPath: string;
  failback: LabFailback;
  /** VRRPv3 with 0.1 s adverts (DESIGN measured ~0.36 s failover at 0.1 s). */
  fast: boolean;
  /** The fast profile's advert interval in seconds (default FAST_ADVERT_SEC); ignored without `fast`. */
  fastAdvertSec?: number | undefined;
  /** agent: one hactl agent per node runs the checks in-process (track files) and reads the FIFO. */
  mode?: LabMode;
  /** An own keepalived template (absolute path), e.g. to prove what a bundled line is worth. */
  template?: string | undefined;
  /** Credentials files the MariaDB set-up wrote ([client] user/password, mode 0600). */
  mysql: { credentialsFile: string; replicationCredentialsFile: string };
  /** Which health checks the spec carries (both by default). */
  checks: LabCheck[];
  /** mysql.semi_sync of the lab spec (default off). */
  semiSync?: 'off' | 'strict';
  /** Directory the active node would push to its peer's rsync module. */
  syncSource: string;
  /** With the app check: how the MASTER starts it and every other state stops it (argv). */
  app?: { start: string[]; stop: string[] };
  /** Fence before promoting: agent mode with the client namespace as the witness, script mode promote-anyway. */
  fencing?: boolean;
  /** A `proxy:` block, as is (the lab's proxies are started by src/lab/proxy.ts). */
  proxy?: Record<string, unknown>;
}

/**
 * The lab's fencing: the client's inside address is the witness (like a gateway, it sits on the
 * network both nodes share and outside the pair). Nothing listens on the port: the client's
 * kernel answers with a reset, which proves it is reachable just as well.
 */
export const LAB_WITNESS_PORT = 7;
export const LAB_FENCING = {
  unreachable: 'wait-for-witness',
  connect_timeout: 0.5,
  witness: [addressOf('client', 'inside')],
  witness_port: LAB_WITNESS_PORT,
  probe_interval: 0.25,
  isolation_timeout: 1.5,
} as const;

/**
 * The fast profile's fencing: a fence that waits 0.5 s on a dead node's silence would be most of
 * a sub-second failover. On one LAN a TCP connect and MySQL greeting take milliseconds (a live
 * peer fenced in 37–41 ms whole, test/e2e/fence.test.ts on a busy machine), so 0.1 s is what the
 * fence's short knock already allows (SILENT_PEER_CONNECT_MS); a slower one means "not fenced",
 * and the witness and the ARP question still decide. At 0.15 s the fence on a dead node was the
 * longest step of a node-loss promotion.
 * An isolated primary stays writable until isolation_timeout (plus a round) is over, while its
 * standby is writable ~0.45 s after the cut here: at 1.5 s that overlap was 1.0–1.12 s (chaos,
 * isolation), over issue 12's 1 s; at 1 s it is about half a second.
 */
export const LAB_FENCING_FAST = {
  ...LAB_FENCING,
  connect_timeout: 0.1,
  probe_interval: 0.1,
  isolation_timeout: 1,
} as const;

/** The agent-mode fencing section of a lab of the given profile. */
export const labFencing = (fast: boolean) => (fast ? LAB_FENCING_FAST : LAB_FENCING);

/**
 * Script mode has no agent to probe a witness (lint refuses one without it): the promoting node's
 * notify still fences the old primary over both networks; when no path reaches it, it promotes and
 * says so at error level (the README's promote-anyway).
 */
export const LAB_SCRIPT_FENCING = {
  unreachable: 'promote-anyway',
  connect_timeout: 0.5,
} as const;

/**
 * Interval and keepalived timeout of a check run (the spec wants timeout ≤ interval). A check is a
 * fresh `hactl` process: ~0.2 s on an idle machine, but 1–2.8 s (mysql2 loaded) on a 2-core
 * machine with a core kept busy and other work beside it — with interval/timeout 1 every check
 * there "timed_out" and both nodes sat in FAULT. A dead nginx or MariaDB still fails at once
 * (connection refused), so detection stays fall × interval.
 */
export const CHECK_INTERVAL_SEC = 5;

/**
 * The agent runs checks in-process (no Node start per run), so nginx can be looked at four times a
 * second; MariaDB once a second over a kept connection.
 */
export const AGENT_HTTP_INTERVAL_SEC = 0.25;
export const AGENT_MYSQL_INTERVAL_SEC = 1;

/** The lab's file sync (agent mode): fast enough for a test, slow enough that a big file outlives a push interval. */
/**
 * The lab's mysql.demote step: repoint_wait (20 s by default) for the peer to become the primary,
 * plus 15 s for the rest. Shorter, a demotion waiting for a read-only peer was stopped at 15 s
 * every time (the spec now refuses that).
 */
const DEMOTE_TIMEOUT_SEC = 35;

export const LAB_SYNC = { interval: 2, timeout: 60, delete: true, bwlimit: 2048, excludes: ['*.tmp'] };

/** The fast profile's VRRPv3 advert interval: a backup takes over ~3.3 adverts after the last one it heard. */
export const FAST_ADVERT_SEC = 0.1;

/** Why `advert` cannot be the fast profile's advert interval (undefined: it can). */
export function fastAdvertProblem(advert: number): string | undefined {
  // VRRPv3 carries centiseconds; 0.01 s is the smallest keepalived accepts (DESIGN).
  if (!Number.isFinite(advert) || advert < 0.01 || advert > 1) return 'must be 0.01–1 s';
  if (Math.abs(advert * 100 - Math.round(advert * 100)) > 1e-9) return 'must be a multiple of 0.01 s';
  return undefined;
}

/**
 * Near 255 (the address owner's): keepalived takes over after 3 × advert_int + skew, and the skew is
 * (256 − priority)/256 × advert_int, so a standby at 240 waits 0.06 s more than three adverts, one
 * at 120 0.53 s more (RFC 5798 Skew_Time). The order, not the size, decides who is preferred.
 */
export const LAB_PRIORITY: Record<LabNode, number> = { ha1: 250, ha2: 240 };

/** Writes the lab agents' shared token (a new one per lab up); returns its path. */
/** The agents' shared token file in the lab dir (lab down removes it with the rest). */
export const LAB_AGENT_TOKEN = 'agent-api.token';

function labAgentToken(dir: string): string {
  const path = `${dir}/${LAB_AGENT_TOKEN}`;
  writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

function appStop(options: LabSpecOptions): Record<string, unknown>[] {
  return options.app
    ? [{ type: 'service', name: 'app', op: 'stop', commands: { stop: options.app.stop } }]
    : [];
}

export function labSpecObject(options: LabSpecOptions): Record<string, unknown> {
  const agent = options.mode === 'agent';
  const httpInterval = agent ? AGENT_HTTP_INTERVAL_SEC : CHECK_INTERVAL_SEC;
  const mysqlInterval = agent ? AGENT_MYSQL_INTERVAL_SEC : CHECK_INTERVAL_SEC;
  return {
    version: 1,
    cluster: 'lab',
    nodes: LAB_NODES.map((name) => ({
      name,
      priority: LAB_PRIORITY[name],
      networks: Object.fromEntries(
        ROLES.map((role) => [role, { interface: NETWORKS[role].iface, address: addressOf(name, role) }]),
      ),
    })),
    vips: ROLES.map((role) => ({
      name: role,
      address: `${vipOf(role)}/24`,
      network: role,
      virtual_router_id: NETWORKS[role].vrid,
    })),
    // No realtime_priority in the fast profile: keepalived 2.2.7 then also sets RLIMIT_RTTIME (10 ms
    // by default) and on a busy 2-core box the kernel SIGKILLs the VRRP child ("has rlimit_rttime
    // been exceeded?"); the parent respawns it with a growing back-off, so failover stops working.
    election: options.fast
      ? { advert_int: options.fastAdvertSec ?? FAST_ADVERT_SEC, vrrp_version: 3, unicast: true }
      : { advert_int: 1, vrrp_version: 2, unicast: true },
    failback: options.failback,
    checks: [
      options.checks.includes('nginx') && {
        name: 'nginx',
        kind: 'http',
        // Inside the node's namespace 127.0.0.1 is that node's own nginx.
        params: { url: 'http://127.0.0.1/', expect_status: '200' },
        interval: httpInterval,
        timeout: httpInterval,
        fall: 2,
        rise: 2,
        weight: 0,
      },
      options.checks.includes('app') && {
        name: 'app',
        kind: 'tcp',
        params: { host: '127.0.0.1', port: LAB_APP_PORT },
        interval: httpInterval,
        timeout: httpInterval,
        fall: 2,
        rise: 2,
        weight: 0,
        // Started on promotion, stopped on demotion: on a standby it is down on purpose.
        only_on_master: true,
      },
      options.checks.includes('mysql') && {
        name: 'mariadb',
        kind: 'mysql',
        interval: mysqlInterval,
        timeout: mysqlInterval,
        fall: 2,
        rise: 2,
        weight: 0,
      },
    ].filter(Boolean),
    mysql: {
      credentials_file: options.mysql.credentialsFile,
      replication_credentials_file: options.mysql.replicationCredentialsFile,
      // TCP, not a socket: each node's 127.0.0.1:3306 is its own server, and the spec is shared.
      host: '127.0.0.1',
      port: 3306,
      replication_network: 'inside',
      topology: 'one-way',
      catch_up_timeout: 10,
      on_catch_up_timeout: 'stay-read-only',
      ...(options.semiSync === 'strict' ? { semi_sync: 'strict' } : {}),
    },
    actions: {
      master: [
        { type: 'mysql.promote', on_failure: 'abort', timeout: 15 },
        ...(options.app
          ? [{ type: 'service', name: 'app', op: 'start', commands: { start: options.app.start } }]
          : []),
      ],
      backup: [{ type: 'mysql.demote', timeout: DEMOTE_TIMEOUT_SEC }, ...appStop(options)],
      fault: [{ type: 'mysql.demote', timeout: DEMOTE_TIMEOUT_SEC }, ...appStop(options)],
      // keepalived stopping (SIGTERM, a restart): read-only at once. keepalived 2.2.7 runs this
      // only after its priority-0 advert and the VIPs' removal, and kills it after ~1.1 s, so
      // it races the peer's promotion; only fencing closes that (README, "Chaos runs").
      stop: [{ type: 'mysql.demote', timeout: DEMOTE_TIMEOUT_SEC }, ...appStop(options)],
    },
    ...(options.proxy ? { proxy: options.proxy } : {}),
    // No sync section: lint refuses it until hactl copies files (issue 8); the rsync daemons stay for that.
    // Agent mode: the MASTER's agent pushes its node's www to the peer's rsync module every
    // LAB_SYNC.interval s; the nodes share one filesystem, so {node} keeps their copies apart.
    ...(agent
      ? {
          sync: {
            paths: [{ source: `${options.dir}/{node}/www`, module: RSYNC_MODULE }],
            network: 'inside',
            ...LAB_SYNC,
          },
        }
      : {}),
    logging: { file: `${options.dir}/hactl.log`, level: 'info' },
    paths: {
      hactl: options.hactl,
      spec: options.specPath,
      runtime_dir: `${options.dir}/run`,
      state_dir: `${options.dir}/state`,
    },
    // keepalived runs in the node's network namespace, where 2.2.7 hears no process events.
    // The agents' API on the inside network, with a fresh random token (mode 0600) in the lab dir.
    ...(agent
      ? {
          agent: {
            enabled: true,
            heartbeat_timeout: 2,
            track_process: false,
            api: { network: 'inside', token_file: labAgentToken(options.dir) },
          },
        }
      : {}),
    ...(options.fencing ? { fencing: agent ? labFencing(options.fast) : LAB_SCRIPT_FENCING } : {}),
    keepalived: {
      notify: 'script',
      script_user: 'root',
      ...(options.template === undefined ? {} : { template: options.template }),
    },
  };
}

export function labSpecText(options: LabSpecOptions): string {
  return [
    '# Written by `hactl lab up`: the lab pair. keepalived.conf of each node is rendered from this file.',
    stringify(labSpecObject(options), { lineWidth: 0 }),
  ].join('\n');
}
