/**
 * The exact privileges hactl's two MySQL accounts need, in one place: `hactl init` prints them,
 * the README lists them, and the notify tests create their account with exactly these (so a
 * missing privilege fails a test rather than a failover).
 */
export interface AccountGrants {
  /** What the account is for, in a sentence. */
  purpose: string;
  mariadb: string;
  mysql: string;
}

export const ADMIN_ACCOUNT: AccountGrants = {
  purpose:
    'mysql.credentials_file: checks, promotion and demotion on the local server (set read_only, stop/start/re-point replication, end client sessions, read binlog positions)',
  mariadb:
    'READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, CONNECTION ADMIN, PROCESS, RELOAD, SLAVE MONITOR, BINLOG MONITOR, REPLICATION MASTER ADMIN ON *.*',
  mysql:
    'SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, CONNECTION_ADMIN, PROCESS, RELOAD, REPLICATION CLIENT ON *.*',
};

export const REPLICATION_ACCOUNT: AccountGrants = {
  purpose:
    'mysql.replication_credentials_file: what a demoted node replicates with, and how it reads the peer (read_only, server_id, GTID position)',
  mariadb: 'REPLICATION SLAVE ON *.*',
  mysql: 'REPLICATION SLAVE ON *.*',
};
