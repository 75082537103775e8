/**
 * What one node sees at one moment, as an immutable snapshot: the decision core judges only this
 * (src/cluster/decide.ts), never the live system, so a decision can be replayed, tested and
 * explained. Facts that cost a round trip (the database, the lineage) are present only when the
 * plan may need them; a missing fact is `undefined`, a fact that could not be read says why.
 * New sources (keepalived's FIFO, the agent's checks, a distributed lease) are new fields here
 * and new rules in decide, never a second code path.
 */
import type { SemiSyncState } from '../mysql/server-state.js';
import type { LineageRead } from './lineage.js';
import type { ReplicaFacts } from './promotion-guard.js';

export const VRRP_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

/** The last state whose actions ran on this node: a hint (it can be stale or lost at boot), never the truth. */
export interface AppliedState {
  state: VrrpState;
  /** false when any step failed: the next decision for this state runs the actions again. */
  ok: boolean;
  at: string;
  /** What triggered it (the notify words, or the agent's source). */
  event: string;
  /** The transition that applied it, when recorded by a version that had ids. */
  transitionId?: string;
  /**
   * Its actions succeeded but one of them left work for a later transition into the same state
   * (a demotion that could not re-point yet: the peer was not a writable primary).
   */
  unfinished?: string;
}

/** What keepalived said about this node's VRRP instance or sync group. */
export interface KeepalivedFact {
  state: VrrpState;
  /** A notify hook's arguments today; keepalived's notify_fifo with the agent. */
  source: 'event' | 'fifo';
  /** The sync group or instance name, when keepalived gave one. */
  name?: string;
  priority?: number;
  /** The words as received, for the log and the applied-state record. */
  text: string;
}

export interface VipFacts {
  held: readonly string[];
  missing: readonly string[];
}

/**
 * Strict semi-sync, a lineage that says this node diverged from its peer: what the promotion guard
 * needs to show that whatever this server lacks of the peer was never acknowledged to a client
 * (src/cluster/divergence-facts.ts reads it; src/cluster/promotion-guard.ts judges it).
 */
export type DivergenceFacts =
  | {
      kind: 'ok';
      localServerId: number;
      /** gtid_binlog_state here. */
      localState: string;
      /** gtid_slave_pos here: what it applied as a replica (its binlog lacks that without log_slave_updates). */
      localApplied: string;
      /** What this server's IO thread received (Gtid_IO_Pos); '' when it replicates from nobody. */
      localReceived: string;
      /** The peer, read with the admin account. */
      peer: {
        node: string;
        address: string;
        readOnly: boolean;
        serverId: number;
        /** Its gtid_binlog_state. */
        state: string;
        semiSync: SemiSyncState;
        /** server_id of every replica registered on it (SHOW SLAVE HOSTS). */
        replicaServerIds: readonly number[];
      };
    }
  | { kind: 'unreadable'; problem: string };

/** The local database, as far as a promotion decision needs it. */
export type DatabaseFacts =
  | {
      kind: 'ok';
      /** read_only or super_read_only is on. */
      readOnly: boolean;
      /** null: this server replicates from nobody. */
      replica: ReplicaFacts | null;
      /** Whether it holds the lineage's recorded primary position; undefined when none applies. */
      coverage: { holds: boolean; missing: string } | undefined;
      /** Read only under strict semi-sync when the lineage says this node diverged. */
      divergence?: DivergenceFacts;
      /** A rebuild stopped half-way here (its marker in paths.state_dir): the data is a partial copy. */
      rebuildUnfinished?: true;
    }
  | { kind: 'unreachable'; problem: string };

/**
 * A standby's replication as the re-point rule needs it (src/cluster/repoint-rule.ts): read by the
 * agent on ticks that apply nothing while a demotion is applied, at most every few seconds.
 */
