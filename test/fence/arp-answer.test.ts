/** How one arping run reads (answerOf in src/fence/arp-probe.ts), from iputils 20221126's output. */
import { describe, expect, it } from 'vitest';
import { answerOf } from '../../src/fence/arp-probe.js';

const vip = { address: '192.0.2.50', iface: 'eth1', since: 0 };
const ran = (
  exitCode: number | undefined,
  output: string,
  extra: Partial<Parameters<typeof answerOf>[1]> = {},
) => answerOf(vip, { exitCode, timedOut: false, canceled: false, missing: false, output, ...extra });

describe('answerOf', () => {
  it('a reply to the probe: claimed, by that MAC', () => {
    const out =
      'ARPING 192.0.2.50 from 0.0.0.0 eth1\nUnicast reply from 192.0.2.50 [B2:D4:D0:9C:53:02]  0.564ms\nSent 1 probes (1 broadcast(s))\nReceived 1 response(s)';
    expect(ran(1, out)).toEqual({ vip, answer: 'claimed', by: 'b2:d4:d0:9c:53:02' });
  });

  it('a request another host sent from the address is a claim too (seen in chaos peer-link)', () => {
    const out =
      'ARPING 192.0.2.50 from 0.0.0.0 eth1\nBroadcast request from 192.0.2.50 [2E:A1:DF:00:B2:AE]  0.3ms\nReceived 1 response(s) (1 request(s), 1 broadcast(s))';
    expect(ran(1, out)).toEqual({ vip, answer: 'claimed', by: '2e:a1:df:00:b2:ae' });
    // Only the count reached us: still a claim, without a MAC.
    expect(
      ran(1, 'Sent 1 probes (1 broadcast(s))\nReceived 1 response(s) (1 request(s), 1 broadcast(s))'),
    ).toEqual({
      vip,
      answer: 'claimed',
      by: 'another host (MAC not shown)',
    });
  });

  it('no answer: free, whether arping ended by itself or was stopped at our window', () => {
    expect(ran(0, 'Sent 2 probes (2 broadcast(s))\nReceived 0 response(s)')).toEqual({ vip, answer: 'free' });
    expect(
      ran(undefined, 'ARPING 192.0.2.50 from 0.0.0.0 eth1', { timedOut: true, signal: 'SIGTERM' }),
    ).toEqual({ vip, answer: 'free' });
  });

  it('stopped before it probed (a busy machine): unknown, never free', () => {
    expect(ran(undefined, '', { startedLate: true, signal: 'SIGTERM' })).toMatchObject({
      answer: 'unknown',
      detail: expect.stringMatching(/sent no probe within/) as unknown,
    });
  });

  it('not installed, a bad interface, or stopped: unknown, saying which', () => {
    expect(ran(undefined, '', { missing: true })).toMatchObject({
      answer: 'unknown',
      detail: expect.stringMatching(/iputils-arping/) as unknown,
    });
    expect(ran(2, 'arping: Device nosuch0 not available.')).toMatchObject({
      answer: 'unknown',
      detail: 'arping exit 2: arping: Device nosuch0 not available.',
    });
    expect(ran(undefined, '', { canceled: true })).toMatchObject({ answer: 'unknown', detail: 'stopped' });
  });
});
