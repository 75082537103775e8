/**
 * The ARP question of the VIP contest (src/fence/arp-probe.ts) against real kernels: two network
 * namespaces joined by a veth pair, both in 192.0.2.0/24, with the cut the chaos runner's peer-link
 * fault makes (each side's neighbour entry for the other's address sent to a MAC nobody has).
 * Only the namespaces this test creates are touched.
 */
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVipClaim, QUIET_AFTER_PROBE_MS } from '../../src/fence/arp-probe.js';
import type { ContestAnswer } from '../../src/fence/vip-contest.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const withoutTiming = ({ timing: _timing, ...answer }: ContestAnswer) => answer;

const missing = requirementsMissing({ root: true, programs: ['ip', 'arping'] });
const tag = `hactl-arp-${process.pid}`;
const a = `${tag}-a`;
const b = `${tag}-b`;
const ip = (...args: string[]) => execa('ip', args, { timeout: 10_000 });
const inA = ['ip', 'netns', 'exec', a];
const vip = { address: '192.0.2.50', iface: 'va', since: 0 };
const signal = () => AbortSignal.timeout(10_000);

describe.skipIf(missing)(titled('arping -D: does another host answer for a VIP held here?', missing), () => {
  beforeAll(async () => {
    await ip('netns', 'add', a);
    await ip('netns', 'add', b);
    await ip('link', 'add', 'va', 'netns', a, 'type', 'veth', 'peer', 'name', 'vb', 'netns', b);
    await ip('-n', a, 'addr', 'add', '192.0.2.11/24', 'dev', 'va');
    await ip('-n', b, 'addr', 'add', '192.0.2.12/24', 'dev', 'vb');
    await ip('-n', a, 'link', 'set', 'va', 'up');
    await ip('-n', b, 'link', 'set', 'vb', 'up');
    await ip('-n', a, 'addr', 'add', '192.0.2.50/24', 'dev', 'va');
    // The peer-link cut: no IP packet between the two addresses reaches its host.
    await ip(
      '-n',
      a,
      'neigh',
      'replace',
      '192.0.2.12',
      'dev',
      'va',
      'lladdr',
      '02:00:00:00:00:00',
      'nud',
      'permanent',
    );
    await ip(
      '-n',
      b,
      'neigh',
      'replace',
      '192.0.2.11',
      'dev',
      'vb',
      'lladdr',
      '02:00:00:00:00:00',
      'nud',
      'permanent',
    );
  });
  afterAll(async () => {
    await ip('netns', 'del', a).catch(() => undefined);
    await ip('netns', 'del', b).catch(() => undefined);
  });

  it('held here only: free; held on the other side too: claimed, with that side’s MAC', async () => {
    const free = await probeVipClaim(vip, signal(), inA);
    expect(withoutTiming(free)).toEqual({ vip, answer: 'free' });
    // Free means it listened QUIET_AFTER_PROBE_MS past its probe, and the log says when that was.
    expect(free.timing?.probedMs).toBeGreaterThanOrEqual(0);
    expect(free.timing!.answeredMs - free.timing!.probedMs!).toBeGreaterThanOrEqual(QUIET_AFTER_PROBE_MS);
    await ip('-n', b, 'addr', 'add', '192.0.2.50/24', 'dev', 'vb');
    const mac = (await ip('-n', b, '-j', 'link', 'show', 'vb')).stdout;
    const theirs = (JSON.parse(mac) as { address: string }[])[0]!.address;
    const started = performance.now();
    const answer = await probeVipClaim(vip, signal(), inA);
    expect(withoutTiming(answer)).toEqual({ vip, answer: 'claimed', by: theirs.toLowerCase() });
    // -f: the first reply ends it, well inside the one-second deadline.
    expect(performance.now() - started).toBeLessThan(900);
    await ip('-n', b, 'addr', 'del', '192.0.2.50/24', 'dev', 'vb');
    expect(withoutTiming(await probeVipClaim(vip, signal(), inA))).toEqual({ vip, answer: 'free' });
  });

  it('a question cancelled before its answer is unknown at once, never free', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const asking = probeVipClaim(vip, controller.signal, inA);
    controller.abort();
    const answer = await asking;
    expect(withoutTiming(answer)).toEqual({ vip, answer: 'unknown', detail: 'stopped' });
    expect(performance.now() - started).toBeLessThan(900);
  });

  it('an interface that is not there, or no arping: unknown, with the reason', async () => {
    const none = { ...vip, iface: 'nosuch0' };
    const answer = await probeVipClaim(none, signal(), inA);
    expect(answer).toMatchObject({
      answer: 'unknown',
      detail: expect.stringMatching(/arping exit 2: .*nosuch0/) as unknown,
    });
    const absent = await probeVipClaim(vip, signal(), ['/nonexistent/hactl-no-launcher']);
    expect(absent).toMatchObject({
      answer: 'unknown',
      detail: expect.stringMatching(/not installed/) as unknown,
    });
  });
});
