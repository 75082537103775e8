/**
 * `hactl agent`: the long-lived per-node process (src/agent/agent.ts). Runs in the foreground until
 * SIGTERM or SIGINT (exit 0); SIGHUP reloads the spec. Exit 1: another agent already serves this
 * node; 2: usage or spec error at start.
 */
import { UsageError } from '../errors.js';
import { commandFlags, SPEC_AND_NODE } from './flags.js';

const HELP = `Usage: hactl agent [--spec FILE] [--node NAME]

The per-node hactl agent, in the foreground (run it from systemd's hactl-agent.service). It reads
keepalived's notify FIFO (<paths.runtime_dir>/agent-<node>/keepalived.fifo, created with mode 0600 if missing)
and runs one reconcile loop: every FIFO line, every few seconds, and every reload wakes it; each
tick looks at which VIPs this node holds now, decides with the same rules as hactl notify, runs the
spec's actions for the state it is in (once: a state applied successfully is not applied again),
and logs one JSON line on stderr saying what it saw and why, tagged with a transition id.

Only one agent runs per node: a second one exits 1 naming the first one's PID.

Signals:
  SIGTERM, SIGINT  stop: let the transition in flight finish (bounded), then exit 0
  SIGHUP           reload the spec; an invalid one is logged (naming the field) and the running
                   spec is kept

Options:
  --spec FILE      the pair spec (default /etc/hactl/hactl.yaml)
  --node NAME      this node's name in the spec (default: found by hostname)
  --interval SEC   seconds between the ticks nobody asked for, which catch what no FIFO line
                   reported (default 5, 0.5..3600)
  --help           this text

Examples:
  hactl agent --spec /etc/hactl/hactl.yaml --node ha1
  systemctl reload hactl-agent     # sends SIGHUP

Exit 0: stopped by SIGTERM/SIGINT; 1: another agent already runs for this node; 2: usage or spec
error at start.`;

export async function main(argv: string[]): Promise<number> {
  const values = commandFlags('agent', HELP, argv, { ...SPEC_AND_NODE, interval: { type: 'string' } });
  if (!values) return 0;
  if (values.spec === '-') {
    throw new UsageError('--spec - (standard input) cannot be reloaded: give the path of the spec file');
  }
  let periodMs: number | undefined;
  if (values.interval !== undefined) {
    const seconds = Number(values.interval);
    if (!Number.isFinite(seconds) || seconds < 0.5 || seconds > 3600) {
      throw new UsageError(`--interval ${values.interval} is not a number of seconds (0.5..3600)`);
    }
    periodMs = Math.round(seconds * 1000);
  }
  const { runAgent } = await import('../agent/agent.js');
  const code = await runAgent({
    specPath: values.spec,
    nodeName: values.node,
    ...(periodMs === undefined ? {} : { periodMs }),
  });
  // Everything the agent started is stopped; an action abandoned after its timeout may still hold
  // a handle. The exit must not wait for it.
  setTimeout(() => process.exit(code), 3_000).unref();
  return code;
}
