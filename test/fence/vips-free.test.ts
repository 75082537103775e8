/**
 * The promotion's wait for the old primary to let go of the VIPs (waitForVipsFree in
 * src/fence/before-promote.ts), with the ARP question replaced: it returns as soon as nobody else
 * answers, keeps asking while someone does, and gives up at its bound saying who still claims.
 */
import { describe, expect, it } from 'vitest';
import { waitForVipsFree } from '../../src/fence/before-promote.js';
import type { ContestAnswer, HeldVip } from '../../src/fence/vip-contest.js';

const vips = [
  { address: '192.0.2.50', iface: 'eth1' },
  { address: '198.51.100.50', iface: 'eth0' },
];

/** Claimed until `freeAfter` questions have been asked about each VIP. */
function claimant(freeAfter: number) {
  const asked = new Map<string, number>();
  const probe = (vip: HeldVip): Promise<ContestAnswer> => {
    const n = (asked.get(vip.address) ?? 0) + 1;
    asked.set(vip.address, n);
    return Promise.resolve(
      n > freeAfter ? { vip, answer: 'free' } : { vip, answer: 'claimed', by: '02:aa:bb:cc:dd:ee' },
    );
  };
  return { probe, asked };
}

const signal = () => AbortSignal.timeout(30_000);

describe('waitForVipsFree', () => {
  it('nobody else answers: returns after one question', async () => {
    const { probe, asked } = claimant(0);
    const out = await waitForVipsFree(vips, 5_000, { probe, signal: signal() });
    expect(out.claimed).toEqual([]);
    expect([...asked.values()]).toEqual([1, 1]);
  });

  it('claimed, then let go: keeps asking until free', async () => {
    const { probe, asked } = claimant(3);
    const out = await waitForVipsFree(vips, 5_000, { probe, signal: signal() });
    expect(out.claimed).toEqual([]);
    expect(asked.get('192.0.2.50')).toBe(4);
    expect(out.waitedMs).toBeGreaterThanOrEqual(250);
  });

  it('still claimed at the bound: names the claims', async () => {
    const { probe, asked } = claimant(Number.POSITIVE_INFINITY);
    const started = Date.now();
    const out = await waitForVipsFree(vips, 400, { probe, signal: signal() });
    expect(out.claimed).toEqual([
      '192.0.2.50 on eth1 answered by 02:aa:bb:cc:dd:ee',
      '198.51.100.50 on eth0 answered by 02:aa:bb:cc:dd:ee',
    ]);
    expect(out.waitedMs).toBeGreaterThanOrEqual(400);
    // Bounded: the bound plus one pause and one question, with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(400 + 2_000);
    expect(asked.get('192.0.2.50')).toBeLessThanOrEqual(6);
  });

  it('an unknown answer (no arping) is not a claim, and is reported', async () => {
    const probe = (vip: HeldVip): Promise<ContestAnswer> =>
      Promise.resolve({ vip, answer: 'unknown', detail: 'arping is not installed (Debian: iputils-arping)' });
    const out = await waitForVipsFree(vips, 5_000, { probe, signal: signal() });
    expect(out.claimed).toEqual([]);
    expect(out.unknown[0]).toMatch(/192\.0\.2\.50: arping is not installed/);
  });

  it('aborted (the fence reached the old primary): stops asking at once', async () => {
    const { probe, asked } = claimant(Number.POSITIVE_INFINITY);
    const controller = new AbortController();
    const waiting = waitForVipsFree(vips, 20_000, { probe, signal: controller.signal });
    setTimeout(() => controller.abort(), 250);
    const started = Date.now();
    await waiting;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(asked.get('192.0.2.50')).toBeLessThan(20);
  });
});
