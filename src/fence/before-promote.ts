/**
 * What mysql.promote runs before it makes anything writable, when the plan carries a fencing
 * guard: fence the old primary over every path, probe the witness when no path fenced it and the
 * policy asks for it, and return the pure rule's verdict (logged at its own level: a promotion
 * without a fence is never silent). Under wait-for-witness it also waits, beside the fence, for
 * no other host to answer ARP for this node's VIPs: an old primary cut off from this node but not
 * from the clients still holds them until its agent yields.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  fencingVerdict,
  type ClaimOutcome,
  type FencingGuard,
  type FencingVerdict,
  type WitnessOutcome,
} from '../cluster/fencing-rule.js';
import type { StepLogger } from '../mysql/server-state.js';
import { probeVipClaim, type ArpProbe } from './arp-probe.js';
import { fence, type FenceReport } from './fence.js';
import { probeAll } from './probe.js';

const ASK_AGAIN_MS = 100;

/** Asks until nobody else answers for the VIPs, or `waitMs` is over; never throws. */
export async function waitForVipsFree(
  vips: FencingGuard['vips'],
  waitMs: number,
  options: { probe?: ArpProbe; signal: AbortSignal },
): Promise<
  ClaimOutcome & { unknown: string[]; firstClaimed: string[]; questions: number; firstTiming: string[] }
> {
  const probe = options.probe ?? probeVipClaim;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const maxQuestions = Math.ceil(waitMs / ASK_AGAIN_MS) + 1;
  let claimed: string[] = [];
  let unknown: string[] = [];
  let firstClaimed: string[] | undefined;
  let firstTiming: string[] | undefined;
  let questions = 0;
  for (let asked = 0; asked < maxQuestions && !options.signal.aborted; asked++) {
    questions++;
    const answers = await Promise.all(
      vips.map((vip) => probe({ ...vip, since: 0 }, options.signal).catch(() => undefined)),
    );
    claimed = answers.flatMap((a) =>
      a?.answer === 'claimed' ? [`${a.vip.address} on ${a.vip.iface} answered by ${a.by}`] : [],
    );
    unknown = answers.flatMap((a) => (a?.answer === 'unknown' ? [`${a.vip.address}: ${a.detail}`] : []));
    firstClaimed ??= claimed;
    firstTiming ??= answers.flatMap((a) =>
      a?.timing
        ? [
            `${a.vip.address}: probe sent at ${a.timing.probedMs ?? '-'} ms, answer at ${a.timing.answeredMs} ms`,
          ]
        : [],
    );
    if (claimed.length === 0 || elapsed() >= waitMs) break;
    await sleep(ASK_AGAIN_MS, undefined, { signal: options.signal }).catch(() => undefined);
  }
  return {
    claimed,
    unknown,
    firstClaimed: firstClaimed ?? [],
    firstTiming: firstTiming ?? [],
    questions,
    waitedMs: elapsed(),
  };
}

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
  options: {
    credentialsFile: string;
    endAckWaits?: boolean;
    log: StepLogger;
    signal?: AbortSignal;
    arpProbe?: ArpProbe;
  },
): Promise<{ verdict: FencingVerdict; report: FenceReport }> {
  const { log, signal } = options;
  // Asked beside the fence, so a dead old primary costs nothing more than the fence's timeout.
  const claimsAsked = new AbortController();
  const claimsSignal = signal ? AbortSignal.any([signal, claimsAsked.signal]) : claimsAsked.signal;
  const claiming =
    guard.unreachable === 'wait-for-witness' && guard.vips.length > 0
      ? waitForVipsFree(guard.vips, guard.claimWaitMs, {
          signal: claimsSignal,
          ...(options.arpProbe ? { probe: options.arpProbe } : {}),
        })
      : undefined;
  let report: FenceReport;
  try {
    report = await fence(guard.paths, {
      credentialsFile: options.credentialsFile,
      ...(options.endAckWaits ? { endAckWaits: true } : {}),
      connectTimeoutMs: guard.fenceConnectMs,
      log,
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    claimsAsked.abort();
    throw error;
  }
  const judged = report.fenced.length === 0 && guard.unreachable === 'wait-for-witness';
  // Fenced, or promote-anyway: the old primary's claim does not decide anything.
  if (!judged) claimsAsked.abort();
  const witnessing = judged
    ? witnessFromHere(guard.witness, guard.connectTimeoutMs, signal).then((answer) => {
        // No witness from here: the verdict is "stay read-only" whoever holds the VIPs.
        if (!answer.reachable) claimsAsked.abort();
        return answer;
      })
    : undefined;
  const [witness, claims] = await Promise.all([witnessing, claiming]);
  if (claims && judged)
    log('fence.vip_claims', {
      level: claims.claimed.length > 0 || claims.unknown.length > 0 ? 'warn' : 'info',
      // What the first question found, and what the last one did: "let go after N ms" when they differ.
      first_claimed: claims.firstClaimed,
      claimed: claims.claimed,
      ...(claims.unknown.length > 0 ? { unknown: claims.unknown } : {}),
      questions: claims.questions,
      // Where the first question's time went (from each arping's spawn): a slow start shows here.
      first_question: claims.firstTiming,
      waited_ms: claims.waitedMs,
    });
  const verdict = fencingVerdict(guard, report, witness, judged ? claims : undefined);
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
