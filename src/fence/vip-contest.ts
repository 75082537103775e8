/**
 * Who yields when both nodes claim the VIPs? A pure rule over what the witness monitor saw. When
 * only the link between the nodes is cut (every node-to-node address silent, the clients and the
 * witness still reachable from both), the standby stops hearing adverts, takes the VIPs and,
 * finding the witness, promotes; the old primary still hears the witness, so isolation never
 * demotes it, and without this rule both databases take writes until the cut heals — when the
 * higher-priority old primary takes the VIPs back and the standby's writes are lost.
 *
 * The cut cannot hide one thing: another host answering ARP for a VIP this node holds. So a node
 * whose peer has been silent for MIN_FAILED_ROUNDS rounds asks, by duplicate-address detection,
 * whether anyone else answers for the VIPs it held before it last heard its peer. An answer means
 * the peer took them after losing this node — the peer decided, through its own fencing rule, to
 * serve — and this node yields (read-only, sessions ended, keepalived FAULT) until it hears the
 * peer again. The node that took the VIPs after the silence began never yields by this rule, so
 * the two sides cannot both step down over one contest.
 */
import { MIN_FAILED_ROUNDS, type TargetHistory } from './isolation.js';

export interface HeldVip {
  address: string;
  iface: string;
  /** When this node was first seen holding it (ms). */
  since: number;
}

export type ContestAnswer = (
  | { vip: HeldVip; answer: 'free' }
  | { vip: HeldVip; answer: 'claimed'; by: string }
  | { vip: HeldVip; answer: 'unknown'; detail: string }
) & {
  /** Where the question's time went: arping's first line (its probe) and its answer, from the spawn. */
  timing?: { probedMs?: number; answeredMs: number };
};

export interface ContestJudgement {
  yields: boolean;
  reason: string;
}

const peerSilent = (peer: TargetHistory) =>
  peer.failedRounds >= MIN_FAILED_ROUNDS && peer.lastAnswerAt !== undefined;

/** The VIPs worth asking about: none while the peer answers; else those held since before its last answer. */
export function vipsToProbe(peer: TargetHistory, held: readonly HeldVip[]): HeldVip[] {
  if (!peerSilent(peer)) return [];
  return held.filter((vip) => vip.since <= peer.lastAnswerAt!);
}

const describeAnswer = (answer: ContestAnswer) =>
  `${answer.vip.address} on ${answer.vip.iface}: ${
    answer.answer === 'claimed'
      ? `answered by ${answer.by}`
      : answer.answer === 'free'
        ? 'no other claim'
        : answer.detail
  }`;

/** Yield when the peer is (still) silent and another host answers for a VIP this node held first. */
export function judgeContest(peer: TargetHistory, answers: readonly ContestAnswer[]): ContestJudgement {
  const seen = answers.map(describeAnswer).join('; ') || 'no VIP asked about';
  if (!peerSilent(peer)) return { yields: false, reason: `the peer answers (${seen})` };
  const eligible = answers.filter((a) => a.vip.since <= peer.lastAnswerAt!);
  const claimed = eligible.filter((a) => a.answer === 'claimed');
  if (claimed.length === 0)
    return { yields: false, reason: `no other host claims a VIP held here (${seen})` };
  return {
    yields: true,
    reason: `the peer has been silent for ${peer.failedRounds} rounds, yet another host answers for ${claimed
      .map(describeAnswer)
      .join('; ')}: the peer took the VIPs after losing this node, so this node yields`,
  };
}
