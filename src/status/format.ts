/**
 * The three faces of one PairStatus: a table for people, JSON (the object as is, stable field
 * names), and the Prometheus text exposition format (version 0.0.4) with an `hactl_` prefix and the
 * names of the exporters operators already know: Patroni's role gauges (`hactl_primary`,
 * `hactl_replica` with `scope` and `name` labels) and mysqld_exporter's replication series
 * (`hactl_mysql_slave_status_*`, `hactl_mysql_global_variables_read_only`, `hactl_mysql_up`).
 * keepalived-exporter's `hactl_vrrp_state` needs keepalived's own view: it is emitted only for
 * nodes whose agent answered (agent.api), never guessed; in agent mode `hactl_check_status` and
 * `hactl_agent_up` come from the track files keepalived itself reads. An agent's own GET /metrics
 * uses the same families for its node (formatNodePrometheus).
 */
import type { DatabaseStatus, NodeStatus, PairStatus, ReplicationStatus, SyncStatus } from './types.js';

export function formatJson(status: PairStatus): string {
  return JSON.stringify(status, null, 2) + '\n';
}

type Reachable = Extract<DatabaseStatus, { reachable: true }>;

function replicationOf(db: DatabaseStatus | null): ReplicationStatus | undefined {
  if (!db?.reachable || db.replication === null || 'unknown' in db.replication) return undefined;
  return db.replication;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function replicationCell(db: DatabaseStatus | null): string {
  if (!db?.reachable) return '-';
  if (db.replication === null) return 'none';
  if ('unknown' in db.replication) return 'unknown';
  const r = db.replication;
  return `from ${r.source} io=${r.io_running} sql=${r.sql_running ? 'yes' : 'no'}`;
}

export function formatTable(status: PairStatus): string {
  const out: string[] = [];
  out.push(
    `cluster ${status.cluster}, seen from ${status.observed_from} at ${status.at} (${status.duration_ms} ms): ${status.verdict.toUpperCase()}`,
  );
  for (const problem of status.problems) out.push(`  problem: ${problem}`);
  for (const note of status.notes) out.push(`  note: ${note}`);
  out.push('');
  // VRRP columns only when an agent told: without one, keepalived's view is not known.
  const withVrrp = status.nodes.some((node) => node.vrrp !== undefined);
  const rows = [
    [
      'NODE',
      'FACTS',
      ...(withVrrp ? ['VRRP', 'PRIO'] : []),
      'VIPS',
      'DATABASE',
      'READ_ONLY',
      'REPLICATION',
      'LAG',
      'GTID',
    ],
  ];
  for (const node of status.nodes) {
    const db = node.database;
    const r = replicationOf(db);
    rows.push([
      node.self ? `${node.name}*` : node.name,
      node.source,
      ...(withVrrp ? vrrpCells(node) : []),
      node.vips_held === null ? 'unknown' : node.vips_held.length === 0 ? 'none' : node.vips_held.join(','),
      db === null ? '-' : db.reachable ? db.role : 'unreachable',
      db?.reachable ? (db.read_only ? 'yes' : 'no') : '-',
      replicationCell(db),
      r ? (r.lag_seconds === null ? 'null' : `${r.lag_seconds} s`) : '-',
      db?.reachable ? db.gtid_position || '-' : '-',
    ]);
  }
  out.push(...table(rows));
  out.push('');
  const vipRows = [['VIP', 'ADDRESS', 'HELD_BY', 'HOW']];
  for (const vip of status.vips) {
    vipRows.push([
      vip.name,
      vip.address,
      vip.held_by.join(',') || (vip.source === 'unknown' ? '?' : 'none'),
      vip.detail,
    ]);
  }
  out.push(...table(vipRows));
  for (const node of status.nodes) {
    const lines = detailLines(node);
    if (lines.length === 0) continue;
    out.push('', `${node.name}${node.self ? ' (this node)' : ''}:`, ...lines.map((l) => `  ${l}`));
  }
  return out.join('\n') + '\n';
}

/** One state and one priority when every instance agrees (they move together), else per instance. */
function vrrpCells(node: NodeStatus): [string, string] {
  const vrrp = node.vrrp;
  if (vrrp === undefined || vrrp.length === 0) return ['?', '?'];
  const states = [...new Set(vrrp.map((v) => v.state))];
  const priorities = [
    ...new Set(vrrp.map((v) => (v.effective_priority === null ? 'FAULT' : String(v.effective_priority)))),
  ];
  return [
    states.length === 1 ? states[0]! : vrrp.map((v) => `${v.instance}=${v.state}`).join(','),
    priorities.length === 1
      ? priorities[0]!
      : vrrp.map((v) => `${v.instance}=${v.effective_priority ?? 'FAULT'}`).join(','),
  ];
}

function detailLines(node: NodeStatus): string[] {
  const lines: string[] = [];
  const db = node.database;
  if (db && !db.reachable) lines.push(`database at ${db.address}: ${db.problem}`);
  if (db?.reachable && db.replication !== null && 'unknown' in db.replication)
    lines.push(`replication: unknown (${db.replication.unknown})`);
  const r = replicationOf(db);
  if (r?.last_io_errno) lines.push(`replication IO error ${r.last_io_errno}: ${r.last_io_error}`);
  if (r?.last_sql_errno) lines.push(`replication SQL error ${r.last_sql_errno}: ${r.last_sql_error}`);
  if (node.decision) {
    lines.push(
      `decision now: ${node.decision.state ?? 'nothing to apply'}${node.decision.actions.length ? ` (${node.decision.actions.join(', ')})` : ''}: ${node.decision.reason}`,
    );
  }
  if (node.promotion) {
    const p = node.promotion;
    const what = p.hypothetical ? 'if it took the VIPs now, promotion would be' : 'promotion';
    lines.push(`${what} ${p.allowed ? 'allowed' : 'REFUSED'}: ${p.reason}`);
    if (!p.allowed && p.way_out) lines.push(`way out: ${p.way_out}`);
  }
  if (node.last_applied) {
    const a = node.last_applied;
    lines.push(
      `last applied: ${a.state} ${a.ok ? 'ok' : 'FAILED'} at ${a.at} (${a.event}${a.transition_id ? `, ${a.transition_id}` : ''})`,
    );
  }
  const l = node.lineage;
  if (l && 'primary' in l) {
    lines.push(
      `lineage: last primary ${l.primary} at ${l.primary_position || '(empty)'}, ${l.following ? 'following it' : 'not following it'}${l.diverged.length ? `, DIVERGED: holds ${l.diverged.join(', ')}` : ''} (${l.at})`,
    );
  } else if (l && 'unreadable' in l) lines.push(`lineage: unreadable (${l.unreadable})`);
  if (node.agent_api && !node.agent_api.answered)
    lines.push(`agent at ${node.agent_api.address} not asked: ${node.agent_api.problem ?? 'no answer'}`);
  for (const v of node.vrrp ?? []) {
    lines.push(
      `vrrp ${v.instance} (${v.interface} vrid ${v.vrid}): ${v.state}${v.since ? ` since ${v.since}` : ''}, effective priority ${v.effective_priority ?? `FAULT (${v.fault_by ?? '?'})`} (computed)${v.reported_priority === null ? '' : `, keepalived last said ${v.reported_priority}`}`,
    );
  }
  for (const c of node.checks ?? []) {
    lines.push(
      `check ${c.name} (${c.kind}): ${c.ok === null ? 'no result yet' : c.ok ? 'ok' : 'FAILING'}${c.latency_ms === null ? '' : `, last run ${c.latency_ms} ms`}${c.last_run_at ? ` at ${c.last_run_at}` : ''}: ${c.detail}`,
    );
  }
  for (const t of (node.transitions ?? []).slice(-5)) {
    lines.push(
      `transition ${t.id}: ${t.state ?? 'none'} ${t.outcome} at ${t.at} (${t.source_event ?? 'judged by the VIPs'})`,
    );
  }
  if (node.sync) lines.push(syncLine(node.sync));
  if (node.agent) {
    const a = node.agent;
    const checks = a.checks.map((c) => `${c.name} ${c.ok === null ? '?' : c.ok ? 'ok' : 'FAILING'}`);
    lines.push(
      `agent: ${a.alive === true ? 'alive' : a.alive === false ? 'DOWN' : 'unknown'}${checks.length ? `; checks: ${checks.join(', ')}` : ''}${a.failback_gate === null ? '' : `; failback gate ${a.failback_gate === 0 ? 'open' : `shut (-${a.failback_gate})`}`}${a.unpromotable ? '; unpromotable gate RAISED (rebuild unfinished: FAULT)' : ''}`,
    );
  }
  return lines;
}

function syncLine(sync: SyncStatus): string {
  const last = sync.last
    ? `last push ${sync.last.ok ? 'ok' : 'FAILED'} in ${(sync.last.duration_ms / 1000).toFixed(1)} s, ${sync.age_s ?? '?'} s ago${sync.last.ok ? '' : ` (${sync.last.detail})`}`
    : 'no push yet';
  const running = sync.running_since ? `; pushing since ${sync.running_since}` : '';
  return `sync every ${sync.interval_s} s: ${last}${running}; ${sync.decision}`;
}

/** File sync (the node's agent): the last push's result, duration and time. */
function syncFamilies(scope: string, nodes: readonly NodeStatus[], family: FamilyOf): void {
  const ok = family(
    'sync_last_ok',
    'File sync: 1 if the last push succeeded, 0 if it failed (absent before the first).',
  );
  const duration = family('sync_last_duration_seconds', 'File sync: how long the last push took.');
  const success = family(
    'sync_last_success_timestamp_seconds',
    'File sync: when the last successful push ended (Unix time).',
  );
  const running = family('sync_running', 'File sync: 1 while a push is in flight.');
  for (const node of nodes) {
    const sync = node.sync;
    if (!sync) continue;
    const labels = { scope, name: node.name };
    running.samples.push({ labels, value: sync.running_since ? 1 : 0 });
    if (sync.last) {
      ok.samples.push({ labels, value: sync.last.ok ? 1 : 0 });
      duration.samples.push({ labels, value: sync.last.duration_ms / 1000 });
    }
    if (sync.last_success_at)
      success.samples.push({ labels, value: Date.parse(sync.last_success_at) / 1000 });
  }
}

/** A label value in the exposition format: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

function sampleLine(name: string, labels: Record<string, string>, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
  const number = Number.isFinite(value) ? String(value) : 'NaN';
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${number}`;
}

type FamilyOf = (name: string, help: string) => Family;

function familyMaker(families: Family[]): FamilyOf {
  return (name, help) => {
    const f: Family = { name: `hactl_${name}`, help, samples: [] };
    families.push(f);
    return f;
  };
}

/** keepalived-exporter's encoding: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (STOP: not running, as INIT). */
const VRRP_STATE_VALUE: Record<string, number> = { STOP: 0, BACKUP: 1, MASTER: 2, FAULT: 3 };

/** The families of each node's own facts: the pair report and an agent's /metrics share them. */
function nodeFamilies(scope: string, nodes: readonly NodeStatus[], family: FamilyOf): void {
  const up = family('mysql_up', "Whether the node's MySQL answered (mysqld_exporter mysql_up).");
  const primary = family(
    'primary',
    "Value is 1 if this node's database is the writable primary (Patroni patroni_primary).",
  );
  const replica = family(
    'replica',
    "Value is 1 if this node's database is a read-only replica (Patroni patroni_replica).",
  );
  const readOnly = family(
    'mysql_global_variables_read_only',
    'read_only or super_read_only (mysqld_exporter).',
  );
  const io = family(
    'mysql_slave_status_slave_io_running',
    'Replica IO thread running: Yes 1, No or Connecting 0 (mysqld_exporter).',
  );
  const sql = family('mysql_slave_status_slave_sql_running', 'Replica SQL thread running (mysqld_exporter).');
  const lag = family(
    'mysql_slave_status_seconds_behind_master',
    'Seconds_Behind_Master; absent while it is NULL (mysqld_exporter).',
  );
  const ioErr = family('mysql_slave_status_last_io_errno', 'Last_IO_Errno (mysqld_exporter).');
  const sqlErr = family('mysql_slave_status_last_sql_errno', 'Last_SQL_Errno (mysqld_exporter).');
  const promotion = family(
    'promotion_allowed',
    'Whether the promotion guard lets this node be promoted (hypothetical="true": if it took the VIPs now).',
  );
  const agentUp = family(
    'agent_up',
    "Agent mode: 1 while this node's agent says it is alive (its liveness track file reads 0), else 0.",
  );
  const checkStatus = family(
    'check_status',
    "Agent mode: a check's state as keepalived reads it from its track file, 0 BAD / 1 GOOD (keepalived-exporter keepalived_script_status).",
  );
  const gate = family(
    'failback_gate_points',
    'after-catch-up: priority points the failback gate takes off this node (0: open).',
  );
  const vrrpState = family(
    'vrrp_state',
    "VRRP instance state as keepalived last reported it to the node's agent: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (keepalived-exporter keepalived_vrrp_state); absent when unknown.",
  );
  const vrrpPriority = family(
    'vrrp_effective_priority',
    "VRRP effective priority, computed by the node's agent from the spec's base priority and the track files keepalived reads (keepalived does not expose it); absent in FAULT.",
  );
  const checkLatency = family(
    'check_latency_seconds',
    "How long the last run of an in-process check took (the node's agent).",
  );
  for (const node of nodes) {
    const labels = { scope, name: node.name };
    const db = node.database;
    if (db) {
      up.samples.push({ labels, value: db.reachable ? 1 : 0 });
      if (db.reachable) {
        const d: Reachable = db;
        primary.samples.push({ labels, value: d.read_only ? 0 : 1 });
        replica.samples.push({ labels, value: d.read_only ? 1 : 0 });
        readOnly.samples.push({ labels, value: d.read_only ? 1 : 0 });
      }
    }
    const r = replicationOf(db);
    if (r) {
      const rl = { ...labels, master_host: r.source };
      io.samples.push({ labels: rl, value: r.io_running === 'yes' ? 1 : 0 });
      sql.samples.push({ labels: rl, value: r.sql_running ? 1 : 0 });
      if (r.lag_seconds !== null) lag.samples.push({ labels: rl, value: r.lag_seconds });
      ioErr.samples.push({ labels: rl, value: r.last_io_errno });
      sqlErr.samples.push({ labels: rl, value: r.last_sql_errno });
    }
    if (node.agent) {
      agentUp.samples.push({ labels, value: node.agent.alive === true ? 1 : 0 });
      for (const check of node.agent.checks) {
        if (check.ok !== null)
          checkStatus.samples.push({ labels: { ...labels, check: check.name }, value: check.ok ? 1 : 0 });
      }
      if (node.agent.failback_gate !== null) gate.samples.push({ labels, value: node.agent.failback_gate });
    }
    if (node.promotion) {
      promotion.samples.push({
        labels: { ...labels, hypothetical: String(node.promotion.hypothetical) },
        value: node.promotion.allowed ? 1 : 0,
      });
    }
    for (const instance of node.vrrp ?? []) {
      const vl = {
        ...labels,
        iname: instance.instance,
        intf: instance.interface,
        vrid: String(instance.vrid),
      };
      const value = VRRP_STATE_VALUE[instance.state];
      if (value !== undefined) vrrpState.samples.push({ labels: vl, value });
      if (instance.effective_priority !== null)
        vrrpPriority.samples.push({ labels: vl, value: instance.effective_priority });
    }
    for (const check of node.checks ?? []) {
      if (check.latency_ms !== null)
        checkLatency.samples.push({
          labels: { ...labels, check: check.name },
          value: check.latency_ms / 1000,
        });
    }
  }
  syncFamilies(scope, nodes, family);
}

function render(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(
      `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${f.name} gauge`,
    );
    for (const s of f.samples) out.push(sampleLine(f.name, s.labels, s.value));
  }
  return out.join('\n') + '\n';
}

