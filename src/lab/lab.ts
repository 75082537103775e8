/**
 * `hactl lab`: a real pair in network namespaces. Everything it starts is recorded in pid files
 * under the lab directory and stopped only through them; everything it configures lives in the
 * lab's own namespaces. The keepalived configs are rendered from a lab spec by the product code.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { lintSpec } from '../keepalived/lint.js';
import { renderAll } from '../keepalived/render.js';
import { scriptSecurityProblem } from '../keepalived/script-security.js';
import { loadSpec } from '../spec/load.js';
import {
  killKeepalived,
  keepalivedFiles,
  keepalivedPid,
  lastLoggedStates,
  startKeepalived,
  stopKeepalived,
  validateKeepalived,
  type VrrpState,
} from './keepalived.js';
import { agentFiles, agentFrozen, agentPid, signalAgent, startAgent, stopAgent } from './agent.js';
import { labDatabase, type DbStatus } from './lab-db.js';
import { appliedStatePath, readAppliedState } from '../cluster/applied-state.js';

import {
  LAB_NODES,
  ROLES,
  addressOf,
  createNetwork,
  destroyNetwork,
  dropStaleVips,
  existingNamespaces,
  linkState,
  namespaceExists,
  namespacesFor,
  run,
  setAttached,
  setNodeLinks,
  vipHolders,
  vipOf,
  type LabNode,
  type LinkState,
  type NetworkRole,
} from './network.js';
import { startNginx } from './nginx.js';
import { commandLineOf, isAlive, readPidFile, stopProcess } from './processes.js';
import { killGroup } from './pgroup.js';
import { rsyncFiles, rsyncPid, startRsync, stopRsync } from './rsync.js';
import {
  DEFAULT_LAB_CHECKS,
  LAB_AGENT_TOKEN,
  fastAdvertProblem,
  labSpecText,
  type LabCheck,
  type LabFailback,
  type LabMode,
} from './spec.js';
import { LAB_APP_MARKER, LAB_APP_SCRIPT, labAppCommands, stopLabApp, writeLabApp } from './app.js';
import { STRICT_SEMI_SYNC_SERVER_OPTIONS } from '../mysql/semi-sync.js';

export { LAB_NODES, addressOf, vipOf, vipHolders, type LabNode, type NetworkRole } from './network.js';

export const FAULTS = [
  'kill',
  'stop',
  'link',
  'partition',
  'nginx',
  'mysql',
  'agent-kill',
  'agent-stop',
] as const;
export type Fault = (typeof FAULTS)[number];

/** The Debian packages the lab needs, as the exact line to run. */
export const APT_LINE =
  'apt-get install -y keepalived mariadb-server mariadb-client nginx rsync iproute2 curl';
const PROGRAMS: Record<string, string> = {
  ip: 'iproute2',
  keepalived: 'keepalived',
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mariadb: 'mariadb-client',
  nginx: 'nginx',
  rsync: 'rsync',
  curl: 'curl',
};
const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export interface LabOptions {
  /** Namespace prefix: `<prefix>-ha1` …; lets two labs coexist. */
  prefix: string;
  /** State directory (pid files, logs, spec, rendered configs). */
  dir: string;
  failback?: LabFailback;
  fast?: boolean;
  /** With `fast`: its VRRPv3 advert interval in seconds (default FAST_ADVERT_SEC, 0.1). */
  fastAdvertSec?: number;
  /** scripts (default): keepalived spawns hactl check and notify; agent: one hactl agent per node. */
  mode?: LabMode;
  /** Health checks in the lab spec (default: nginx and mysql). */
  checks?: LabCheck[];
  /** An own keepalived template for the lab spec (absolute path). */
  template?: string | undefined;
  /** Progress lines for a human (the CLI prints them; tests may collect them). */
  say?: (line: string) => void;
  /** Bound for the pair to converge once keepalived starts (default CONVERGE_TIMEOUT_MS). */
  convergeTimeoutMs?: number;
  /** strict: both servers start as strict semi-sync replicas and the spec says mysql.semi_sync: strict. */
  semiSync?: LabSemiSync;
  /** The spec's fencing section: agent mode with the client as witness (LAB_FENCING), script mode without (LAB_SCRIPT_FENCING). */
  fencing?: boolean;
  /** A `proxy:` block for the lab spec (src/lab/proxy.ts builds one and starts the proxies). */
  proxy?: Record<string, unknown>;
}