export type StandbyFacts =
  | {
      kind: 'ok';
      /** read_only or super_read_only is on. */
      readOnly: boolean;
      /** null: this server replicates from nobody. */
      replica: ReplicaFacts | null;
      /** The peer's database as this server replicates from it ("host:port") and its node name. */
      peer: { node: string; address: string };
      /** The peer, read with the replication account: writable, and what this server logged that it lacks. */
      peerState:
        | { kind: 'ok'; writable: boolean; position: string; extraHere: readonly string[] }
        | { kind: 'unreachable'; problem: string }
        /** Not read: the standby replicates from the peer with both threads running. */
        | { kind: 'not-read' };
    }
  | { kind: 'unreachable'; problem: string };

/** One health check's last result (the agent will run them in-process). */
export interface CheckFact {
  name: string;
  healthy: boolean;
  detail: string;
  at: string;
}

/**
 * A distributed lease (e.g. a key in etcd with a TTL), for pairs that add a witness or clusters of
 * three or more: only the holder may be primary. Absent when the spec configures no lease store.
 */
export interface LeaseFact {
  /** The node that holds it, or null when nobody does. */
  holder: string | null;
  /** How long the holder's claim stays valid from the moment of observation (≤ 0: expired). */
  validForMs: number;
  /** Where it was read, for messages (e.g. "etcd 192.0.2.30:2379 /hactl/db/leader"). */
  store: string;
}

/** One of this node's proxies (spec `proxy.proxies[proxy]`) as its driver read it. */
export interface ProxyRead {
  proxy: number;
  /** "atlas 127.0.0.1:2345" (no credentials). */
  label: string;
  /** What it lists now ("host:port"); undefined when it could not be read in time. */
  backends: { rw: readonly string[]; ro: readonly string[] } | undefined;
  problem?: string;
}

/** What the proxy rule needs (src/cluster/proxy-rule.ts); read by the agent only. */
export interface ProxyFacts {
  /** The failback rule's verdict on the standby's database; undefined when not judged. */
  standbyCaughtUp: { ok: boolean; detail: string } | undefined;
  proxies: readonly ProxyRead[];
}

/**
 * Agent mode, with a witness (spec fencing.witness): what the witness monitor has heard from the
 * peer. Each of its rounds probes every fencing path to the peer for connect_timeout.
 */
export interface PeerSilence {
  /** Rounds in a row in which no path to the peer answered (0: the last round heard it). */
  failedRounds: number;
  /** How long ago the monitor's last round ended. */
  lastRoundAgoMs: number;
}

export interface Observation {
  /** One id per decision cycle: the plan, every step and every log line of this transition carry it. */
  readonly transitionId: string;
  readonly node: string;
  readonly at: string;
  readonly vips: VipFacts;
  readonly keepalived: KeepalivedFact | undefined;
  readonly lastApplied: AppliedState | undefined;
  /** Read only when a promotion may be decided, or with the standby facts (rule 7). */
  readonly lineage: LineageRead | undefined;
  /** Read only when a promotion may be decided. */
  readonly database: DatabaseFacts | undefined;
  readonly checks: readonly CheckFact[] | undefined;
  readonly lease: LeaseFact | undefined;
  /**
   * Agent mode, for a notify hook: whether this node's agent says it is alive (its liveness track
   * file reads 0). Undefined when not read (no agent mode, or the agent itself is deciding).
   */
  readonly agentAlive?: boolean | undefined;
  /**
   * Agent mode, on ticks that apply nothing while BACKUP or FAULT is applied (decide's
   * needsStandbyFacts): whether the standby replicates from the peer, and whether it could.
   */
  readonly standby?: StandbyFacts | undefined;
  /** Spec `proxy:`: read by the agent on ticks that apply no state or retry a failed one (decide's needsProxyFacts). */
  readonly proxy?: ProxyFacts | undefined;
  /** Agent mode with a witness: the witness monitor's account of the peer (in memory, no I/O). */
  readonly peerSilence?: PeerSilence | undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** A frozen copy (deeply): nothing downstream of the observation can change what was seen. */
export function freezeObservation(observation: Observation): Observation {
  return deepFreeze(structuredClone(observation));
}
