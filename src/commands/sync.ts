/**
 * `hactl sync`: one push of the spec's sync paths to the peer, by hand — the same rule and the
 * same rsync command lines as the agent's pushes (src/sync/). Refuses on a node that is not the
 * active one unless --force; never runs beside another push on this node (a lock in the runtime dir).
 */
import { CommandFailed, ConfigError } from '../errors.js';
import { commandFlags, SPEC_AND_NODE } from './flags.js';

const HELP = `Usage: hactl sync [--spec FILE] [--node NAME] [--dry-run] [--force]

Pushes every path of the spec's sync section from this node to its peer once, now: rsync -a
(incremental; symbolic links copied as links; with sync.delete, deletions too) to the peer's
rsync daemon module, or over ssh to a directory, on the peer's address on sync.network. The agent
does the same every sync.interval seconds while this node holds the VIPs.

It refuses (exit 1) on a node that does not hold every VIP or whose last applied state is not a
successful MASTER — pushing from the standby would overwrite the active node's newer files with
older ones — unless --force. It never runs beside another push on this node (the agent's or another
hactl sync): it then exits 1 without starting.

Options:
  --spec FILE      the pair spec (default /etc/hactl/hactl.yaml)
  --node NAME      this node's name in the spec (default: found by hostname)
  --dry-run        show what would be copied (rsync --dry-run --itemize-changes); changes nothing
  --force          push even though this node is not the active one (e.g. to seed a new peer)
  --help           this text

Examples:
  hactl sync --dry-run
  hactl sync --spec /etc/hactl/hactl.yaml --node ha1

Exit 0: every path copied; 1: refused, busy, or a path failed (each is listed); 2: usage or spec
error (no sync section).`;

export async function main(argv: string[]): Promise<number> {
  const values = commandFlags('sync', HELP, argv, {
    ...SPEC_AND_NODE,
    'dry-run': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  });
  if (!values) return 0;
  const { loadSpec, findNode } = await import('../spec/load.js');
  const { spec, path } = loadSpec(values.spec);
  const node = findNode(spec, values.node);
  const sync = spec.sync;
  if (!sync) {
    throw new ConfigError(
      `${path}: the spec has no sync section; add sync.paths and sync.network (see hactl schema) to push directories`,
    );
  }
  const [{ appliedStatePath, readAppliedState }, { vipHolding }, { decidePush }, { runPush }] =
    await Promise.all([
      import('../cluster/applied-state.js'),
      import('../cluster/vips.js'),
      import('../sync/decide.js'),
      import('../sync/run.js'),
    ]);
  const applied = await readAppliedState(
    appliedStatePath(spec.paths.runtime_dir, node.name),
    AbortSignal.timeout(2_000),
  );
  const decision = decidePush({
    now: Date.now(),
    intervalMs: sync.interval * 1000,
    vipsMissing: vipHolding(spec).missing,
    keepalived: undefined,
    applied: applied && { state: applied.state, ok: applied.ok, at: Date.parse(applied.at) },
    running: undefined,
    lastStartedAt: undefined,
    force: values.force,
  });
  if (!decision.push) {
    throw new CommandFailed(
      `${node.name} is not the node to push from: ${decision.reason.replace(/^not pushing: /, '')}. Push from the node that holds the VIPs, or add --force if you mean to overwrite the peer's copy with this node's`,
    );
  }
  const result = await runPush({ ...spec, sync }, node, { dryRun: values['dry-run'] });
  for (const p of result.paths) {
    process.stdout.write(`${p.ok ? 'ok' : 'FAILED'}  ${p.source}/ → ${p.peer}: ${p.detail}\n`);
  }
  const failed = result.paths.filter((p) => !p.ok).length;
  process.stdout.write(
    `${values['dry-run'] ? 'dry run' : 'push'} ${result.ok ? 'ok' : 'failed'} in ${(result.durationMs / 1000).toFixed(1)} s${result.busy ? `: ${result.detail}` : failed > 0 ? ` (${failed} of ${result.paths.length} failed)` : ''}\n`,
  );
  return result.ok ? 0 : 1;
}
