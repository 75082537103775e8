import { describe, expect, it } from 'vitest';
import { promotionVerdict, type PromotionFacts } from '../../src/cluster/promotion-guard.js';
import type { DivergenceFacts } from '../../src/cluster/observation.js';
import { strictPrimary } from '../support/semi-sync.js';
import { ALLOWED, lineage, REFUSED, replicating } from './guard-cases.js';

function facts(overrides: Partial<PromotionFacts>): PromotionFacts {
  return {
    self: 'ha1',
    lineage: { kind: 'none' },
    replica: null,
    coverage: undefined,
    acceptStale: undefined,
    ...overrides,
  };
}

describe('promotionVerdict', () => {
  it.each(ALLOWED)('allows: %s', (_name, overrides, reason) => {
    const verdict = promotionVerdict(facts(overrides));
    expect(verdict).toMatchObject({ allow: true, overridden: [] });
    expect(verdict.reason).toMatch(reason);
  });

  it.each(REFUSED)('refuses: %s', (_name, overrides, problem) => {
    const verdict = promotionVerdict(facts(overrides));
    expect(verdict.allow).toBe(false);
    if (verdict.allow) return;
    expect(verdict.reason).toMatch(problem);
    expect(verdict.problems.length).toBeGreaterThan(0);
    expect(verdict.wayOut).toMatch(/--accept-stale/);
  });

  it('an explicit operator override promotes and names every problem it overrode', () => {
    const verdict = promotionVerdict(
      facts({
        lineage: lineage({ following: false, diverged: ['0-1-101'] }),
        acceptStale: 'ha2 is gone, ticket 1',
      }),
    );
    expect(verdict.allow).toBe(true);
    expect(verdict.reason).toMatch(
      /^operator override \(ha2 is gone, ticket 1\): promoting although it diverged/,
    );
    expect(verdict).toMatchObject({ overridden: [expect.stringMatching(/diverged from ha2/)] });
  });
});

/**
 * Strict semi-sync, notify-burst's double divergence (chaos round 16, 2 of 20): ha1 was promoted for
 * ~130 ms and logged 0-1-5117, ha2 then logged 0-2-5117, neither acknowledged; ha1 holds the VIPs.
 */
describe('promotionVerdict: strict semi-sync, both nodes diverged', () => {
  const divergence = (
    peer: Partial<Extract<DivergenceFacts, { kind: 'ok' }>['peer']> = {},
    here: Partial<Omit<Extract<DivergenceFacts, { kind: 'ok' }>, 'peer' | 'kind'>> = {},
  ): DivergenceFacts => ({
    kind: 'ok',
    localServerId: 1,
    localState: '0-2-5116,0-1-5117',
    localApplied: '0-2-5116',
    localReceived: '',
    ...here,
    peer: {
      node: 'ha2',
      address: '192.0.2.12:3306',
      readOnly: true,
      serverId: 2,
      state: '0-1-5059,0-2-5117',
      // Demoted: its source side is off, the rest strict.
      semiSync: strictPrimary({ sourceEnabled: false, sourceActive: false, sourceClients: 0 }),
      replicaServerIds: [],
      ...peer,
    },
  });
  const diverged = (d: DivergenceFacts | undefined, strict = true) =>
    promotionVerdict(
      facts({
        lineage: lineage({ primaryPosition: '0-2-5116', following: false, diverged: ['0-1-5117'] }),
        strictSemiSync: strict,
        divergence: d,
      }),
    );

  it('promotes keeping its own extra: what it lacks was logged by the peer, which only it could have acknowledged', () => {
    const verdict = diverged(divergence());
    expect(verdict).toMatchObject({ allow: true, overridden: [] });
    expect(verdict.reason).toMatch(/keeping its own 0-1-5117/);
    expect(verdict.reason).toMatch(/logged 0-2-5117 as primary, which this node lacks/);
  });

  it('counts what it applied as a replica as held (no log_slave_updates)', () => {
    const verdict = diverged(divergence({}, { localState: '0-1-5117', localApplied: '0-2-5116' }));
    expect(verdict.reason).toMatch(/logged 0-2-5117 as primary/);
    expect(verdict.allow).toBe(true);
  });

  it.each<[string, DivergenceFacts | undefined, RegExp]>([
    ['the peer was not read', undefined, /the peer was not read/],
    [
      'the peer did not answer',
      { kind: 'unreadable', problem: 'ha2 (192.0.2.12:3306): timed out' },
      /could not be read \(ha2 \(192\.0\.2\.12:3306\): timed out\)/,
    ],
    ['the peer is writable', divergence({ readOnly: false }), /is writable: it is the primary to rejoin/],
    [
      'the peer is another node than the lineage names',
      divergence({ node: 'ha3' }),
      /lineage names ha2, but the peer read is ha3/,
    ],
    ['the peer answers with our server_id', divergence({ serverId: 1 }), /own server_id 1/],
    [
      'the peer would have fallen back to async',
      divergence({ semiSync: strictPrimary({ sourceEnabled: false, timeoutMs: 10_000 }) }),
      /ha2's semi-sync settings are not strict: rpl_semi_sync_master_timeout is 10000 ms/,
    ],
    [
      'the peer waited AFTER_COMMIT',
      divergence({ semiSync: strictPrimary({ waitPoint: 'AFTER_COMMIT' }) }),
      /wait_point is AFTER_COMMIT/,
    ],
    [
      'another replica could have acknowledged',
      divergence({ replicaServerIds: [1, 7] }),
      /server_id 7\): any of them could have acknowledged/,
    ],
    [
      'it lacks a transaction another server wrote',
      divergence({ state: '0-1-5059,0-2-5117,5-9-3' }),
      /lacks 5-9-3 \(peer has nothing from server 9 in domain 5\), not written by ha2/,
    ],
    [
      'it received the lacking transaction without applying it (it may have acknowledged it)',
      divergence({}, { localReceived: '0-2-5117' }),
      /received 0-2-5117 \(Gtid_IO_Pos 0-2-5117\) without applying it/,
    ],
  ])('refuses when %s', (_name, d, why) => {
    const verdict = diverged(d);
    expect(verdict.allow).toBe(false);
    if (verdict.allow) return;
    expect(verdict.reason).toMatch(
      /it diverged from ha2 .*strict semi-sync cannot show that was never acknowledged/,
    );
    expect(verdict.reason).toMatch(why);
  });

  it('refuses as before without strict semi-sync, whatever the peer says', () => {
    const verdict = diverged(divergence(), false);
    expect(verdict.allow).toBe(false);
    expect(verdict.reason).toMatch(/it diverged from ha2/);
    expect(verdict.reason).not.toMatch(/strict semi-sync/);
  });

  it('a lineage that is not diverged is judged as before (the proof is not consulted)', () => {
    const verdict = promotionVerdict(
      facts({
        lineage: lineage({ primaryPosition: '0-2-5116', following: true }),
        replica: replicating,
        coverage: { holds: false, missing: '0-2-5116' },
        strictSemiSync: true,
        divergence: divergence(),
      }),
    );
    expect(verdict.allow).toBe(false);
    expect(verdict.reason).toMatch(/it lacks 0-2-5116/);
  });
});
