/**
 * The pure half of `hactl switchover`: from what both nodes' agents report (the same NodeStatus
 * `hactl status` shows), which node hands over to which, or why it must not happen now, and the
 * steps it will take. Nothing here reads a clock, a file or the network.
 */
import type { Spec } from '../spec/schema.js';
import type { NodeStatus } from '../status/types.js';
import { STEP_NAMES, type StepName } from './record.js';

export type Preflight =
  | { kind: 'go'; from: string; to: string; reason: string }
  /** The target is the primary already: a rerun after a finished switchover lands here. */
  | { kind: 'nothing'; from: string; reason: string }
  | { kind: 'refuse'; reason: string; fix: string };

export interface PreflightInput {
  spec: Pick<Spec, 'nodes' | 'vips' | 'failback'>;
  /** Each node's status by name; null when its agent could not be asked (the problem says why). */
  nodes: Record<string, { status: NodeStatus | null; problem?: string }>;
  /** --to, when given. */
  to: string | undefined;
  maxLagSec: number;
}

/** A node is the primary when it holds every VIP and its database is writable. */
export function isPrimary(status: NodeStatus | null, vipCount: number): boolean {
  const db = status?.database;
  return !!status && (status.vips_held?.length ?? 0) === vipCount && !!db && db.reachable && !db.read_only;
}

function describe(status: NodeStatus | null, problem: string | undefined): string {
  if (!status) return `its agent could not be asked (${problem ?? 'no answer'})`;
  const db = status.database;
  const dbText = !db
    ? 'database not observed'
    : db.reachable
      ? db.read_only
        ? 'read-only'
        : 'writable'
      : 'database unreachable';
  return `holds ${status.vips_held?.length ?? 'unknown'} VIP(s), ${dbText}`;
}

/** Why the target may not take over now; undefined when it may. */
export function targetProblem(target: NodeStatus, from: string, maxLagSec: number): string | undefined {
  const name = target.name;
  if (target.agent?.alive === false) return `${name}'s agent is not alive (${target.agent.detail})`;
  const failing = (target.checks ?? []).filter((c) => c.ok === false);
  if (failing.length > 0)
    return `${name} is unhealthy: ${failing.map((c) => `check ${c.name} fails (${c.detail})`).join('; ')}`;
  const fault = (target.vrrp ?? []).find((v) => v.state === 'FAULT' || v.state === 'STOP');
  if (fault)
    return `${name}'s VRRP instance ${fault.instance} is ${fault.state}${fault.fault_by ? ` (${fault.fault_by})` : ''}`;
  const db = target.database;
  if (!db) return `${name}'s database was not observed`;
  if (!db.reachable) return `${name}'s database is unreachable (${db.problem})`;
  const lineage = target.lineage;
  if (lineage && 'diverged' in lineage && lineage.diverged.length > 0)
    return `${name} has diverged from ${lineage.primary}: it holds ${lineage.diverged.join(', ')}, which ${lineage.primary} never had`;
  const replication = db.replication;
  if (replication === null) return `${name} does not replicate from ${from}, so it lacks what ${from} writes`;
  if ('unknown' in replication) return `${name}'s replication could not be read (${replication.unknown})`;
  if (replication.last_io_errno !== 0)
    return `${name}'s replication from ${from} is broken (IO error ${replication.last_io_errno}: ${replication.last_io_error})`;
  if (replication.last_sql_errno !== 0)
    return `${name}'s replication SQL thread stopped with error ${replication.last_sql_errno}: ${replication.last_sql_error}`;
  if (replication.io_running !== 'yes')
    return `${name}'s replication IO thread is ${replication.io_running === 'no' ? 'stopped' : 'still connecting'}: it is not receiving what ${from} writes`;
  if (!replication.sql_running)
    return `${name}'s replication SQL thread is stopped: it lags behind ${from} by everything received since, and applies none of it`;
  if (replication.lag_seconds === null) return `${name}'s replication lag is unknown`;
  if (replication.lag_seconds > maxLagSec)
    return `${name} lags ${replication.lag_seconds} s behind ${from} (more than --max-lag ${maxLagSec} s)`;
  if (target.promotion && !target.promotion.allowed)
    return `${name}'s promotion guard refuses: ${target.promotion.reason}`;
  return undefined;
}

