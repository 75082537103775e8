/**
 * What `hactl status` reports, as plain JSON-able data with stable snake_case field names (the
 * README documents them; `--json` prints exactly this). The agent will serve the same NodeStatus
 * for its own node; until then every fact about the peer comes from a direct probe, which the
 * `source` field says.
 */
import type { SemiSyncState } from '../mysql/server-state.js';

/** Where a node's facts come from: a bounded probe from this process, or (later) that node's agent. */
export type FactSource = 'local' | 'probe' | 'agent';

export interface ReplicationStatus {
  /** host:port it replicates from. */
  source: string;
  io_running: 'yes' | 'no' | 'connecting';
  sql_running: boolean;
  /** Seconds_Behind_Master/Source; null while a thread is stopped or connecting. */
  lag_seconds: number | null;
  last_io_errno: number;
  last_io_error: string;
  last_sql_errno: number;
  last_sql_error: string;
  /** MariaDB Gtid_IO_Pos: what the IO thread received. */
  gtid_io_pos: string | null;
}

export type DatabaseStatus =
  | {
      reachable: true;
      /** host:port or socket, never credentials. */
      address: string;
      server_id: number;
      flavour: 'mariadb' | 'mysql';
      read_only: boolean;
      /** primary: writable; replica: read-only (whatever it replicates from). */
      role: 'primary' | 'replica';
      /** MariaDB gtid_binlog_pos / MySQL gtid_executed. */
      gtid_position: string;
      /** MariaDB gtid_slave_pos (what the replica applied); null on MySQL. */
      gtid_applied: string | null;
      /** null: it replicates from nobody; a string: it could not be read (e.g. no privilege). */
      replication: ReplicationStatus | null | { unknown: string };
      /** The server's semi-sync variables and status; absent when not read. */
      semi_sync?: SemiSyncState | { unknown: string };
    }
  | { reachable: false; address: string; problem: string };

export interface PromotionStatus {
  allowed: boolean;
  /** The promotion guard's sentence. */
  reason: string;
  problems: string[];
  /** How to get out of a refusal, when refused. */
  way_out: string | null;
  /**
   * true: this node does not hold the VIPs, so this is what would happen if it took them now
   * ("could it take over?"); false: the verdict of the decision it would take now.
   */
  hypothetical: boolean;
}

/** Agent mode, this node only: what its agent has told keepalived through the track files. */
export interface AgentStatus {
  /** true: the liveness file reads 0; false: 1 (dead or frozen); null: missing or unreadable. */
  alive: boolean | null;
  detail: string;
  /** Each check's track value and whether it means OK (null: no file yet). */
  checks: { name: string; track_value: number | null; ok: boolean | null }[];
  /** Points the failback gate takes off the priority (after-catch-up), null otherwise. */
  failback_gate: number | null;
  /** Present (true) while the unpromotable gate holds this node in FAULT: a rebuild is unfinished here. */
  unpromotable?: true;
}

/** keepalived's VRRP state as its notify FIFO last said it (unknown: nothing heard since the agent started or lost lines). */
export type VrrpStateName = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'unknown';

/** One VRRP instance on a node, as only that node's agent knows it. */
export interface VrrpInstanceStatus {
  /** The vrrp_instance name (the VIP's name). */
  instance: string;
  interface: string;
  vrid: number;
  state: VrrpStateName;
  /** When keepalived said it (ISO 8601); null while unknown. */
  since: string | null;
  /**
   * Computed by the agent, not read from keepalived (which does not expose it): the spec's base
   * priority plus Σ weight × value of the track files keepalived reads; null when FAULT by a track file.
   */
  effective_priority: number | null;
  /** A track file that puts the node in FAULT (weight 0 and non-zero, or value × weight ≤ -254). */
  fault_by: string | null;
  /** The priority keepalived itself last wrote into the FIFO for this instance, null before any line. */
  reported_priority: number | null;
}

