/**
 * Whether this node may make its database writable: a pure function of what the node sees now
 * (its replica status, whether it holds what the last primary had) and what it remembers (its
 * lineage). A node that cannot show it has everything the last primary it knew of had stays
 * read-only; an operator can override that explicitly, and the override is reported.
 */
import { describeExtra, extraTransactions, formatGtid, lastPerServer, parseGtidList } from '../mysql/gtid.js';
import type { ReplicaStatus } from '../mysql/replica-status.js';
import { formerPrimaryStrictProblems } from '../mysql/semi-sync.js';
import type { Lineage } from './lineage.js';
import type { DivergenceFacts } from './observation.js';

export interface ReplicaFacts {
  io: 'yes' | 'no' | 'connecting';
  sqlRunning: boolean;
  lastIoErrno: number;
  lastIoError: string;
  lastSqlErrno: number;
  lastSqlError: string;
  source: string;
}

/** What the rules need of SHOW REPLICA STATUS (null: the server replicates from nobody). */
export function replicaFactsOf(status: ReplicaStatus | null): ReplicaFacts | null {
  return (
    status && {
      io: status.ioRunning,
      sqlRunning: status.sqlRunning,
      lastIoErrno: status.lastIoErrno,
      lastIoError: status.lastIoError,
      lastSqlErrno: status.lastSqlErrno,
      lastSqlError: status.lastSqlError,
      source: `${status.sourceHost}:${status.sourcePort}`,
    }
  );
}

export interface PromotionFacts {
  /** This node's name. */
  self: string;
  lineage: { kind: 'none' } | { kind: 'ok'; lineage: Lineage } | { kind: 'unreadable'; problem: string };
  /** null: this server replicates from nobody. */
  replica: ReplicaFacts | null;
  /**
   * Whether what this server applied or already received covers the lineage's recorded primary
   * position; undefined when no position was recorded.
   */
  coverage: { holds: boolean; missing: string } | undefined;
  /** The operator's reason when they explicitly accept promoting a node that cannot prove it is current. */
  acceptStale: string | undefined;
  /**
   * The spec's mysql.semi_sync is strict: the primary waited for this node's acknowledgement with
   * no fallback, so it acknowledged nothing this node did not receive, even after the IO thread
   * stopped (its commits then waited instead).
   */
  strictSemiSync?: boolean;
  /** Strict semi-sync with a diverged lineage: both servers' GTID states and the peer's settings. */
  divergence?: DivergenceFacts | undefined;
}

export type PromotionVerdict =
  | { allow: true; reason: string; overridden: string[] }
  | { allow: false; reason: string; problems: string[]; wayOut: string };

/**
 * Errors the IO thread reports while the primary is simply gone (the normal failover case):
 * connect, lost connection, server gone, network read/write errors, host unknown.
 */
const PRIMARY_GONE_ERRNOS = new Set([0, 2002, 2003, 2005, 2006, 2013, 1158, 1159, 1160, 1161]);

export type DivergenceProof = { proven: true; reason: string } | { proven: false; why: string };

/**
 * Strict semi-sync, a node that diverged from its peer (each holds commits the other lacks: two
 * brief promotions in a row, notify-burst): may it be promoted keeping what it holds? Its own
 * extras lose nothing by being kept. What it lacks was logged by the peer as primary, and a
 * client's OK for it needed an ACK; under strict settings the only server that could ACK is this
 * one, and this one neither holds nor received it. So the proof needs: the peer is the one the
 * lineage names and is read-only now; every transaction lacked here carries the peer's server_id;
 * the peer's settings are strict as the primary it was; no other replica is registered on it; and
 * this server's IO thread did not receive any of them. What no server shows (that the settings
 * were strict all along) is the same assumption the strict rejoin states (src/cluster/rejoin-rule.ts).
 */
export function strictDivergenceProof(
  lineage: Lineage,
  divergence: DivergenceFacts | undefined,
): DivergenceProof {
  if (divergence === undefined) return { proven: false, why: 'the peer was not read' };
  if (divergence.kind === 'unreadable')
    return { proven: false, why: `the peer could not be read (${divergence.problem})` };
  const { peer } = divergence;
  const name = `${peer.node} (${peer.address})`;
  if (peer.node !== lineage.primary)
    return { proven: false, why: `the lineage names ${lineage.primary}, but the peer read is ${peer.node}` };
  if (!peer.readOnly) return { proven: false, why: `${name} is writable: it is the primary to rejoin` };
  if (peer.serverId === divergence.localServerId)
    return { proven: false, why: `${name} answers with this server's own server_id ${peer.serverId}` };
  const settings = formerPrimaryStrictProblems(peer.semiSync);
  if (settings.length > 0)
    return { proven: false, why: `${peer.node}'s semi-sync settings are not strict: ${settings.join('; ')}` };
  const others = peer.replicaServerIds.filter((id) => id !== divergence.localServerId);
  if (others.length > 0)
    return {
      proven: false,
      why: `replicas other than this node are registered on ${peer.node} (server_id ${others.join(', ')}): any of them could have acknowledged its commits`,
    };
  const here = [...parseGtidList(divergence.localState), ...parseGtidList(divergence.localApplied)];
  const lacking = extraTransactions(parseGtidList(peer.state), lastPerServer(here));
  const foreign = lacking.filter((x) => x.local.server !== peer.serverId);
  if (foreign.length > 0)
    return {
      proven: false,
      why: `this node lacks ${foreign.map(describeExtra).join(', ')}, not written by ${peer.node} (server_id ${peer.serverId}): it may have been acknowledged elsewhere`,
    };
  const received = parseGtidList(divergence.localReceived);
  const receivedOnly = lacking.filter((x) =>
    received.some(
      (r) =>
        r.domain === x.local.domain &&
        r.server === x.local.server &&
        (x.peerHas === undefined || r.seq > x.peerHas.seq),
    ),
  );
  if (receivedOnly.length > 0)
    return {
      proven: false,
      why: `this server received ${receivedOnly.map((x) => formatGtid(x.local)).join(', ')} (Gtid_IO_Pos ${divergence.localReceived}) without applying it: it may have acknowledged it`,
    };
  if (lacking.length === 0)
    return { proven: true, reason: `it holds everything ${name} logged, and ${name} is read-only` };
  return {
    proven: true,
    reason: `${name} is read-only and logged ${lacking.map((x) => formatGtid(x.local)).join(', ')} as primary, which this node lacks; under strict semi-sync only this node could have acknowledged them and it never received them, so no client was told they committed (${peer.node} rejoins by rebuild, discarding them)`,
  };
}