export type LabSemiSync = 'off' | 'strict';

/**
 * From starting keepalived to a converged pair takes ~5 s on an idle machine (ha1's `state MASTER`
 * alone ~3.4 s, then notify's promotion and ha2's demotion, each a fresh `hactl` process). On a busy
 * 2-core machine every check and notify process starts several times slower: leave room for that.
 */
export const CONVERGE_TIMEOUT_MS = 90_000;

const PREFIX = /^[a-z][a-z0-9]{0,11}$/;

export function defaultDir(prefix: string): string {
  return `/tmp/hactl-lab-${prefix}`;
}

export function validatePrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new Error(
      `prefix ${JSON.stringify(prefix)} must be 1–12 lowercase letters or digits, starting with a letter`,
    );
  }
}

/** The repository (or installed package) root: one level above dist/ when built, two above src/lab/. */
export function packageRoot(): string {
  for (const up of ['../', '../../']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(join(dir, 'bin', 'hactl')) && existsSync(join(dir, 'package.json'))) return resolve(dir);
  }
  throw new Error('cannot find the hactl package root (bin/hactl) from ' + fileURLToPath(import.meta.url));
}

export function hactlPath(): string {
  return join(packageRoot(), 'bin', 'hactl');
}

interface NodePaths {
  dir: string;
  nginxDir: string;
  dbDir: string;
}

export interface LabPaths {
  dir: string;
  stateFile: string;
  specPath: string;
  log: string;
  runtimeDir: string;
  syncSource: string;
  node: Record<LabNode, NodePaths>;
}

export function labPaths(dir: string): LabPaths {
  const node = (name: LabNode): NodePaths => ({
    dir: join(dir, name),
    nginxDir: join(dir, name, 'nginx'),
    dbDir: join(dir, name, 'mariadb'),
  });
  return {
    dir,
    stateFile: join(dir, 'lab.json'),
    specPath: join(dir, 'hactl-lab.yaml'),
    log: join(dir, 'hactl.log'),
    runtimeDir: join(dir, 'run'),
    syncSource: join(dir, 'sync-source'),
    node: { ha1: node('ha1'), ha2: node('ha2') },
  };
}

/** Entries `down` may remove from the lab directory; anything else there is left alone. */
const OWNED_ENTRIES = [
  'ha1',
  'ha2',
  'run',
  'state',
  'sync-source',
  'lab.json',
  'hactl-lab.yaml',
  'hactl.log',
  'db',
  LAB_APP_MARKER,
  LAB_APP_SCRIPT,
  LAB_AGENT_TOKEN,
];

interface LabState {
  prefix: string;
  failback: LabFailback;
  fast: boolean;
  /** The fast profile's advert interval when not the default (absent: FAST_ADVERT_SEC). */
  fastAdvertSec?: number;
  /** Absent in state files of labs started before agent mode existed. */
  mode?: LabMode;
  template: string | null;
  checks: LabCheck[];
  /** Absent in state files of labs started before strict semi-sync existed. */
  semiSync?: LabSemiSync;
  startedAt: string;
}

export function missingPrograms(): string[] {
  return Object.keys(PROGRAMS).filter(
    (program) => !SEARCH_PATH.some((dir) => existsSync(join(dir, program))),
  );
}

/** Root and the Debian programs; throws a message that says exactly what to do. */
export function checkPrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'hactl lab needs root: it creates network namespaces and runs keepalived, nginx and MariaDB in them (run it with sudo)',
    );
  }
  const missing = missingPrograms();
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((program) => PROGRAMS[program]))].join(', ');
    throw new Error(
      `missing program(s) ${missing.join(', ')} (packages ${packages}); install them with:\n  ${APT_LINE}\nor run \`hactl lab up --install-deps\``,
    );
  }
}

