/**
 * The pair's verdict, a pure function of what was collected: healthy when one writable node holds
 * every VIP and the other is read-only and replicating from it without error within the lag bound;
 * degraded otherwise, with every problem said in words. A fact nobody could establish (the peer's
 * VIPs without its agent) is a note, not a problem; a database nobody can reach is a problem.
 */
import { parseGtidList, positionGaps, formatGtidList } from '../mysql/gtid.js';
import { strictSemiSyncProblems } from '../mysql/semi-sync.js';
import type { DatabaseStatus, NodeStatus, ReplicationStatus, VipStatus } from './types.js';

export interface Verdict {
  verdict: 'healthy' | 'degraded';
  problems: string[];
  notes: string[];
}

type Reachable = Extract<DatabaseStatus, { reachable: true }>;

function isReplication(value: Reachable['replication']): value is ReplicationStatus {
  return value !== null && !('unknown' in value);
}

/** The standby's replication, judged against the primary (when one is known). */
function replicationProblems(
  standby: string,
  db: Reachable,
  primary: { name: string; db: Reachable } | undefined,
  maxLag: number,
  primaryAddress: string | undefined,
): string[] {
  const problems: string[] = [];
  const r = db.replication;
  if (r === null) return [`${standby} is read-only but replicates from nobody: it has no standby role`];
  if (!isReplication(r)) return [`${standby}'s replication could not be read (${r.unknown})`];
  if (primary && primaryAddress !== undefined && r.source !== primaryAddress)
    problems.push(
      `${standby} replicates from ${r.source}, not from the primary ${primary.name} (${primaryAddress}): standby not replicating from the primary`,
    );
  if (r.io_running !== 'yes') {
    const error = r.last_io_errno ? ` (error ${r.last_io_errno}: ${r.last_io_error})` : '';
    problems.push(
      r.io_running === 'connecting'
        ? `${standby}'s replication from ${r.source} is broken: its IO thread is still connecting${error}`
        : `${standby}'s replication from ${r.source} is stopped: IO thread not running${error}`,
    );
  }
  if (!r.sql_running) {
    problems.push(
      r.last_sql_errno
        ? `${standby}'s replication is broken: SQL thread stopped with error ${r.last_sql_errno}: ${r.last_sql_error}`
        : `${standby}'s replication is stopped: SQL thread not running`,
    );
  }
  if (r.lag_seconds !== null && r.lag_seconds > maxLag) {
    problems.push(`${standby} is lagging ${r.lag_seconds} s behind ${r.source} (bound ${maxLag} s)`);
  }
  // Seconds_Behind is null while a thread is stopped: the GTID positions still tell how far behind.
  if (primary && db.flavour === 'mariadb' && db.gtid_applied !== null && r.lag_seconds === null) {
    const gaps = positionGaps(parseGtidList(db.gtid_applied), parseGtidList(primary.db.gtid_position));
    if (gaps.length > 0) {
      problems.push(
        `${standby} is lagging: it has applied ${db.gtid_applied || 'nothing'} while ${primary.name} is at ${formatGtidList(gaps)}`,
      );
    }
  }
  return problems;
}

function promotionProblem(node: NodeStatus): string | undefined {
  const p = node.promotion;
  if (!p || p.allowed) return undefined;
  const head = p.hypothetical
    ? `${node.name} could not take over: its promotion would be refused`
    : `${node.name} holds the VIPs but its promotion is refused`;
  return `${head}: ${p.reason}; way out: ${p.way_out ?? 'see hactl notify --help'}`;
}

/**
 * Agent mode: a node whose agent is not alive, whose checks keepalived sees failing, or whose
 * unpromotable gate is raised, is degraded.
 */
function agentProblems(node: NodeStatus): string[] {
  const agent = node.agent;
  if (!agent) return [];
  if (agent.alive !== true) return [`${node.name}'s agent: ${agent.detail}`];
  const gate = agent.unpromotable
    ? [
        `${node.name}: a rebuild stopped half-way here, so its unpromotable gate keeps keepalived in FAULT: finish it with hactl rebuild (under strict semi-sync the agent's rejoin resumes it)`,
      ]
    : [];
  return agent.checks
    .filter((check) => check.ok !== true)
    .map((check) =>
      check.ok === null
        ? `${node.name}: check ${check.name} has no result yet (no track file)`
        : `${node.name}: check ${check.name} is failing (track value ${check.track_value})`,
    )
    .concat(gate);
}

/**
 * With agent.api: an agent that could not be asked is a problem (it is what keeps its node out of
 * FAULT, and its facts had to be guessed at by probes); keepalived's own word, as the agents relay
 * it, shows a FAULT node and two MASTERs (split brain) that VIPs and databases may not show yet.
 */
