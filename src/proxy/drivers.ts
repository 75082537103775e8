/**
 * One driver per proxy kind, for the proxy rule of the decision core (src/cluster/proxy-rule.ts):
 * `read` lists the backends the proxy has now (observe), `apply` takes the plan's steps for it in
 * their order (apply), each only if the proxy still needs it — read again right before — so a
 * second run of the same steps changes nothing; the first failing step throws and the steps after
 * it are not taken (a removal never runs after its addition failed). Then it persists where the
 * proxy can.
 *
 * - Atlas: `SELECT * FROM backends`, `ADD MASTER|SLAVE ip:port`, `REMOVE BACKEND n` (the list is
 *   read again before each step: Atlas renumbers after a removal); `SAVE CONFIG` when save_config.
 * - ProxySQL: rows of mysql_servers in the writer/reader hostgroups; after a change
 *   `LOAD MYSQL SERVERS TO RUNTIME` (the switch-over is atomic there) and `SAVE MYSQL SERVERS TO DISK`.
 * - HAProxy: `show servers state <backend>`; a listed backend is a server in state ready, a removed
 *   one is in maint (`set server b/s state ready|maint`). The runtime API cannot persist: a reloaded
 *   HAProxy starts from haproxy.cfg, and the agent's next tick puts it right.
 */
import { runtimeApi } from '../actions/haproxy.js';
import { adminSession, literal } from '../actions/admin-sql.js';
import type { MysqlSession } from '../mysql/connection.js';
import type { ProxyEntry } from '../spec/proxy-schema.js';
import type { BackendSet, Step } from '../cluster/proxy-rule.js';

export interface Applied {
  /** Per step, in order: whether it changed the proxy (false: it was already so). */
  changed: boolean[];
  /** How the change was persisted (ProxySQL's disk, Atlas's config file); absent when nothing changed or it cannot be. */
  persisted?: string;
}

export interface ProxyDriver {
  /** "atlas 127.0.0.1:2345", for log lines (no credentials). */
  readonly label: string;
  read(signal: AbortSignal): Promise<BackendSet>;
  /** Each step only if still needed, in order; throws at the first that fails (`done` says how far it got). */
  apply(
    steps: readonly Step[],
    signal: AbortSignal,
    done?: (step: Step, changed: boolean) => void,
  ): Promise<Applied>;
}

function split(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

async function withSession<T>(
  target: Parameters<typeof adminSession>[0],
  signal: AbortSignal,
  work: (session: MysqlSession) => Promise<T>,
): Promise<T> {
  const session = await adminSession(target, signal);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

type Of<T extends ProxyEntry['type']> = Extract<ProxyEntry, { type: T }>;

interface AtlasRow {
  index: number;
  address: string;
  type: string;
}

async function atlasRows(session: MysqlSession): Promise<AtlasRow[]> {
  const rows = await session.query('SELECT * FROM backends');
  return rows.map((row) => ({
    index: Number(row.backend_ndx),
    address: String(row.address),
    type: String(row.type).toLowerCase(),
  }));
}

const atlasSet = (rows: AtlasRow[]): BackendSet => ({
  rw: rows.filter((r) => r.type === 'rw').map((r) => r.address),
  ro: rows.filter((r) => r.type === 'ro').map((r) => r.address),
});

function atlas(entry: Of<'atlas'>): ProxyDriver {
  return {
    label: `atlas ${entry.admin_host}:${entry.admin_port}`,
    read: (signal) => withSession(entry, signal, async (session) => atlasSet(await atlasRows(session))),
    apply: (steps, signal, done) =>
      withSession(entry, signal, async (session) => {
        const changed: boolean[] = [];
        for (const step of steps) {
          // Atlas renumbers its backends after a removal: look the list up right before each step.
          const row = (await atlasRows(session)).find(
            (r) => r.type === step.kind && r.address === step.address,
          );
          const needed = step.op === 'add' ? row === undefined : row !== undefined;
          if (needed && step.op === 'add')
            await session.query(`ADD ${step.kind === 'rw' ? 'MASTER' : 'SLAVE'} ${step.address}`);
          else if (needed) await session.query(`REMOVE BACKEND ${row!.index}`);
          changed.push(needed);
          done?.(step, needed);
        }
        if (changed.includes(true) && entry.save_config) {
          await session.query('SAVE CONFIG');
          return { changed, persisted: 'SAVE CONFIG' };
        }
        return { changed };
      }),
  };
}

interface ServerRow {
  hostgroup_id: number;
  hostname: string;
  port: number;
}

function proxysql(entry: Of<'proxysql'>): ProxyDriver {
  const group = { rw: entry.writer_hostgroup, ro: entry.reader_hostgroup };
  const read = async (session: MysqlSession): Promise<BackendSet> => {
    const rows = (await session.query(
      `SELECT hostgroup_id, hostname, port FROM mysql_servers WHERE hostgroup_id IN (${group.rw},${group.ro})`,
    )) as unknown as ServerRow[];
    const inGroup = (id: number) =>
      rows.filter((r) => Number(r.hostgroup_id) === id).map((r) => `${r.hostname}:${Number(r.port)}`);
    return { rw: inGroup(group.rw), ro: inGroup(group.ro) };
  };
  return {
    label: `proxysql ${entry.admin_host}:${entry.admin_port}`,
    read: (signal) => withSession(entry, signal, read),
    apply: (steps, signal, done) =>
      withSession(entry, signal, async (session) => {
        const now = await read(session);
        const listed = { rw: [...now.rw], ro: [...now.ro] };
        const changed: boolean[] = [];
        for (const step of steps) {
          const { host, port } = split(step.address);
          const id = group[step.kind];
          const has = listed[step.kind].includes(step.address);
          const needed = step.op === 'add' ? !has : has;
          if (needed) {
            await session.query(
              step.op === 'add'
                ? `INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (${id}, ${literal(host)}, ${port})`
                : `DELETE FROM mysql_servers WHERE hostgroup_id=${id} AND hostname=${literal(host)} AND port=${port}`,
            );
            listed[step.kind] =
              step.op === 'add'
                ? [...listed[step.kind], step.address]
                : listed[step.kind].filter((a) => a !== step.address);
          }
          changed.push(needed);
          done?.(step, needed);
        }
        if (!changed.includes(true)) return { changed };
        // Until LOAD the running ProxySQL is untouched: the whole change reaches it at once.
        await session.query('LOAD MYSQL SERVERS TO RUNTIME');
        await session.query('SAVE MYSQL SERVERS TO DISK');
        return { changed, persisted: 'SAVE MYSQL SERVERS TO DISK' };
      }),
  };
}

export interface HaproxyServer {
  backend: string;
  name: string;
  address: string;
  /** srv_admin_state: 0 is ready; maintenance and drain flags are non-zero. */
  adminState: number;
}

/** Parses `show servers state <backend>` (format version 1: a header line naming the columns). */
export function parseServersState(text: string): HaproxyServer[] {
  const lines = text.split('\n');
  const header = lines.find((line) => line.startsWith('# be_id'));
  if (!header) throw new Error(`HAProxy answered no server state table: ${text.trim().slice(0, 120)}`);
  const names = header.slice(2).trim().split(/\s+/);
  const col = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`HAProxy's server state has no ${name} column`);
    return i;
  };
  const [be, srv, addr, admin, port] = ['be_name', 'srv_name', 'srv_addr', 'srv_admin_state', 'srv_port'].map(
    col,
  ) as [number, number, number, number, number];
  return lines
    .filter((line) => /^\d+ /.test(line))
    .map((line) => line.split(/\s+/))
    .map((f) => ({
      backend: f[be]!,
      name: f[srv]!,
      address: `${f[addr]}:${f[port]}`,
      adminState: Number(f[admin]),
    }));
}