export async function installDeps(say: (line: string) => void = () => {}): Promise<void> {
  say(`running: ${APT_LINE}`);
  const argv = APT_LINE.split(' ');
  const result = await run(argv, 600_000);
  if (result.exitCode !== 0)
    throw new Error(
      `\`${APT_LINE}\` exited ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
}

function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(labPaths(dir).stateFile, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

function nsOf(prefix: string, node: LabNode | 'client'): string {
  return namespacesFor(prefix)[node];
}

/** Where the nginx we start records its PID (src/lab/nginx.ts's layout) and what its cmdline holds. */
function nginxPidFile(paths: LabPaths, node: LabNode): { pidFile: string; marker: string } {
  const dir = paths.node[node].nginxDir;
  return { pidFile: join(dir, 'daemon.pid'), marker: join(dir, 'nginx.conf') };
}

function nginxAlive(paths: LabPaths, node: LabNode): boolean {
  const { pidFile, marker } = nginxPidFile(paths, node);
  const pid = readPidFile(pidFile);
  return pid !== undefined && isAlive(pid) && (commandLineOf(pid)?.includes(marker) ?? false);
}

function labAgentState(paths: LabPaths, node: LabNode, mode: LabMode | undefined): NodeStatus['agent'] {
  if (mode !== 'agent') return null;
  const files = agentFiles(paths.node[node].dir);
  if (agentPid(files) === undefined) return 'gone';
  return agentFrozen(files) ? 'frozen' : 'running';
}

async function startLabAgent(prefix: string, paths: LabPaths, node: LabNode): Promise<void> {
  await startAgent(agentFiles(paths.node[node].dir), {
    netns: nsOf(prefix, node),
    hactl: hactlPath(),
    specPath: paths.specPath,
    node,
  });
}

async function startLabNginx(prefix: string, paths: LabPaths, node: LabNode): Promise<void> {
  if (nginxAlive(paths, node)) return;
  const dir = paths.node[node].nginxDir;
  rmSync(join(dir, 'nginx.pid'), { force: true });
  await startNginx({ dir, listen: '0.0.0.0:80', body: `${node}\n`, netns: nsOf(prefix, node) });
}

async function stopLabNginx(paths: LabPaths, node: LabNode, how: 'stop' | 'kill' = 'stop'): Promise<void> {
  const { pidFile, marker } = nginxPidFile(paths, node);
  const pid = readPidFile(pidFile);
  if (pid !== undefined) {
    // SIGKILL to the master alone would leave its worker serving port 80: kill the group.
    if (how === 'kill') await killGroup(pid, marker);
    else await stopProcess(pid, marker, { waitMs: 8_000 });
  }
  rmSync(pidFile, { force: true });
}

function db(prefix: string, paths: LabPaths, semiSync: LabSemiSync = 'off') {
  return labDatabase({
    dir: paths.dir,
    netns: (node) => nsOf(prefix, node),
    ...(semiSync === 'strict' ? { serverOptions: STRICT_SEMI_SYNC_SERVER_OPTIONS } : {}),
  });
}

/** Builds the whole lab and waits for the first election. On failure it tears down and rethrows. */
export async function labUp(options: LabOptions): Promise<void> {
  const say = options.say ?? (() => {});
  const { prefix } = options;
  validatePrefix(prefix);
  if (options.fastAdvertSec !== undefined) {
    const problem = options.fast ? fastAdvertProblem(options.fastAdvertSec) : 'applies only with fast';
    if (problem) throw new Error(`lab fastAdvertSec ${options.fastAdvertSec}: ${problem}`);
  }
  checkPrerequisites();
  const hactl = hactlPath();
  const security = scriptSecurityProblem(hactl);
  if (security) {
    throw new Error(
      `keepalived would refuse to run ${hactl} (enable_script_security): ${security}. ` +
        'Every directory above it must be owned by root and not writable by group or others; clone the repository somewhere like /opt or /root.',
    );
  }
  if (!existsSync(join(packageRoot(), 'dist', 'cli.js'))) {
    throw new Error(
      `${join(packageRoot(), 'dist')} is missing: run \`npm run build\` first (keepalived runs bin/hactl, which loads dist/)`,
    );
  }
  const existing = existingNamespaces(prefix);
  if (existing.length > 0) {
    throw new Error(
      `a lab with prefix "${prefix}" seems to be up (namespaces ${existing.join(', ')}); run \`hactl lab down --prefix ${prefix}\` first`,
    );
  }
  const paths = labPaths(options.dir);
  // Leftovers of an earlier failed `up` (kept for their logs) go now.
  removeOwnedEntries(paths.dir);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const state: LabState = {
    prefix,
    failback: options.failback ?? 'nopreempt',
    fast: options.fast ?? false,
    ...(options.fast && options.fastAdvertSec !== undefined ? { fastAdvertSec: options.fastAdvertSec } : {}),
    mode: options.mode ?? 'scripts',
    template: options.template ?? null,
    checks: options.checks ?? [...DEFAULT_LAB_CHECKS],
    semiSync: options.semiSync ?? 'off',
    startedAt: new Date().toISOString(),
  };
  writeFileSync(paths.stateFile, JSON.stringify(state, null, 2) + '\n');
  const started = Date.now();
  try {
    say(`network: namespaces ${Object.values(namespacesFor(prefix)).join(', ')}`);
    await createNetwork(prefix);
    for (const node of LAB_NODES) mkdirSync(paths.node[node].dir, { recursive: true });
    mkdirSync(paths.runtimeDir, { recursive: true, mode: 0o700 });
    mkdirSync(paths.syncSource, { recursive: true });

    const database = db(prefix, paths, state.semiSync);
    say('mariadb: initialising and starting both servers (read_only=ON)');
    const servers = await database.initBoth();
    await Promise.all(LAB_NODES.map((node) => startLabNginx(prefix, paths, node)));
    say('nginx: serving the node name on port 80 of each node');
    for (const node of LAB_NODES) {
      await startRsync(rsyncFiles(paths.node[node].dir), nsOf(prefix, node), '192.0.2.0/24');
    }
    say('rsync: daemons with module "www" on each node');
    await database.setupReplication(servers);
    say('mariadb: ha2 replicates from ha1 (MASTER_USE_GTID=slave_pos); both read-only until notify promotes');

    writeFileSync(
      paths.specPath,
      labSpecText({
        dir: paths.dir,
        hactl,
        specPath: paths.specPath,
        failback: state.failback,
        fast: state.fast,
        fastAdvertSec: state.fastAdvertSec,
        mode: state.mode ?? 'scripts',
        template: options.template,
        checks: state.checks,
        semiSync: state.semiSync ?? 'off',
        mysql: database.credentials(),
        syncSource: paths.syncSource,
        ...(options.fencing ? { fencing: true } : {}),
        ...(state.checks.includes('app') ? { app: labAppCommands(writeLabApp(paths.dir)) } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
      }),
      { mode: 0o600 },
    );
    const loaded = loadSpec(paths.specPath);
    const errors = lintSpec(loaded.spec).filter((finding) => finding.severity === 'error');
    if (errors.length > 0) {
      throw new Error(
        `the lab spec fails lint:\n  ${errors.map((e) => `${e.path}: ${e.message}`).join('\n  ')}`,
      );
    }
    for (const { node, text } of renderAll(loaded)) {
      const files = keepalivedFiles(paths.node[node as LabNode].dir);
      writeFileSync(files.conf, text, { mode: 0o640 });
      await validateKeepalived(files, nsOf(prefix, node as LabNode));
    }
    say(`keepalived: configs rendered from ${paths.specPath} and accepted by keepalived -t`);
    // ha1 is the database primary, so it must win the first election. Started together, ha2 can
    // win it when its checks rise first, and nopreempt then keeps the VIPs there: start ha1 alone,
    // and start ha2 only once ha1 is the primary (ha2's first BACKUP notify then finds a writable
    // peer to replicate from).
    const deadline = Date.now() + (options.convergeTimeoutMs ?? CONVERGE_TIMEOUT_MS);
    // In agent mode keepalived tracks the agent's process and track files: the agent goes first.
    if (state.mode === 'agent') await startLabAgent(prefix, paths, 'ha1');
    await startKeepalived(keepalivedFiles(paths.node.ha1.dir), nsOf(prefix, 'ha1'));
    await waitForConvergence({ prefix, dir: paths.dir, primary: 'ha1', replica: null, deadline });
    say('keepalived: ha1 is MASTER, holds both VIPs, and notify promoted its MariaDB (read_only=OFF)');
    if (state.mode === 'agent') await startLabAgent(prefix, paths, 'ha2');
    await startKeepalived(keepalivedFiles(paths.node.ha2.dir), nsOf(prefix, 'ha2'));
    await waitForConvergence({ prefix, dir: paths.dir, primary: 'ha1', replica: 'ha2', deadline });
    say(
      `up in ${((Date.now() - started) / 1000).toFixed(1)} s: both VIPs on ha1 (writable primary); ` +
        'ha2 BACKUP, read-only, replicating from ha1',
    );
  } catch (error) {
    say(`up failed; tearing down (logs kept in ${paths.dir})`);
    await teardown(prefix, paths);
    throw error;
  }
}