function problemsOf(facts: PromotionFacts, proof: DivergenceProof | undefined): string[] {
  const problems: string[] = [];
  const { replica } = facts;
  if (facts.lineage.kind === 'unreadable') {
    problems.push(`its lineage record cannot be read (${facts.lineage.problem})`);
  }
  const lineage = facts.lineage.kind === 'ok' ? facts.lineage.lineage : undefined;
  if (lineage && lineage.diverged.length > 0 && !proof?.proven) {
    problems.push(
      `it diverged from ${lineage.primary} (seen ${lineage.at}): it holds ${lineage.diverged.join(', ')}, which ${lineage.primary} never had, and lacks what ${lineage.primary} wrote since` +
        (proof ? ` (strict semi-sync cannot show that was never acknowledged: ${proof.why})` : ''),
    );
  }
  const selfWasPrimary = lineage?.primary === facts.self;
  if (replica) {
    // Its own promotion stops replication after draining: a retry must not call that "stopped by hand".
    if (replica.io === 'no' && !selfWasPrimary && !facts.strictSemiSync) {
      problems.push(
        `its replication from ${replica.source} is stopped (IO thread not running${replica.lastIoErrno ? `, error ${replica.lastIoErrno}: ${replica.lastIoError}` : ''}), so it cannot show it received what the primary wrote`,
      );
    } else if (!PRIMARY_GONE_ERRNOS.has(replica.lastIoErrno)) {
      problems.push(
        `its replication from ${replica.source} is broken (IO error ${replica.lastIoErrno}: ${replica.lastIoError})`,
      );
    }
    if (!replica.sqlRunning && replica.lastSqlErrno !== 0) {
      problems.push(
        `its replication SQL thread stopped with error ${replica.lastSqlErrno}: ${replica.lastSqlError}`,
      );
    }
  }
  if (lineage && lineage.primary !== facts.self && lineage.diverged.length === 0) {
    if (!replica) {
      problems.push(
        `it last knew ${lineage.primary} as primary (${lineage.at}) and does not replicate from it, so it lacks whatever ${lineage.primary} wrote since`,
      );
    } else if (facts.coverage && !facts.coverage.holds) {
      problems.push(
        `it lacks ${facts.coverage.missing}, which ${lineage.primary} had when last seen (${lineage.at})`,
      );
    }
  }
  return problems;
}

export function promotionVerdict(facts: PromotionFacts): PromotionVerdict {
  const lineage = facts.lineage.kind === 'ok' ? facts.lineage.lineage : undefined;
  const proof =
    lineage && lineage.diverged.length > 0 && facts.strictSemiSync
      ? strictDivergenceProof(lineage, facts.divergence)
      : undefined;
  const problems = problemsOf(facts, proof);
  if (problems.length === 0) {
    const reason = !lineage
      ? facts.replica
        ? `no lineage recorded; replicating from ${facts.replica.source} with no replication error`
        : 'no lineage recorded and no replication configured: the first promotion of this pair'
      : proof?.proven
        ? `it diverged from ${lineage.primary} (seen ${lineage.at}), keeping its own ${lineage.diverged.join(', ')}, but ${proof.reason}`
        : lineage.primary === facts.self
          ? `this node was the last primary it knew of (${lineage.at})`
          : `following ${lineage.primary}, and it holds everything ${lineage.primary} had when last seen`;
    if (facts.strictSemiSync && facts.replica?.io === 'no' && lineage?.primary !== facts.self) {
      return {
        allow: true,
        reason: `${reason}; its IO thread is stopped, but under strict semi-sync ${facts.replica.source} acknowledged nothing this node did not receive`,
        overridden: [],
      };
    }
    return { allow: true, reason, overridden: [] };
  }
  if (facts.acceptStale !== undefined) {
    return {
      allow: true,
      reason: `operator override (${facts.acceptStale}): promoting although ${problems.join('; ')}`,
      overridden: problems,
    };
  }
  return {
    allow: false,
    reason: `this node cannot show it has every write the last primary acknowledged: ${problems.join('; ')}`,
    problems,
    wayOut:
      'bring the last primary back so this node can catch up from it (then it may be promoted), or rebuild this node from it; ' +
      'if the last primary is gone for good and losing its missing writes is accepted, promote by hand with ' +
      '`hactl notify master --force --accept-stale "<reason>"` on this node (logged at error level)',
  };
}