function vrrpProblems(nodes: readonly NodeStatus[]): string[] {
  const problems: string[] = [];
  for (const node of nodes) {
    const reach = node.agent_api;
    if (reach && !reach.answered)
      problems.push(
        `${node.name}'s agent at ${reach.address} could not be asked (${reach.problem ?? 'no answer'}); ${node.name} was probed directly instead`,
      );
    for (const v of node.vrrp ?? []) {
      if (v.state === 'FAULT')
        problems.push(
          `${node.name} is in FAULT for ${v.instance}${v.fault_by ? ` (${v.fault_by})` : ''}: it cannot take over`,
        );
    }
  }
  const instances = new Set(nodes.flatMap((n) => (n.vrrp ?? []).map((v) => v.instance)));
  for (const instance of instances) {
    const masters = nodes.filter((n) => n.vrrp?.some((v) => v.instance === instance && v.state === 'MASTER'));
    if (masters.length > 1)
      problems.push(
        `split brain: ${masters.map((n) => n.name).join(' and ')} are all VRRP MASTER for ${instance}`,
      );
  }
  return problems;
}

/** Under `mysql.semi_sync: strict`, every reachable server that is not configured so, in words. */
function semiSyncProblems(nodes: { name: string; db: Reachable }[]): string[] {
  const problems: string[] = [];
  for (const { name, db } of nodes) {
    const state = db.semi_sync;
    if (state === undefined) continue;
    if ('unknown' in state) {
      problems.push(`${name}'s semi-sync state could not be read (${state.unknown})`);
      continue;
    }
    const role = db.read_only ? 'replica' : 'primary';
    for (const problem of strictSemiSyncProblems(state, role))
      problems.push(`${name} (${role}) is not strict semi-sync: ${problem}`);
  }
  return problems;
}

export function judgePair(
  nodes: readonly NodeStatus[],
  vips: readonly VipStatus[],
  maxLag: number,
  semiSync: 'off' | 'expected' | 'strict' = 'off',
  /** Each node's database as its replicas reach it ("host:port", spec mysql.replication_network). */
  replicationAddresses: Readonly<Record<string, string>> = {},
): Verdict {
  const problems: string[] = [];
  const notes: string[] = [];

  for (const vip of vips) {
    if (vip.source === 'unknown') notes.push(`VIP ${vip.name} (${vip.address}): ${vip.detail}`);
    else if (vip.held_by.length === 0) problems.push(`VIP ${vip.name} (${vip.address}) is on no node`);
    else if (vip.held_by.length > 1)
      problems.push(
        `VIP ${vip.name} (${vip.address}) is on ${vip.held_by.length} nodes: ${vip.held_by.join(', ')}`,
      );
  }
  const holders = new Set(vips.filter((v) => v.held_by.length === 1).map((v) => v.held_by[0]!));
  if (holders.size > 1) problems.push(`the VIPs are split between ${[...holders].join(' and ')}`);
  // Without the peer's view, this node's own interfaces still show a split.
  const self = nodes.find((n) => n.self);
  const held = self?.vips_held ?? [];
  if (self && holders.size <= 1 && held.length > 0 && held.length < vips.length) {
    const missing = vips.filter((v) => !held.includes(v.address)).map((v) => v.address);
    problems.push(`the VIPs are split: ${self.name} holds ${held.join(', ')} but not ${missing.join(', ')}`);
  }

  const withDb = nodes.filter((n) => n.database !== null);
  for (const node of withDb) {
    const db = node.database!;
    if (!db.reachable) {
      // The driver's message starts with the address already.
      const why = db.problem.replace(`MySQL at ${db.address}: `, '');
      problems.push(`${node.name}'s database cannot be reached at ${db.address}: ${why}`);
    }
  }
  const reachable = withDb
    .filter((n) => n.database!.reachable)
    .map((n) => ({ name: n.name, db: n.database as Reachable }));
  const writable = reachable.filter((n) => !n.db.read_only);
  if (withDb.length > 0) {
    if (writable.length > 1) problems.push(`${writable.map((n) => n.name).join(' and ')} are both writable`);
    if (writable.length === 0 && reachable.length === withDb.length)
      problems.push('no node is writable: every database is read-only');
    if (reachable.length < withDb.length && reachable.length > 0)
      problems.push(
        `no standby: only ${reachable.map((n) => n.name).join(', ')} answers, nothing can take over if it fails`,
      );
    if (semiSync === 'strict') problems.push(...semiSyncProblems(reachable));
    const primary = writable.length === 1 ? writable[0] : undefined;
    for (const standby of reachable.filter((n) => n.db.read_only)) {
      problems.push(
        ...replicationProblems(
          standby.name,
          standby.db,
          primary,
          maxLag,
          primary && replicationAddresses[primary.name],
        ),
      );
    }
    // The VIPs must lead to the writable node.
    if (primary) {
      for (const vip of vips) {
        const other = vip.held_by.filter((n) => n !== primary.name);
        if (vip.held_by.length === 1 && other.length === 1)
          problems.push(
            `VIP ${vip.name} leads to ${other[0]}, which is read-only (the writable node is ${primary.name})`,
          );
      }
    }
  }

  problems.push(...vrrpProblems(nodes));
  for (const node of nodes) {
    const refused = promotionProblem(node);
    if (refused) problems.push(refused);
    problems.push(...agentProblems(node));
  }
  return { verdict: problems.length === 0 ? 'healthy' : 'degraded', problems, notes };
}