/** The node holding both VIPs, if exactly one does. */
export async function holderOfBoth(prefix: string): Promise<LabNode | undefined> {
  const holders = await vipHolders(prefix);
  const [inside, outside] = [holders.inside, holders.outside];
  if (inside.length === 1 && outside.length === 1 && inside[0] === outside[0]) return inside[0];
  return undefined;
}

export interface ConvergenceTarget {
  prefix: string;
  dir: string;
  /** The node that must hold every VIP, be MASTER and have a writable database. */
  primary: LabNode;
  /** The node that must be BACKUP, read-only and replicating from the primary; null: not looked at. */
  replica: LabNode | null;
}

/**
 * What keeps the pair from having converged on `primary` (and `replica`), one phrase each; empty
 * when it has: exactly `primary` holds every VIP, keepalived there logged MASTER for every instance
 * and notify applied MASTER (ok), its database is writable; `replica` logged BACKUP, notify applied
 * BACKUP (ok), its database is read-only and replicates from the primary's inside address with
 * both threads running and no error.
 */
export async function convergenceProblems(target: ConvergenceTarget): Promise<string[]> {
  const { prefix, primary, replica } = target;
  const paths = labPaths(target.dir);
  const database = db(prefix, paths);
  const problems: string[] = [];
  const holders = await vipHolders(prefix);
  for (const role of ROLES) {
    if (holders[role].join() !== primary)
      problems.push(`${role} VIP on ${holders[role].join('+') || 'nobody'}, not on ${primary} alone`);
  }
  const roles: [LabNode, 'MASTER' | 'BACKUP'][] = [[primary, 'MASTER']];
  if (replica !== null) roles.push([replica, 'BACKUP']);
  for (const [node, want] of roles) {
    const files = keepalivedFiles(paths.node[node].dir);
    if (keepalivedPid(files) === undefined) {
      problems.push(`${node}: keepalived is not running (see ${files.log})`);
    } else {
      const states = lastLoggedStates(files);
      const off = ROLES.filter((role) => states[role] !== want);
      if (off.length > 0)
        problems.push(
          `${node}: keepalived not ${want} for ${off.map((role) => `${role} (${states[role] ?? 'no state yet'})`).join(', ')}`,
        );
    }
    const applied = await readAppliedState(
      appliedStatePath(paths.runtimeDir, node),
      AbortSignal.timeout(2_000),
    );
    if (applied?.state !== want || !applied.ok) {
      problems.push(
        `${node}: notify has not applied ${want} (${applied ? `last applied ${applied.state}${applied.ok ? '' : ', failed'}` : 'nothing applied yet'}; see ${paths.log})`,
      );
    }
  }
  const primaryDb = await database.status(primary);
  if (primaryDb.readOnly !== false)
    problems.push(
      `${primary}: database ${primaryDb.alive ? (primaryDb.readOnly ? 'read-only' : 'not answering') : 'down'}`,
    );
  if (replica !== null) {
    const replicaDb = await database.status(replica);
    const source = `${addressOf(primary, 'inside')}:3306`;
    if (replicaDb.readOnly !== true)
      problems.push(
        `${replica}: database ${!replicaDb.alive ? 'down' : replicaDb.readOnly === false ? 'writable' : 'not answering'}`,
      );
    const r = replicaDb.replica;
    if (replicaDb.alive && replicaDb.readOnly !== null) {
      if (r === null) problems.push(`${replica}: database is no replica`);
      else if (r.source !== source || r.io !== 'yes' || !r.sql || r.error !== null)
        problems.push(
          `${replica}: replication from ${r.source} io=${r.io} sql=${r.sql ? 'yes' : 'no'}${r.error ? ` error ${r.error}` : ''} (want ${source}, both threads running)`,
        );
    }
  }
  return problems;
}

