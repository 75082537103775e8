import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFlavour } from '../../src/mysql/flavour.js';
import { parseReplicaStatus } from '../../src/mysql/replica-status.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
const mariadb = parseFlavour('10.11.19-MariaDB-0+deb12u1-log', 'Debian 12');

describe('parseReplicaStatus', () => {
  it('MariaDB 10.11 healthy: Slave_* columns, Using_Gtid, Gtid_IO_Pos', () => {
    const s = parseReplicaStatus(fixture('mariadb-10.11-healthy'), mariadb);
    expect(s).toMatchObject({
      ioRunning: 'yes',
      sqlRunning: true,
      lagSeconds: 0,
      lastIoErrno: 0,
      lastSqlErrno: 0,
      sourceHost: '192.0.2.11',
      sourcePort: 3306,
      usingGtid: 'slave_pos',
      gtidIoPos: '0-1-1042',
      retrievedGtidSet: null,
      executedGtidSet: null,
    });
  });

  it('MariaDB connecting: NULL lag, IO error kept', () => {
    const s = parseReplicaStatus(fixture('mariadb-10.11-connecting'), mariadb);
    expect(s.ioRunning).toBe('connecting');
    expect(s.lagSeconds).toBeNull();
    expect(s.lastIoErrno).toBe(2003);
    expect(s.lastIoError).toContain('Connection refused');
  });

  it('MariaDB diverged (1950) and delayed replicas', () => {
    const d = parseReplicaStatus(fixture('mariadb-10.11-diverged-1950'), mariadb);
    expect(d).toMatchObject({
      sqlRunning: false,
      lastSqlErrno: 1950,
      gtidIoPos: '0-1-1050',
      lagSeconds: null,
    });
    const l = parseReplicaStatus(fixture('mariadb-10.11-delayed'), mariadb);
    expect(l).toMatchObject({ lagSeconds: 17, sqlDelay: 30, gtidIoPos: '0-1-1100,1-3-7' });
  });

  it('MySQL 5.7 SHOW SLAVE STATUS: Master_* columns, GTID sets without newlines', () => {
    const mysql57 = parseFlavour('5.7.44-log', 'MySQL Community Server (GPL)');
    expect(mysql57.replicaStatusStatement).toBe('SHOW SLAVE STATUS');
    const s = parseReplicaStatus(fixture('mysql-5.7-slave-status'), mysql57);
    expect(s).toMatchObject({
      ioRunning: 'yes',
      sqlRunning: true,
      lagSeconds: 3,
      sourceHost: '10.0.0.11',
      usingGtid: 'auto_position',
      gtidIoPos: null,
      retrievedGtidSet: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5021',
      executedGtidSet: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5019,8c2a7f3e-71ca-11e1-9e33-c80aa9429563:1-3',
    });
  });

  it('MySQL 8.0.21 SHOW SLAVE STATUS while connecting with access denied', () => {
    const f = parseFlavour('8.0.21', 'MySQL Community Server - GPL');
    expect(f.replicaStatusStatement).toBe('SHOW SLAVE STATUS');
    expect(f.changeSourceStyle).toBe('master');
    const s = parseReplicaStatus(fixture('mysql-8.0.21-slave-status'), f);
    expect(s).toMatchObject({
      ioRunning: 'connecting',
      lagSeconds: null,
      lastIoErrno: 1045,
      usingGtid: 'no',
    });
  });

  it('MySQL 8.0.35 SHOW REPLICA STATUS: Replica_*/Source_* columns, SQL error', () => {
    const f = parseFlavour('8.0.35', 'MySQL Community Server - GPL');
    expect(f.replicaStatusStatement).toBe('SHOW REPLICA STATUS');
    expect(f.changeSourceStyle).toBe('source');
    const s = parseReplicaStatus(fixture('mysql-8.0.35-replica-status'), f);
    expect(s).toMatchObject({
      ioRunning: 'yes',
      sqlRunning: false,
      lagSeconds: null,
      lastSqlErrno: 1062,
      sourceHost: '10.0.0.11',
      sourcePort: 3306,
    });
  });

  it('MySQL 8.4 SHOW REPLICA STATUS: lag from Seconds_Behind_Source, multi-line GTID sets', () => {
    const f = parseFlavour('8.4.3', 'MySQL Community Server - GPL');
    const s = parseReplicaStatus(fixture('mysql-8.4-replica-status'), f);
    expect(s).toMatchObject({
      lagSeconds: 42,
      sourcePort: 3307,
      retrievedGtidSet:
        '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9000,8c2a7f3e-71ca-11e1-9e33-c80aa9429563:1-3',
      executedGtidSet: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-8712,8c2a7f3e-71ca-11e1-9e33-c80aa9429563:1-3',
    });
  });

  it('refuses a row that is not replica status', () => {
    expect(() => parseReplicaStatus({ Variable_name: 'x' }, mariadb)).toThrow(/IO_Running/);
  });
});

describe('parseFlavour', () => {
  it('detects MariaDB by version string or comment and never claims super_read_only for it', () => {
    expect(parseFlavour('10.11.19-MariaDB-0+deb12u1-log', 'Debian 12')).toMatchObject({
      kind: 'mariadb',
      hasSuperReadOnly: false,
      replicaKeyword: 'REPLICA',
      changeSourceStyle: 'master',
    });
    expect(parseFlavour('10.4.30', 'mariadb.org binary distribution')).toMatchObject({
      kind: 'mariadb',
      replicaStatusStatement: 'SHOW SLAVE STATUS',
      replicaKeyword: 'SLAVE',
    });
    expect(parseFlavour('8.0.36', 'MySQL Community Server - GPL', true)).toMatchObject({
      kind: 'mysql',
      hasSuperReadOnly: true,
      replicaKeyword: 'REPLICA',
    });
  });
});
