/**
 * The lab's database proxies, for the proxy upkeep test: on each node a real HAProxy (its runtime
 * API on a unix socket under the node's lab directory; no frontend, so it listens on nothing) and
 * an Atlas admin stand-in (a program the caller names, listening on the node's 127.0.0.1:2345 and
 * publishing its backends to a JSON file the test samples). The `proxy:` block for the lab spec
 * names both. Everything here is started and stopped by PID (src/lab/processes.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haproxyServers } from '../proxy/drivers.js';
import type { BackendSet } from '../cluster/proxy-rule.js';
import { addressOf, LAB_NODES, namespacesFor, vipOf, type LabNode } from './network.js';
import { readPidFile, startDaemon, stopFromPidFile, waitFor } from './processes.js';

export const LAB_ATLAS_PORT = 2345;
const HAPROXY = '/usr/sbin/haproxy';
const DB_PORT = 3306;

export interface LabProxyFiles {
  dir: string;
  haproxyConf: string;
  haproxySocket: string;
  haproxyPid: string;
  atlasState: string;
  atlasPid: string;
  log: string;
}

export function labProxyFiles(labDir: string, node: LabNode): LabProxyFiles {
  const dir = join(labDir, node, 'proxy');
  return {
    dir,
    haproxyConf: join(dir, 'haproxy.cfg'),
    haproxySocket: join(dir, 'haproxy.sock'),
    haproxyPid: join(dir, 'haproxy.pid'),
    atlasState: join(dir, 'atlas.json'),
    atlasPid: join(dir, 'atlas.pid'),
    log: join(dir, 'proxies.log'),
  };
}

/** The Atlas admin credentials file the spec names (a path shared by both nodes' agents). */
export const labProxyCredentials = (labDir: string) => join(labDir, 'run', 'atlas-admin.cnf');

const db = (node: LabNode) => `${addressOf(node, 'inside')}:${DB_PORT}`;
export const LAB_PROXY_VIP = `${vipOf('inside')}:${DB_PORT}`;

/**
 * The spec block: Atlas with the inside VIP as read-write backend (seed 004), and each node's
 * HAProxy with the node layout (the VIP holder's address is the writer).
 */
export function labProxyBlock(labDir: string): Record<string, unknown> {
  return {
    network: 'inside',
    proxies: [
      {
        type: 'atlas',
        writer: 'vip',
        admin_port: LAB_ATLAS_PORT,
        credentials_file: labProxyCredentials(labDir),
        save_config: true,
      },
      ...LAB_NODES.map((node) => ({
        type: 'haproxy',
        writer: 'node',
        nodes: [node],
        socket: labProxyFiles(labDir, node).haproxySocket,
        write_backend: 'be_rw',
        read_backend: 'be_ro',
      })),
    ],
  };
}

function haproxyConfig(files: LabProxyFiles): string {
  const servers = LAB_NODES.map((node) => `  server ${node} ${db(node)}`);
  return [
    'global',
    `  stats socket ${files.haproxySocket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    '  timeout client 5s',
    '  timeout server 5s',
    'backend be_rw',
    ...servers,
    'backend be_ro',
    ...servers,
    '',
  ].join('\n');
}

/**
 * Starts both nodes' proxies. `atlasArgv(port, credentials, stateFile, initial)` is the stand-in's
 * command line; Atlas starts as seed 004 configures it: the VIP read-write, ha2 read-only.
 */
export async function startLabProxies(
  prefix: string,
  labDir: string,
  credentials: { user: string; password: string },
  atlasArgv: (args: { port: number; credentials: string; stateFile: string; initial: string }) => string[],
): Promise<void> {
  const creds = labProxyCredentials(labDir);
  writeFileSync(creds, `[client]\nuser=${credentials.user}\npassword=${credentials.password}\n`, {
    mode: 0o600,
  });
  const initial = JSON.stringify([
    { address: LAB_PROXY_VIP, type: 'rw' },
    { address: db('ha2'), type: 'ro' },
  ]);
  for (const node of LAB_NODES) {
    const files = labProxyFiles(labDir, node);
    mkdirSync(files.dir, { recursive: true, mode: 0o700 });
    writeFileSync(files.haproxyConf, haproxyConfig(files));
    const netns = namespacesFor(prefix)[node];
    startDaemon([HAPROXY, '-db', '-f', files.haproxyConf], {
      netns,
      logFile: files.log,
      pidFile: files.haproxyPid,
    });
    startDaemon(
      atlasArgv({ port: LAB_ATLAS_PORT, credentials: creds, stateFile: files.atlasState, initial }),
      {
        netns,
        logFile: files.log,
        pidFile: files.atlasPid,
      },
    );
  }
  for (const node of LAB_NODES) {
    const files = labProxyFiles(labDir, node);
    await waitFor(
      `${node}'s HAProxy socket and Atlas stand-in`,
      () => existsSync(files.haproxySocket) && existsSync(files.atlasState),
      {
        timeoutMs: 15_000,
        everyMs: 100,
      },
    );
  }
}

export async function stopLabProxies(labDir: string, atlasMarker: string): Promise<void> {
  for (const node of LAB_NODES) {
    const files = labProxyFiles(labDir, node);
    if (readPidFile(files.haproxyPid) !== undefined)
      await stopFromPidFile(files.haproxyPid, files.haproxyConf, 5_000);
    if (readPidFile(files.atlasPid) !== undefined) await stopFromPidFile(files.atlasPid, atlasMarker, 5_000);
  }
}

export interface ProxySample {
  t: number;
  node: LabNode;
  proxy: 'atlas' | 'haproxy';
  backends: BackendSet;
}

/** What each node's Atlas (its published state) and HAProxy (ready servers) list now. */
export async function readLabProxies(labDir: string, signal: AbortSignal): Promise<ProxySample[]> {
  const t = Date.now();
  const perNode = await Promise.all(
    LAB_NODES.map(async (node): Promise<ProxySample[]> => {
      const files = labProxyFiles(labDir, node);
      const ready = async (backend: string) =>
        (await haproxyServers(files.haproxySocket, backend, signal))
          .filter((s) => s.adminState === 0)
          .map((s) => s.address);
      const [rw, ro] = await Promise.all([ready('be_rw'), ready('be_ro')]);
      const atlas = JSON.parse(readFileSync(files.atlasState, 'utf8')) as {
        backends: { address: string; type: string }[];
      };
      const of = (type: string) => atlas.backends.filter((b) => b.type === type).map((b) => b.address);
      return [
        { t, node, proxy: 'atlas', backends: { rw: of('rw'), ro: of('ro') } },
        { t, node, proxy: 'haproxy', backends: { rw, ro } },
      ];
    }),
  );
  return perNode.flat();
}