export async function haproxyServers(socket: string, backend: string, signal: AbortSignal) {
  const answer = await runtimeApi(socket, `show servers state ${backend}`, signal);
  if (/^Can't find backend/m.test(answer)) throw new Error(`HAProxy has no backend "${backend}"`);
  return parseServersState(answer);
}

function haproxy(entry: Of<'haproxy'>): ProxyDriver {
  const backend = { rw: entry.write_backend, ro: entry.read_backend };
  const servers = async (signal: AbortSignal) => ({
    rw: await haproxyServers(entry.socket, backend.rw, signal),
    ro: await haproxyServers(entry.socket, backend.ro, signal),
  });
  const listed = (list: HaproxyServer[]) => [
    ...new Set(list.filter((s) => s.adminState === 0).map((s) => s.address)),
  ];
  return {
    label: `haproxy ${entry.socket}`,
    async read(signal) {
      const now = await servers(signal);
      return { rw: listed(now.rw), ro: listed(now.ro) };
    },
    async apply(steps, signal, done) {
      const changed: boolean[] = [];
      for (const step of steps) {
        const now = (await servers(signal))[step.kind];
        const at = now.filter((s) => s.address === step.address);
        if (at.length === 0) {
          throw new Error(
            `backend ${backend[step.kind]} has no server at ${step.address}: add one to haproxy.cfg (the runtime API cannot add it for good)`,
          );
        }
        const targets = at.filter((s) => (step.op === 'add' ? s.adminState !== 0 : s.adminState === 0));
        // One ready server at the address already lists it.
        const needed = step.op === 'add' ? !at.some((s) => s.adminState === 0) : targets.length > 0;
        for (const server of needed ? targets : []) {
          const command = `set server ${backend[step.kind]}/${server.name} state ${step.op === 'add' ? 'ready' : 'maint'}`;
          const answer = (await runtimeApi(entry.socket, command, signal)).trim();
          if (answer !== '') throw new Error(`HAProxy refused "${command}": ${answer.replace(/\s+/g, ' ')}`);
        }
        changed.push(needed);
        done?.(step, needed);
      }
      return { changed };
    },
  };
}

export function driverFor(entry: ProxyEntry): ProxyDriver {
  switch (entry.type) {
    case 'atlas':
      return atlas(entry);
    case 'proxysql':
      return proxysql(entry);
    case 'haproxy':
      return haproxy(entry);
  }
}
