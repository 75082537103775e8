/**
 * The agent's half of the unpromotable gate (src/cluster/unpromotable-gate.ts): once a second it
 * looks for an unfinished rebuild's marker and at this node's VIPs, judges, and writes the verdict
 * to the unpromotable track file, which keepalived reads at weight 0 (1 is FAULT: the VIPs go to
 * the peer). A raised gate survives an agent restart through the file itself.
 */
import { repeatEvery } from '../bounded/repeat.js';
import { unpromotableGate, type UnpromotableVerdict } from '../cluster/unpromotable-gate.js';
import { vipHolding } from '../cluster/vips.js';
import type { VipFacts } from '../cluster/observation.js';
import { markerPresent } from '../mysql/rebuild-marker.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { AgentLog } from './checks/index.js';
import { ensureTrackDir, readTrackValue, writeTrackValue } from './checks/track-write.js';
import { unpromotableTrackFile } from './contract.js';

const EVERY_MS = 1_000;
const READ_BUDGET_MS = 2_000;

export interface UnpromotableGateRunner {
  stop(): Promise<void>;
  /** The last verdict (undefined before the first round). */
  current(): UnpromotableVerdict | undefined;
}

const readValue = (file: string) => readTrackValue(file, AbortSignal.timeout(READ_BUDGET_MS));

export async function startUnpromotableGate(context: {
  spec: Spec;
  node: NodeSpec;
  log: AgentLog;
  /** Test seam: this node's VIPs (default: its interfaces). */
  vips?: () => VipFacts;
}): Promise<UnpromotableGateRunner> {
  const { spec, node, log } = context;
  const file = unpromotableTrackFile(spec.paths.runtime_dir, node.name);
  await ensureTrackDir(file);
  // Raised by an agent before this one (or left by keepalived's init value, 0).
  let raised = (await readValue(file)) === 1;
  let judged: UnpromotableVerdict | undefined;
  let stopped = false;

  const judge = async (): Promise<void> => {
    const rebuildUnfinished = await markerPresent(spec.paths.state_dir, node.name, READ_BUDGET_MS);
    const vips = context.vips?.() ?? vipHolding(spec);
    const verdict = unpromotableGate({ rebuildUnfinished, holdsAnyVip: vips.held.length > 0, raised });
    if (stopped) return;
    // keepalived writes its init value (0) when the file is missing; the verdict must stand.
    const onDisk = await readValue(file);
    if (onDisk !== verdict.value) await writeTrackValue(file, verdict.value);
    if (verdict.value !== (raised ? 1 : 0)) {
      const fields = { value: verdict.value, vips_held: vips.held, reason: verdict.reason };
      if (verdict.value === 1) log.warn({ event: 'agent.unpromotable_raised', ...fields });
      else log.info({ event: 'agent.unpromotable_lowered', ...fields });
    }
    raised = verdict.value === 1;
    judged = verdict;
  };
  const rounds = repeatEvery(judge, {
    everyMs: EVERY_MS,
    onError: (error) => log.error({ event: 'agent.unpromotable_gate', reason: (error as Error).message }),
  });
  return {
    async stop() {
      stopped = true;
      await rounds.stop();
    },
    current: () => judged,
  };
}