/** Polls convergenceProblems until none is left or `deadline` (epoch ms) passes; then throws them. */
export async function waitForConvergence(target: ConvergenceTarget & { deadline: number }): Promise<void> {
  const started = Date.now();
  const everyMs = 250;
  let problems: string[] = [];
  const attempts = Math.ceil(Math.max(0, target.deadline - started) / everyMs) + 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    problems = await convergenceProblems(target);
    if (problems.length === 0) return;
    if (Date.now() >= target.deadline) break;
    await sleep(Math.min(everyMs, Math.max(0, target.deadline - Date.now())));
  }
  const want = `${target.primary} primary${target.replica ? `, ${target.replica} its replica` : ''}`;
  throw new Error(
    `the pair did not converge (${want}) within ${((Date.now() - started) / 1000).toFixed(1)} s:\n  ${problems.join('\n  ')}`,
  );
}

async function stopNodeProcesses(paths: LabPaths, node: LabNode): Promise<void> {
  const database = labDatabase({ dir: paths.dir, netns: () => '' });
  // The agent before keepalived: keepalived's STOP would have it demote and wait for a primary
  // that is going away too, and its SIGTERM waits for that transition (stopAgent kills it after
  // 10 s): 10 s of every agent-mode teardown.
  const agent = agentFiles(paths.node[node].dir);
  if (agentFrozen(agent)) signalAgent(agent, 'SIGCONT');
  await stopAgent(agent);
  // Then keepalived: it releases the VIPs and stops running notify scripts against the others.
  await stopKeepalived(keepalivedFiles(paths.node[node].dir));
  await Promise.all([
    stopLabNginx(paths, node),
    database.stop(node),
    stopRsync(rsyncFiles(paths.node[node].dir)),
    stopLabApp(paths.node[node].dir),
  ]);
}

