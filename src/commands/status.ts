/**
 * `hactl status`: observe and decide without acting, for both nodes of the pair, and say whether
 * the pair is healthy. Exit 0 healthy, 1 degraded, 2 usage or spec error: usable by monitoring as is.
 */
import { UsageError } from '../errors.js';
import { commandFlags, secondsFlag, SPEC_AND_NODE } from './flags.js';

const HELP = `Usage: hactl status [--spec FILE] [--node NAME] [--json | --prometheus] [--timeout SEC]

Shows both nodes of the pair side by side and whether the pair is healthy: one writable node
holding every VIP, the other read-only and replicating from it without error, within the lag
bound (the smallest max_lag of the spec's replication checks, else 30 s). Changes nothing.

This node is observed the way \`hactl notify\` observes it (VIPs held, last applied state, lineage,
its database) and the decision notify would take now is shown, including a promotion the guard
refuses and the way out. Without an agent the peer is probed directly: its MySQL (role, read_only,
replication threads, lag, GTID); for a VIP this node does not hold, the MySQL answering through it
tells which node holds it. With agent.api in the spec, both nodes' agents are asked instead
(this node's on 127.0.0.1, the peer's on agent.api.network, with the token of
agent.api.token_file): VRRP state, effective priority, checks, transitions; an agent that cannot
be asked is probed directly and reported as a problem. Every probe is bounded by --timeout.

Options:
  --spec FILE       the pair spec (default /etc/hactl/hactl.yaml)
  --node NAME       this node's name in the spec (default: found by hostname)
  --json            the report as JSON (field names in the README, section "hactl status")
  --prometheus      the report in the Prometheus text format (hactl_ metrics), for a textfile collector
  --timeout SEC     budget for all probes together (default 5, 0.5..60)
  --help            this text

Examples:
  hactl status
  hactl status --node ha2 --json
  hactl status --prometheus --timeout 3 > /var/lib/node_exporter/hactl.prom

Exit 0: healthy; 1: degraded (each problem is listed); 2: usage or spec error.`;

export async function main(argv: string[]): Promise<number> {
  const values = commandFlags('status', HELP, argv, {
    ...SPEC_AND_NODE,
    json: { type: 'boolean', default: false },
    prometheus: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '5' },
  });
  if (!values) return 0;
  if (values.json && values.prometheus)
    throw new UsageError('--json and --prometheus exclude each other', 'pick one output format');
  const timeoutSec = secondsFlag('timeout', values.timeout, 0.5, 60, 3);
  const { loadSpec, findNode } = await import('../spec/load.js');
  const { spec } = loadSpec(values.spec);
  const node = findNode(spec, values.node);
  const { collectPairStatus } = await import('../status/collect.js');
  const format = await import('../status/format.js');
  const status = await collectPairStatus(spec, node, { timeoutMs: Math.round(timeoutSec * 1000) });
  process.stdout.write(
    values.json
      ? format.formatJson(status)
      : values.prometheus
        ? format.formatPrometheus(status)
        : format.formatTable(status),
  );
  return status.verdict === 'healthy' ? 0 : 1;
}
