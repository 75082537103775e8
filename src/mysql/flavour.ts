/**
 * Which server we talk to and which statements it understands. Syntax follows the version table
 * (MySQL renamed SLAVE/MASTER in 8.0.22/8.0.23 and removed the old forms in 8.4; MariaDB kept
 * the old column names); `super_read_only` is probed, not assumed.
 */
import type { MysqlSession } from './connection.js';

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export interface Flavour {
  kind: 'mariadb' | 'mysql';
  version: Version;
  /** As the server reports it, e.g. "10.11.19-MariaDB-0+deb12u1-log". */
  versionString: string;
  /** "SHOW REPLICA STATUS" or "SHOW SLAVE STATUS". */
  replicaStatusStatement: string;
  /** "REPLICA" or "SLAVE", for START/STOP/RESET. */
  replicaKeyword: 'REPLICA' | 'SLAVE';
  /** MySQL ≥ 8.0.23 uses CHANGE REPLICATION SOURCE TO … SOURCE_*; older and MariaDB CHANGE MASTER TO … MASTER_*. */
  changeSourceStyle: 'source' | 'master';
  hasSuperReadOnly: boolean;
}

export function atLeast(v: Version, major: number, minor = 0, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export function parseVersion(text: string): Version {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return { major: 0, minor: 0, patch: 0 };
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/** From `SELECT VERSION(), @@version_comment` (and, when known, whether super_read_only exists). */
export function parseFlavour(versionString: string, comment: string, hasSuperReadOnly?: boolean): Flavour {
  const mariadb = /mariadb/i.test(versionString) || /mariadb/i.test(comment);
  const version = parseVersion(versionString);
  if (mariadb) {
    return {
      kind: 'mariadb',
      version,
      versionString,
      replicaStatusStatement: atLeast(version, 10, 5, 1) ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS',
      replicaKeyword: atLeast(version, 10, 5, 1) ? 'REPLICA' : 'SLAVE',
      changeSourceStyle: 'master',
      hasSuperReadOnly: hasSuperReadOnly ?? false,
    };
  }
  const modern = atLeast(version, 8, 0, 22);
  return {
    kind: 'mysql',
    version,
    versionString,
    replicaStatusStatement: modern ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS',
    replicaKeyword: modern ? 'REPLICA' : 'SLAVE',
    changeSourceStyle: atLeast(version, 8, 0, 23) ? 'source' : 'master',
    hasSuperReadOnly: hasSuperReadOnly ?? atLeast(version, 5, 7, 8),
  };
}

export function describeFlavour(f: Flavour): string {
  return `${f.kind === 'mariadb' ? 'MariaDB' : 'MySQL'} ${f.version.major}.${f.version.minor}.${f.version.patch}`;
}

export async function detectFlavour(session: MysqlSession): Promise<Flavour> {
  // A server's version and variables cannot change under a live connection: asked once per connection.
  const known = session.memo?.get('flavour') as Flavour | undefined;
  if (known) return known;
  const rows = await session.query('SELECT VERSION() AS v, @@version_comment AS c');
  const row = rows[0] ?? {};
  // SHOW VARIABLES works on every flavour (information_schema.GLOBAL_VARIABLES is gone in MySQL 8).
  const sro = await session.query("SHOW GLOBAL VARIABLES LIKE 'super_read_only'");
  const flavour = parseFlavour(String(row.v ?? ''), String(row.c ?? ''), sro.length > 0);
  session.memo?.set('flavour', flavour);
  return flavour;
}