/** Every PID the lab recorded: each leads the process group of one daemon (and its workers). */
function recordedLeaders(paths: LabPaths): number[] {
  const files = LAB_NODES.flatMap((node) => [
    keepalivedFiles(paths.node[node].dir).spawnPid,
    nginxPidFile(paths, node).pidFile,
    join(paths.node[node].dbDir, 'daemon.pid'),
    rsyncFiles(paths.node[node].dir).spawnPid,
    agentFiles(paths.node[node].dir).pid,
  ]);
  return files.map(readPidFile).filter((pid): pid is number => pid !== undefined);
}

function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

async function teardown(prefix: string, paths: LabPaths): Promise<string[]> {
  const notes: string[] = [];
  const leaders = new Set(existsSync(paths.dir) ? recordedLeaders(paths) : []);
  if (existsSync(paths.dir)) await Promise.all(LAB_NODES.map((node) => stopNodeProcesses(paths, node)));
  // Scripts keepalived spawned (check, notify) end within their timeouts; wait for them, bounded.
  for (const ns of existingNamespaces(prefix)) {
    let pids: number[] = [];
    for (let i = 0; i < 40; i++) {
      pids = (await run(['ip', 'netns', 'pids', ns], 3_000)).stdout.split('\n').filter(Boolean).map(Number);
      // Workers left by a daemon we started belong to its process group: ours to end.
      for (const pid of pids) {
        const group = processGroupOf(pid);
        if (group !== undefined && leaders.has(group)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
      if (pids.length === 0) break;
      await sleep(100);
    }
    if (pids.length > 0) {
      notes.push(
        `namespace ${ns} still has processes the lab did not start: ${pids.map((pid) => `${pid} (${commandLineOf(pid) ?? '?'})`).join(', ')}`,
      );
    }
  }
  const deleted = await destroyNetwork(prefix);
  if (deleted.length > 0) notes.push(`deleted namespaces ${deleted.join(', ')}`);
  return notes;
}

function removeOwnedEntries(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of OWNED_ENTRIES) rmSync(join(dir, entry), { recursive: true, force: true });
  // hactl itself keeps files derived from the spec beside it (e.g. a validation cache).
  // And `hactl check` keeps each check's last state beside the log (hactl.log.check-<name>.state).
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.hactl-lab.yaml.') || /^hactl\.log\.check-.+\.state$/.test(entry))
      rmSync(join(dir, entry), { force: true });
  }
}

/** Stops what the lab started (by PID), deletes its namespaces and its state. Safe to repeat. */
export async function labDown(options: Pick<LabOptions, 'prefix' | 'dir' | 'say'>): Promise<void> {
  const say = options.say ?? (() => {});
  validatePrefix(options.prefix);
  if (process.getuid?.() !== 0)
    throw new Error('hactl lab needs root to stop the lab and delete its namespaces');
  const paths = labPaths(options.dir);
  const notes = await teardown(options.prefix, paths);
  for (const note of notes) say(note);
  removeOwnedEntries(paths.dir);
  if (existsSync(paths.dir) && readdirSync(paths.dir).length === 0)
    rmSync(paths.dir, { recursive: true, force: true });
  else if (existsSync(paths.dir)) say(`left ${paths.dir} in place: it holds files the lab did not create`);
  say(`lab "${options.prefix}" is down`);
}