export function formatPrometheus(status: PairStatus): string {
  const scope = status.cluster;
  const families: Family[] = [];
  const family = familyMaker(families);
  const healthy = family(
    'pair_healthy',
    'Whether the pair is healthy as seen from this node (1) or degraded (0).',
  );
  healthy.samples.push({
    labels: { scope, observed_from: status.observed_from },
    value: status.verdict === 'healthy' ? 1 : 0,
  });
  const problems = family('pair_problems', 'Number of problems found with the pair.');
  problems.samples.push({
    labels: { scope, observed_from: status.observed_from },
    value: status.problems.length,
  });
  const duration = family('status_duration_seconds', 'How long collecting this status took.');
  duration.samples.push({ labels: { scope }, value: status.duration_ms / 1000 });

  nodeFamilies(scope, status.nodes, family);
  const vipHeld = family(
    'vip_held',
    'Value is 1 for each node seen holding the VIP (by interfaces or by the MySQL answering there).',
  );
  const vipHolders = family(
    'vip_holders',
    'Number of nodes seen holding the VIP; absent when it cannot be known without the agent.',
  );

  for (const vip of status.vips) {
    const labels = { scope, vip: vip.name, ip_address: vip.address };
    for (const holder of vip.held_by) vipHeld.samples.push({ labels: { ...labels, name: holder }, value: 1 });
    if (vip.source !== 'unknown') vipHolders.samples.push({ labels, value: vip.held_by.length });
  }

  return render(families);
}

/** One node's metrics, as its agent serves them on GET /metrics (no pair verdict: that needs both nodes). */
export function formatNodePrometheus(scope: string, node: NodeStatus): string {
  const families: Family[] = [];
  nodeFamilies(scope, [node], familyMaker(families));
  return render(families);
}