export function preflight(input: PreflightInput): Preflight {
  const { spec } = input;
  const names = spec.nodes.map((n) => n.name);
  if (input.to !== undefined && !names.includes(input.to))
    return {
      kind: 'refuse',
      reason: `--to ${input.to}: no node of that name in the spec (nodes: ${names.join(', ')})`,
      fix: `name one of ${names.join(', ')}`,
    };
  const primaries = names.filter((name) => isPrimary(input.nodes[name]?.status ?? null, spec.vips.length));
  const seen = names.map(
    (name) => `${name} ${describe(input.nodes[name]?.status ?? null, input.nodes[name]?.problem)}`,
  );
  if (primaries.length !== 1)
    return {
      kind: 'refuse',
      reason: `a switchover needs exactly one writable primary holding every VIP, and there ${primaries.length === 0 ? 'is none' : `are ${primaries.length}`}: ${seen.join('; ')}`,
      fix: 'see `hactl status`: the pair must be healthy before a planned switchover',
    };
  const from = primaries[0]!;
  if (input.to === from)
    return { kind: 'nothing', from, reason: `${from} is the primary already (${seen.join('; ')})` };
  const others = names.filter((name) => name !== from);
  if (input.to === undefined && others.length !== 1)
    return {
      kind: 'refuse',
      reason: `--to is needed: ${others.length} nodes besides the primary ${from}`,
      fix: `add --to with one of ${others.join(', ')}`,
    };
  const to = input.to ?? others[0]!;
  const target = input.nodes[to];
  if (!target?.status)
    return {
      kind: 'refuse',
      reason: `${to}'s agent could not be asked (${target?.problem ?? 'no answer'}), so nobody can tell whether it is fit to take over`,
      fix: `start hactl agent on ${to} and check agent.api (port, token_file)`,
    };
  const problem = targetProblem(target.status, from, input.maxLagSec);
  if (problem)
    return {
      kind: 'refuse',
      reason: `${to} may not take over: ${problem}`,
      fix: `fix ${to} first (hactl status shows it), or raise --max-lag if only the lag is the problem`,
    };
  const fromNode = spec.nodes.find((n) => n.name === from)!;
  const toNode = spec.nodes.find((n) => n.name === to)!;
  if (spec.failback !== 'nopreempt' && fromNode.priority > toNode.priority)
    return {
      kind: 'refuse',
      reason: `failback: ${spec.failback} hands the VIPs back to ${from} (priority ${fromNode.priority} > ${to}'s ${toNode.priority}) as soon as it may, so the switchover would not last`,
      fix: 'set failback: nopreempt in the spec (and render the configs again), or give the target the higher priority',
    };
  return {
    kind: 'go',
    from,
    to,
    reason: `${from} is the primary; ${to} is healthy, not diverged, replicating with lag ${(target.status.database as { replication: { lag_seconds: number } }).replication.lag_seconds} s ≤ ${input.maxLagSec} s`,
  };
}

/** What each step does, for --dry-run and for the progress lines. */
export function stepPlan(from: string, to: string): { name: StepName; what: string }[] {
  const what: Record<StepName, string> = {
    'read-only': `${from}'s agent applies BACKUP through the decision core: read-only, every client session ended`,
    'catch-up': `wait until ${to} has applied every transaction ${from} logged (GTID)`,
    'move-vips': `${from}'s agent sets its switchover track file: keepalived puts ${from} in FAULT and ${to} takes the VIPs`,
    promote: `${to}'s agent promotes it through the normal MASTER path (promotion guard, mysql.promote)`,
    repoint: `${from}'s track file is cleared: it becomes BACKUP and replicates from ${to}`,
  };
  return STEP_NAMES.map((name) => ({ name, what: what[name] }));
}