function requireUp(prefix: string, dir: string): LabPaths {
  validatePrefix(prefix);
  if (process.getuid?.() !== 0) throw new Error('hactl lab needs root');
  if (!readState(dir) || !namespaceExists(nsOf(prefix, 'ha1'))) {
    throw new Error(
      `no lab "${prefix}" is up (state dir ${dir}); start one with \`hactl lab up --prefix ${prefix}\``,
    );
  }
  return labPaths(dir);
}

/** Injects a fault into one node; returns the epoch ms at which it began. */
export async function labFail(options: {
  prefix: string;
  dir: string;
  node: LabNode;
  how: Fault;
}): Promise<number> {
  const { prefix, node, how } = options;
  const paths = requireUp(prefix, options.dir);
  const files = keepalivedFiles(paths.node[node].dir);
  const database = db(prefix, paths);
  const injectedAt = Date.now();
  switch (how) {
    case 'kill':
      // Node loss: the wire goes first, then every daemon dies without a chance to clean up.
      await setNodeLinks(prefix, node, false);
      await killKeepalived(files);
      signalAgent(agentFiles(paths.node[node].dir), 'SIGKILL');
      await Promise.all([stopLabNginx(paths, node, 'kill'), database.kill(node)]);
      break;
    case 'agent-kill':
    case 'agent-stop':
      if (!signalAgent(agentFiles(paths.node[node].dir), how === 'agent-kill' ? 'SIGKILL' : 'SIGSTOP'))
        throw new Error(`${node} runs no agent (is the lab up with --mode agent?)`);
      break;
    case 'stop':
      await stopKeepalived(files);
      break;
    case 'link':
      await setNodeLinks(prefix, node, false);
      break;
    case 'partition':
      await setAttached(prefix, node, false);
      break;
    case 'nginx':
      await stopLabNginx(paths, node);
      break;
    case 'mysql':
      await database.stop(node);
      break;
  }
  return injectedAt;
}

/** Undoes any fault: links up and attached, stopped daemons started again. Idempotent. */
export async function labHeal(options: { prefix: string; dir: string; node: LabNode }): Promise<void> {
  const { prefix, node } = options;
  const paths = requireUp(prefix, options.dir);
  const files = keepalivedFiles(paths.node[node].dir);
  const database = db(prefix, paths);
  // A node that "rebooted" comes back read-only with no VIPs, before it is on the wire again.
  if (keepalivedPid(files) === undefined) await dropStaleVips(prefix, node);
  await database.start(node);
  await startLabNginx(prefix, paths, node);
  if (rsyncPid(rsyncFiles(paths.node[node].dir)) === undefined) {
    await startRsync(rsyncFiles(paths.node[node].dir), nsOf(prefix, node), '192.0.2.0/24');
  }
  const links = await linkState(prefix, node);
  if (!links.attached) await setAttached(prefix, node, true);
  if (!links.up) await setNodeLinks(prefix, node, true);
  if (readState(options.dir)?.mode === 'agent') {
    const agent = agentFiles(paths.node[node].dir);
    if (agentFrozen(agent)) signalAgent(agent, 'SIGCONT');
    else await startLabAgent(prefix, paths, node);
  }
  await startKeepalived(files, nsOf(prefix, node));
}

export interface NodeStatus {
  node: LabNode;
  keepalived: boolean;
  /** Last state keepalived logged per instance (VIP name). */
  vrrp: Record<string, VrrpState | null>;
  /** VIPs configured on the node's interfaces. */
  vips: NetworkRole[];
  links: LinkState;
  nginx: boolean;
  /** The node's hactl agent: running, frozen (SIGSTOP), or absent (null: the lab runs without agents). */
  agent: 'running' | 'frozen' | 'gone' | null;
  rsync: boolean;
  db: DbStatus;
}

export interface ClientView {
  /** Which node answered HTTP on the outside VIP (its page names it), or null. */
  http: string | null;
  /** Which node's MariaDB answered on the inside VIP (by server_id), or null. */
  sql: string | null;
}

