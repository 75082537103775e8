/** Who yields when both nodes claim the VIPs (src/fence/vip-contest.ts). */
import { describe, expect, it } from 'vitest';
import { judgeContest, vipsToProbe, type ContestAnswer, type HeldVip } from '../../src/fence/vip-contest.js';

const silentPeer = { lastAnswerAt: 5_000, failedRounds: 4 };
const heldBefore: HeldVip = { address: '192.0.2.50', iface: 'eth1', since: 1_000 };
const takenAfter: HeldVip = { address: '198.51.100.50', iface: 'eth2', since: 8_000 };
const claimed = (vip: HeldVip): ContestAnswer => ({ vip, answer: 'claimed', by: '02:aa:bb:cc:dd:ee' });

describe('vipsToProbe', () => {
  it('asks nothing while the peer answers, or has been silent for one round only', () => {
    expect(vipsToProbe({ lastAnswerAt: 5_000, failedRounds: 0 }, [heldBefore])).toEqual([]);
    expect(vipsToProbe({ lastAnswerAt: 5_000, failedRounds: 1 }, [heldBefore])).toEqual([]);
  });

  it('asks about the VIPs held since before the peer last answered, not those taken after', () => {
    expect(vipsToProbe(silentPeer, [heldBefore, takenAfter])).toEqual([heldBefore]);
  });

  it('a peer never heard gives no ground to yield', () => {
    expect(vipsToProbe({ lastAnswerAt: undefined, failedRounds: 9 }, [heldBefore])).toEqual([]);
  });
});

describe('judgeContest', () => {
  it('another host answers for a VIP held first while the peer is silent: yield, naming the VIP and the MAC', () => {
    const j = judgeContest(silentPeer, [claimed(heldBefore)]);
    expect(j.yields).toBe(true);
    expect(j.reason).toMatch(/192\.0\.2\.50 on eth1: answered by 02:aa:bb:cc:dd:ee/);
  });

  it('no claim, or an unknown answer (arping missing): keep serving', () => {
    expect(judgeContest(silentPeer, [{ vip: heldBefore, answer: 'free' }]).yields).toBe(false);
    const unknown = judgeContest(silentPeer, [
      { vip: heldBefore, answer: 'unknown', detail: 'arping is not installed' },
    ]);
    expect(unknown.yields).toBe(false);
    expect(unknown.reason).toMatch(/arping is not installed/);
  });

  it('the peer answered again by the time the ARP came back: no yield', () => {
    expect(judgeContest({ lastAnswerAt: 9_000, failedRounds: 0 }, [claimed(heldBefore)]).yields).toBe(false);
  });

  it('a claim on a VIP this node took after the silence began (the taker) never makes it yield', () => {
    expect(judgeContest(silentPeer, [claimed(takenAfter)]).yields).toBe(false);
  });
});
