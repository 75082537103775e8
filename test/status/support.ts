/** Builders for the status tests: node reports and databases from a few named facts. */
import type { DatabaseStatus, NodeStatus, ReplicationStatus, VipStatus } from '../../src/status/types.js';

export function primaryDb(
  overrides: Partial<Extract<DatabaseStatus, { reachable: true }>> = {},
): DatabaseStatus {
  return {
    reachable: true,
    address: '192.0.2.11:3306',
    server_id: 1,
    flavour: 'mariadb',
    read_only: false,
    role: 'primary',
    gtid_position: '0-1-100',
    gtid_applied: '',
    replication: null,
    ...overrides,
  };
}

export function replicating(overrides: Partial<ReplicationStatus> = {}): ReplicationStatus {
  return {
    source: '192.0.2.11:3306',
    io_running: 'yes',
    sql_running: true,
    lag_seconds: 0,
    last_io_errno: 0,
    last_io_error: '',
    last_sql_errno: 0,
    last_sql_error: '',
    gtid_io_pos: '0-1-100',
    ...overrides,
  };
}

export function replicaDb(
  replication: ReplicationStatus | null = replicating(),
  overrides: Partial<Extract<DatabaseStatus, { reachable: true }>> = {},
): DatabaseStatus {
  return {
    reachable: true,
    address: '192.0.2.12:3306',
    server_id: 2,
    flavour: 'mariadb',
    read_only: true,
    role: 'replica',
    gtid_position: '0-1-100',
    gtid_applied: '0-1-100',
    replication,
    ...overrides,
  };
}

export function node(
  name: string,
  database: DatabaseStatus | null,
  extra: Partial<NodeStatus> = {},
): NodeStatus {
  return {
    name,
    self: name === 'ha1',
    source: name === 'ha1' ? 'local' : 'probe',
    vips_held: name === 'ha1' ? [] : null,
    database,
    decision: null,
    promotion: null,
    last_applied: null,
    lineage: null,
    agent: null,
    ...extra,
  };
}

export function vip(name: string, heldBy: string[], source: VipStatus['source'] = 'probe'): VipStatus {
  return {
    name,
    address: name === 'inside' ? '192.0.2.50' : '198.51.100.50',
    held_by: heldBy,
    source,
    detail: 'test',
  };
}