/** One in-process check, as the agent runs it. */
export interface CheckRunStatus {
  name: string;
  kind: string;
  /** After fall/rise: what keepalived is told; null before the first result. */
  ok: boolean | null;
  /** The last run's own verdict (before fall/rise). */
  last_result: boolean | null;
  detail: string;
  latency_ms: number | null;
  last_run_at: string | null;
  track_value: number | null;
}

/** File sync as the agent runs it (spec sync); served by the agent only. */
export interface SyncStatus {
  interval_s: number;
  /** ISO 8601 start of the push in flight, or null. */
  running_since: string | null;
  /** The last push that ended, or null before the first. */
  last: { ok: boolean; started_at: string; finished_at: string; duration_ms: number; detail: string } | null;
  /** ISO 8601 end of the last push that succeeded, or null. */
  last_success_at: string | null;
  /** Seconds since the last push ended, when served; null before the first. */
  age_s: number | null;
  /** Pushes ended since the agent (re)started its sync. */
  pushes: number;
  /** Why the agent does or does not push now (its last sentence). */
  decision: string;
}

/** One decision of the agent's loop that had something to apply (newest last). */
export interface TransitionStatus {
  id: string;
  /** The state it decided to apply (null: none). */
  state: string | null;
  /** keepalived's line or event that led to it (null: none trusted; judged by the VIPs). */
  source_event: string | null;
  at: string;
  /** ok | failed | refused | error (the loop could not decide) */
  outcome: string;
  reason: string;
}

/** How `hactl status` reached a node's agent (only when the spec has agent.api). */
export interface AgentApiReach {
  /** host:port asked. */
  address: string;
  answered: boolean;
  /** Why it could not be asked (never the token); null when it answered. */
  problem: string | null;
}

export interface NodeStatus {
  name: string;
  /** The node the report was made on. */
  self: boolean;
  source: FactSource;
  /** VIP addresses this node holds; null when they cannot be seen (the peer, without its agent). */
  vips_held: string[] | null;
  database: DatabaseStatus | null;
  /** What `hactl notify` would decide now (dry run), on this node only. */
  decision: { state: string | null; reason: string; actions: string[] } | null;
  promotion: PromotionStatus | null;
  /** The last state whose actions ran here (a hint, from the runtime dir). */
  last_applied: {
    state: string;
    ok: boolean;
    at: string;
    event: string;
    transition_id: string | null;
  } | null;
  /** The lineage record (paths.state_dir), or why it is missing. */
  lineage:
    | { primary: string; primary_position: string; following: boolean; diverged: string[]; at: string }
    | { none: true }
    | { unreadable: string }
    | null;
  /** Agent mode on this node; null otherwise (and for the peer). */
  agent: AgentStatus | null;
  /** Served by the node's agent (agent.api) only; absent otherwise. */
  vrrp?: VrrpInstanceStatus[];
  /** Served by the node's agent (agent.api) only; absent otherwise. */
  checks?: CheckRunStatus[];
  /** Served by the node's agent (agent.api) only: the last 20, newest last; absent otherwise. */
  transitions?: TransitionStatus[];
  /** Served by the node's agent when the spec has sync; absent otherwise. */
  sync?: SyncStatus;
  /** With agent.api: whether the node's agent could be asked; absent otherwise. */
  agent_api?: AgentApiReach;
}

export interface VipStatus {
  name: string;
  address: string;
  /** Nodes seen holding it (local interfaces) or answering through it (MySQL server_id). */
  held_by: string[];
  /** How held_by was found: local interfaces, the nodes' agents, a MySQL probe through the VIP, or not at all. */
  source: 'local' | 'agent' | 'probe' | 'unknown';
  detail: string;
}

export interface PairStatus {
  /** Bumped when a field changes meaning or disappears. */
  format: 1;
  cluster: string;
  observed_from: string;
  at: string;
  verdict: 'healthy' | 'degraded';
  problems: string[];
  /** Facts that could not be established (not problems by themselves). */
  notes: string[];
  max_lag_seconds: number;
  duration_ms: number;
  vips: VipStatus[];
  nodes: NodeStatus[];
}