export interface LabStatus {
  prefix: string;
  dir: string;
  failback: LabFailback;
  fast: boolean;
  nodes: NodeStatus[];
  holders: Record<NetworkRole, LabNode[]>;
  /**
   * The pair as a whole: the node holding every VIP (null if none does alone), its replica (the
   * other node, when its keepalived runs) and what keeps them from having converged (empty: converged).
   */
  pair: { primary: LabNode | null; replica: LabNode | null; problems: string[] };
  client: ClientView;
}

/** One HTTP GET from inside the client namespace; the body (trimmed) or null. */
export async function clientHttp(
  prefix: string,
  url = `http://${vipOf('outside')}/`,
  timeoutMs = 1_000,
): Promise<string | null> {
  const result = await run(
    [
      'ip',
      'netns',
      'exec',
      nsOf(prefix, 'client'),
      'curl',
      '-s',
      '-f',
      '--noproxy',
      '*',
      '-m',
      String(timeoutMs / 1000),
      url,
    ],
    timeoutMs + 2_000,
  );
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

export async function labStatus(options: { prefix: string; dir: string }): Promise<LabStatus> {
  const { prefix } = options;
  const paths = requireUp(prefix, options.dir);
  const state = readState(paths.dir)!;
  const database = db(prefix, paths);
  const nodes = await Promise.all(
    LAB_NODES.map(async (node): Promise<NodeStatus> => {
      const files = keepalivedFiles(paths.node[node].dir);
      const alive = keepalivedPid(files) !== undefined;
      const logged = lastLoggedStates(files);
      return {
        node,
        keepalived: alive,
        vrrp: Object.fromEntries(ROLES.map((role) => [role, alive ? (logged[role] ?? null) : null])),
        vips: [],
        links: await linkState(prefix, node),
        nginx: nginxAlive(paths, node),
        agent: labAgentState(paths, node, readState(paths.dir)?.mode),
        rsync: rsyncPid(rsyncFiles(paths.node[node].dir)) !== undefined,
        db: await database.status(node),
      };
    }),
  );
  const holders = await vipHolders(prefix);
  for (const status of nodes) status.vips = ROLES.filter((role) => holders[role].includes(status.node));
  const primary = await holderOfBoth(prefix);
  const other = LAB_NODES.find((node) => node !== primary)!;
  const replica = primary && nodes.find((n) => n.node === other)?.keepalived ? other : null;
  const [http, sql, problems] = await Promise.all([
    clientHttp(prefix),
    database.clientServerNode(nsOf(prefix, 'client'), vipOf('inside')),
    primary
      ? convergenceProblems({ prefix, dir: paths.dir, primary, replica })
      : Promise.resolve(['no single node holds every VIP']),
  ]);
  return {
    prefix,
    dir: paths.dir,
    failback: state.failback,
    fast: state.fast,
    nodes,
    holders,
    pair: { primary: primary ?? null, replica, problems },
    client: { http, sql },
  };
}

export function formatStatus(status: LabStatus): string {
  const yes = (value: boolean) => (value ? 'up' : 'DOWN');
  const header = [
    'node',
    'keepalived',
    ...ROLES.map((role) => `${role} VIP`),
    'links',
    'nginx',
    'mysql',
    'lag',
  ];
  const rows = status.nodes.map((n) => [
    n.node,
    yes(n.keepalived),
    ...ROLES.map((role) => `${n.vips.includes(role) ? 'HOLDS ' : ''}${n.vrrp[role] ?? '-'}`),
    !n.links.up ? 'down' : !n.links.attached ? 'detached' : 'up',
    yes(n.nginx),
    n.db.role,
    n.db.lag === null ? '-' : `${n.db.lag}s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const holders = ROLES.map(
    (role) => `${role} ${vipOf(role)}: ${status.holders[role].join('+') || 'nobody'}`,
  ).join('; ');
  return [
    `lab "${status.prefix}" (${status.failback}${status.fast ? ', fast' : ''}) in ${status.dir}`,
    line(header),
    ...rows.map(line),
    `VIPs: ${holders}`,
    status.pair.problems.length === 0
      ? `pair: converged (${status.pair.primary} primary, ${status.pair.replica ? `${status.pair.replica} its replica` : 'no replica'})`
      : `pair: NOT converged: ${status.pair.problems.join('; ')}`,
    `client: HTTP http://${vipOf('outside')}/ → ${status.client.http ?? 'no answer'}; SQL ${vipOf('inside')}:3306 → ${status.client.sql ?? 'no answer'}`,
  ].join('\n');
}
