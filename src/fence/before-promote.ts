/**
 * What mysql.promote runs before it makes anything writable, when the plan carries a fencing
 * guard: fence the old primary over every path, probe the witness when no path fenced it and the
 * policy asks for it, and return the pure rule's verdict (logged at its own level: a promotion
 * without a fence is never silent).
 */
import {
  fencingVerdict,
  type FencingGuard,
  type FencingVerdict,
  type WitnessOutcome,
} from '../cluster/fencing-rule.js';
import type { StepLogger } from '../mysql/server-state.js';
import { fence, type FenceReport } from './fence.js';
import { probeAll } from './probe.js';

export async function witnessFromHere(
  witness: FencingGuard['witness'],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<WitnessOutcome> {
  if (witness.length === 0) return { reachable: false, detail: 'no witness configured' };
  const answers = await probeAll(witness, timeoutMs, signal);
  const detail = answers.map((a) => `${a.host}:${a.port} ${a.answer} in ${a.ms} ms`).join(', ');
  return { reachable: answers.some((a) => a.reachable), detail };
}

export async function fenceBeforePromoting(
  guard: FencingGuard,
  options: { credentialsFile: string; endAckWaits?: boolean; log: StepLogger; signal?: AbortSignal },
): Promise<{ verdict: FencingVerdict; report: FenceReport }> {
  const { log, signal } = options;
  const report = await fence(guard.paths, {
    credentialsFile: options.credentialsFile,
    ...(options.endAckWaits ? { endAckWaits: true } : {}),
    connectTimeoutMs: guard.connectTimeoutMs,
    log,
    ...(signal ? { signal } : {}),
  });
  const witness =
    report.fenced.length === 0 && guard.unreachable === 'wait-for-witness'
      ? await witnessFromHere(guard.witness, guard.connectTimeoutMs, signal)
      : undefined;
  const verdict = fencingVerdict(guard, report, witness);
  log('fence.verdict', {
    level: verdict.promote ? verdict.level : 'error',
    decision: verdict.promote ? 'promote' : 'stay read-only',
    policy: guard.unreachable,
    reason: verdict.reason,
    ...(witness ? { witness: witness.detail, witness_reachable: witness.reachable } : {}),
    ...(verdict.promote ? {} : { way_out: verdict.wayOut }),
    duration_ms: report.durationMs,
  });
  return { verdict, report };
}
