/**
 * Two MariaDB servers in two namespaces joined by a veth (192.0.2.11 ↔ 192.0.2.12), each on port
 * 3306 of its own namespace, ha2 replicating from ha1: the spec's single mysql.port and
 * credentials file then hold for both nodes, as they do on real machines.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initMariadb, startReplication, type MariadbServer } from '../../src/lab/mariadb.js';
import { renderClientSection } from '../../src/mysql/option-file.js';
import { connectWith } from '../../src/mysql/connection.js';
import { ADMIN_ACCOUNT, REPLICATION_ACCOUNT } from '../../src/mysql/grants.js';
import { createNs, deleteNs, ip, linkNs } from './ns.js';
import { stopProcess } from '../../src/lab/processes.js';

export const ADDRESSES = { ha1: '192.0.2.11', ha2: '192.0.2.12' } as const;
export const VIP = '192.0.2.50';

export interface NsPair {
  dir: string;
  ns: { ha1: string; ha2: string };
  db: { ha1: MariadbServer; ha2: MariadbServer };
  spec: string;
  log: string;
  /** Every password in play. */
  secrets: string[];
  stop(): Promise<void>;
}

function password(): string {
  return `${randomBytes(9).toString('base64url')}'"\\;#p`;
}

export async function startNsPair(tag: string, extraSpec = ''): Promise<NsPair> {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-nsdb-'));
  const ns = { ha1: `hm1${tag}-${process.pid}`.slice(0, 15), ha2: `hm2${tag}-${process.pid}`.slice(0, 15) };
  const servers: MariadbServer[] = [];
  const stop = async () => {
    for (const s of servers) await s.stop({ kill: true }).catch(() => undefined);
    // A server whose start-up failed inside initMariadb is not in `servers`: find it by namespace,
    // and stop it only if its command line names our directory.
    for (const name of [ns.ha1, ns.ha2]) {
      let pids: number[] = [];
      try {
        pids = ip(['netns', 'pids', name]).split('\n').filter(Boolean).map(Number);
      } catch {
        /* no such namespace */
      }
      for (const pid of pids) await stopProcess(pid, dir, { signal: 'SIGKILL', waitMs: 5000 });
    }
    deleteNs(ns.ha1);
    deleteNs(ns.ha2);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    createNs(ns.ha1);
    createNs(ns.ha2);
    linkNs(ns.ha1, ns.ha2, ADDRESSES.ha1, ADDRESSES.ha2);
    const common = { port: 3306, bindAddress: '0.0.0.0' };
    const ha1 = await initMariadb({
      ...common,
      dir: join(dir, 'ha1'),
      serverId: 1,
      netns: ns.ha1,
      readOnly: false,
    });
    servers.push(ha1);
    const ha2 = await initMariadb({
      ...common,
      dir: join(dir, 'ha2'),
      serverId: 2,
      netns: ns.ha2,
      readOnly: true,
    });
    servers.push(ha2);

    // One credentials file for both nodes, as the spec wants: same accounts on both, kept out of the binlog.
    const admin = { user: 'hactl', password: password() };
    const repl = { user: 'hactl_rep', password: password() };
    for (const server of [ha1, ha2]) {
      // root over the socket (no password; the lab keeps that one) can grant.
      const s = await connectWith({ user: 'root', socket: server.socket }, { timeoutMs: 5000 });
      try {
        await s.query('SET SESSION sql_log_bin = 0');
        await s.query("CREATE USER ?@'%' IDENTIFIED BY ?", [admin.user, admin.password], {
          secrets: [admin.password],
        });
        // Exactly what README and `hactl init` tell operators to grant: a missing privilege fails here.
        await s.query(`GRANT ${ADMIN_ACCOUNT.mariadb} TO ?@'%'`, [admin.user]);
        await s.query("CREATE USER ?@'%' IDENTIFIED BY ?", [repl.user, repl.password], {
          secrets: [repl.password],
        });
        await s.query(`GRANT ${REPLICATION_ACCOUNT.mariadb} TO ?@'%'`, [repl.user]);
      } finally {
        await s.close();
      }
    }
    const credentials = join(dir, 'mysql.cnf');
    const replication = join(dir, 'replication.cnf');
    writeFileSync(credentials, renderClientSection(admin), { mode: 0o600 });
    writeFileSync(replication, renderClientSection(repl), { mode: 0o600 });

    await startReplication(ha2, { host: ADDRESSES.ha1, port: 3306, account: ha1.replication });
    const s1 = await ha1.session();
    await s1.query('CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)');
    await s1.query('INSERT INTO app.t (v) VALUES (1)');
    const position = String((await s1.query('SELECT @@GLOBAL.gtid_binlog_pos AS p'))[0]?.p);
    await s1.close();
    // Tests start from a caught-up replica (a write on ha2 before this would race ha1's events).
    const s2 = await ha2.session();
    try {
      const waited = (
        await s2.query('SELECT MASTER_GTID_WAIT(?, 15) AS r', [position], { timeoutMs: 20_000 })
      )[0]?.r;
      if (Number(waited) !== 0) throw new Error(`ha2 did not apply ${position} within 15 s`);
    } finally {
      await s2.close();
    }

    const log = join(dir, 'hactl.log');
    const spec = join(dir, 'spec.yaml');
    writeFileSync(
      spec,
      `version: 1
cluster: db
nodes:
  - name: ha1
    priority: 150
    networks: { inside: { interface: lo, address: ${ADDRESSES.ha1} } }
  - name: ha2
    priority: 120
    networks: { inside: { interface: lo, address: ${ADDRESSES.ha2} } }
vips:
  - { name: inside, address: ${VIP}/24, network: inside, virtual_router_id: 51 }
mysql:
  credentials_file: ${credentials}
  replication_credentials_file: ${replication}
  host: 127.0.0.1
  port: 3306
  topology: one-way
  catch_up_timeout: 30
actions:
  master:
    - type: mysql.promote
  backup:
    - type: mysql.demote
  fault:
    - type: mysql.demote
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
logging: { file: ${log}, level: debug }
${extraSpec}`,
    );
    const secrets = [
      admin.password,
      repl.password,
      ...[ha1, ha2].flatMap((s) => [s.admin.password, s.replication.password, s.app.password]),
    ];
    return { dir, ns, db: { ha1, ha2 }, spec, log, secrets, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Samples every process's argv while `fn` runs; returns what `fn` returned and any leaks seen. */
export async function watchArgv<T>(
  secrets: string[],
  fn: () => Promise<T>,
): Promise<{ value: T; leaks: string[] }> {
  const leaks = new Set<string>();
  const sample = () => {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (secrets.some((s) => cmdline.includes(s))) leaks.add(cmdline.split('\0').join(' ').slice(0, 100));
      } catch {
        /* gone */
      }
    }
  };
  const timer = setInterval(sample, 25);
  try {
    const value = await fn();
    sample();
    return { value, leaks: [...leaks] };
  } finally {
    clearInterval(timer);
  }
}
