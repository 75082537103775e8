/**
 * Rule 5 (src/cluster/fencing-rule.ts): which paths a promotion fences the old primary through,
 * and what the promotion does with what the fence reached. The spec fields fencing.networks,
 * fencing.connect_timeout, fencing.unreachable (promote-anyway, wait-for-witness), fencing.witness
 * and fencing.witness_port each change the guard or the verdict below.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/cluster/decide.js';
import {
  fenceConnectBudget,
  fencingGuard,
  fencingOf,
  fencingVerdict,
  SILENT_PEER_CONNECT_MS,
  type FenceOutcome,
} from '../../src/cluster/fencing-rule.js';
import type { Spec } from '../../src/spec/schema.js';
import { database, observation, pairSpec, said } from '../cluster/support.js';

const DB_AND_AGENT = `mysql:
  credentials_file: /etc/hactl/mysql.cnf
  port: 3307
actions:
  master: [{ type: mysql.promote }]
  backup: [{ type: mysql.demote }]
agent: { enabled: true }
`;

const withFencing = (fencing: string): Spec =>
  pairSpec(`${DB_AND_AGENT}fencing:\n${fencing}`, 'fencing.yaml');

const ANYWAY = withFencing('  unreachable: promote-anyway\n');
const WITNESS = withFencing(
  '  unreachable: wait-for-witness\n  witness: [192.0.2.1, 198.51.100.1]\n  witness_port: 53\n  connect_timeout: 0.4\n',
);
const NOTHING: FenceOutcome = {
  fenced: [],
  notFenced: [
    { path: 'inside 192.0.2.12:3307', why: 'no answer within the connect timeout' },
    { path: 'outside 198.51.100.12:3307', why: 'no answer within the connect timeout' },
  ],
};
const INSIDE: FenceOutcome = {
  fenced: ['inside 192.0.2.12:3307'],
  notFenced: [{ path: 'outside 198.51.100.12:3307', why: 'no answer within the connect timeout' }],
};

describe('fencingGuard: every path to the old primary', () => {
  it("default: the peer's address on every network it has, on mysql.port", () => {
    const guard = fencingGuard(ANYWAY, 'ha1')!;
    expect(guard.paths).toEqual([
      { node: 'ha2', network: 'inside', host: '192.0.2.12', port: 3307 },
      { node: 'ha2', network: 'outside', host: '198.51.100.12', port: 3307 },
    ]);
    expect(guard.connectTimeoutMs).toBe(1000);
    expect(guard.unreachable).toBe('promote-anyway');
    expect(guard.witness).toEqual([]);
  });

  it('fencing.networks narrows the paths; connect_timeout, witness and witness_port are carried', () => {
    const narrowed = withFencing('  unreachable: promote-anyway\n  networks: [outside]\n');
    expect(fencingGuard(narrowed, 'ha2')!.paths).toEqual([
      { node: 'ha1', network: 'outside', host: '198.51.100.11', port: 3307 },
    ]);
    const guard = fencingGuard(WITNESS, 'ha1')!;
    expect(guard.connectTimeoutMs).toBe(400);
    expect(guard.witness).toEqual([
      { host: '192.0.2.1', port: 53 },
      { host: '198.51.100.1', port: 53 },
    ]);
  });

  it("carries this node's VIPs on its own interfaces, and how long the old primary may take to yield them", () => {
    const guard = fencingGuard(WITNESS, 'ha1')!;
    expect(guard.vips.map((v) => v.address)).toEqual(WITNESS.vips.map((v) => v.address.split('/')[0]));
    const own = WITNESS.nodes.find((n) => n.name === 'ha1')!;
    for (const [i, vip] of WITNESS.vips.entries())
      expect(guard.vips[i]!.iface).toBe(own.networks[vip.network]!.interface);
    // Three rounds of max(probe_interval 0.5 s, connect_timeout 0.4 s), plus 4 s for the ARP question and the demotion.
    expect(guard.claimWaitMs).toBe(3 * 500 + 4_000);
  });

  it('no fencing section, no guard', () => {
    expect(fencingGuard(pairSpec(DB_AND_AGENT, 'plain.yaml'), 'ha1')).toBeUndefined();
  });
});

describe('decide: an allowed promotion fences first; nothing else does', () => {
  const promoting = observation({ lineage: { kind: 'none' }, database: database() });

  it('a promoting plan carries the guard and says so', () => {
    const plan = decide(promoting, ANYWAY, {});
    expect(plan.target).toBe('MASTER');
    expect(fencingOf(plan)?.paths.map((p) => p.host)).toEqual(['192.0.2.12', '198.51.100.12']);
    expect(plan.reason).toMatch(
      /fences the old primary first \(inside 192\.0\.2\.12:3307, outside 198\.51\.100\.12:3307\)$/,
    );
  });

  it('a refused promotion (it stays read-only) and a demotion carry no guard', () => {
    const refused = decide(
      observation({ lineage: { kind: 'none' }, database: { kind: 'unreachable', problem: 'down' } }),
      ANYWAY,
      {},
    );
    expect(refused.reason).toMatch(/^MASTER refused/);
    expect(fencingOf(refused)).toBeUndefined();
    const backup = decide(
      observation({
        vips: { held: [], missing: ['192.0.2.50', '198.51.100.50'] },
        keepalived: said('BACKUP'),
      }),
      ANYWAY,
      {},
    );
    expect(backup.target).toBe('BACKUP');
    expect(fencingOf(backup)).toBeUndefined();
  });

  it('without a fencing section the plan is the one it always was', () => {
    const plan = decide(promoting, pairSpec(DB_AND_AGENT, 'plain.yaml'), {});
    expect(fencingOf(plan)).toBeUndefined();
    expect(plan.reason).not.toMatch(/fences/);
  });
});

describe('fenceConnectBudget: a peer the witness monitor already found silent gets a short knock', () => {
  // connect_timeout 0.5 s, probe_interval 0.25 s: one round is 500 ms.
  it('two silent rounds, the last within a round of now: each path gets the short budget', () => {
    const budget = fenceConnectBudget(500, 500, { failedRounds: 2, lastRoundAgoMs: 120 });
    expect(budget.ms).toBe(SILENT_PEER_CONNECT_MS);
    expect(budget.why).toMatch(/no path to the peer for 2 rounds \(the last 120 ms ago\)/);
  });

  it('one silent round is not enough evidence: the full connect_timeout', () => {
    expect(fenceConnectBudget(500, 500, { failedRounds: 1, lastRoundAgoMs: 10 })).toEqual({ ms: 500 });
  });

  it('an old silence says nothing about now (monitor stalled): the full connect_timeout', () => {
    expect(fenceConnectBudget(500, 500, { failedRounds: 9, lastRoundAgoMs: 501 })).toEqual({ ms: 500 });
  });

  it('a peer heard in the last round, or no monitor at all: the full connect_timeout', () => {
    expect(fenceConnectBudget(500, 500, { failedRounds: 0, lastRoundAgoMs: 10 })).toEqual({ ms: 500 });
    expect(fenceConnectBudget(500, 500, undefined)).toEqual({ ms: 500 });
  });

  it('never longer than connect_timeout itself', () => {
    expect(fenceConnectBudget(80, 250, { failedRounds: 5, lastRoundAgoMs: 10 })).toEqual({ ms: 80 });
  });

  it('decide carries the observed silence into the promoting plan’s guard', () => {
    const silent = observation({
      lineage: { kind: 'none' },
      database: database(),
      peerSilence: { failedRounds: 6, lastRoundAgoMs: 200 },
    });
    const guard = fencingOf(decide(silent, WITNESS, {}))!;
    expect(guard.connectTimeoutMs).toBe(400);
    expect(guard.fenceConnectMs).toBe(SILENT_PEER_CONNECT_MS);
    expect(guard.peerSilent).toMatch(/6 rounds/);
    const heard = fencingOf(
      decide(observation({ lineage: { kind: 'none' }, database: database() }), WITNESS, {}),
    )!;
    expect(heard.fenceConnectMs).toBe(400);
    expect(heard.peerSilent).toBeUndefined();
  });
});

describe('fencingVerdict: what the promotion does with what the fence reached', () => {
  it('one fenced path is enough, whatever the policy', () => {
    for (const spec of [ANYWAY, WITNESS]) {
      const verdict = fencingVerdict(fencingGuard(spec, 'ha1')!, INSIDE, undefined);
      expect(verdict).toMatchObject({ promote: true, level: 'info' });
      expect(verdict.reason).toMatch(/fenced over inside 192\.0\.2\.12:3307/);
    }
  });

  it('an old primary that answered but is not read-only is no case for the policy: stay read-only', () => {
    const answered: FenceOutcome = {
      fenced: [],
      notFenced: [
        {
          path: 'inside 192.0.2.12:3307',
          why: 'MySQL at 192.0.2.12:3307: the server closed the connection (SET GLOBAL)',
          reached: true,
        },
        { path: 'outside 198.51.100.12:3307', why: 'no answer within the connect timeout', reached: false },
      ],
    };
    const witness = { reachable: true, detail: '192.0.2.1:53 refused in 1 ms' };
    for (const spec of [ANYWAY, WITNESS]) {
      const verdict = fencingVerdict(fencingGuard(spec, 'ha1')!, answered, witness, {
        claimed: [],
        waitedMs: 0,
      });
      expect(verdict.promote).toBe(false);
      if (verdict.promote) throw new Error('unreachable');
      expect(verdict.reason).toMatch(
        /answered but is not read-only \(inside 192\.0\.2\.12:3307: .*closed the connection/,
      );
      expect(verdict.reason).not.toMatch(/outside/);
      expect(verdict.wayOut).toMatch(/next attempt fences it again/);
    }
    // One path fenced outweighs another that answered and failed.
    const both: FenceOutcome = {
      fenced: ['outside 198.51.100.12:3307'],
      notFenced: [answered.notFenced[0]!],
    };
    expect(fencingVerdict(fencingGuard(ANYWAY, 'ha1')!, both, undefined)).toMatchObject({ promote: true });
  });

  it('promote-anyway: nothing fenced, promote, at error level, saying why', () => {
    const verdict = fencingVerdict(fencingGuard(ANYWAY, 'ha1')!, NOTHING, undefined);
    expect(verdict).toMatchObject({ promote: true, level: 'error' });
    expect(verdict.reason).toMatch(/no path fenced the old primary .*policy promote-anyway/);
  });

  it('wait-for-witness: nothing fenced, the witness answers: promote at warn level (majority side)', () => {
    const verdict = fencingVerdict(fencingGuard(WITNESS, 'ha1')!, NOTHING, {
      reachable: true,
      detail: '192.0.2.1:53 refused in 1 ms',
    });
    expect(verdict).toMatchObject({ promote: true, level: 'warn' });
    expect(verdict.reason).toMatch(/majority side/);
  });

  it('wait-for-witness: the witness answers but the old primary still claims a VIP: stay read-only, naming it', () => {
    const guard = fencingGuard(WITNESS, 'ha1')!;
    const witness = { reachable: true, detail: '192.0.2.1:53 refused in 1 ms' };
    const claimed = { claimed: ['192.0.2.50 on eth1 answered by 02:aa:bb:cc:dd:ee'], waitedMs: 5_500 };
    const verdict = fencingVerdict(guard, NOTHING, witness, claimed);
    expect(verdict.promote).toBe(false);
    if (verdict.promote) throw new Error('unreachable');
    expect(verdict.reason).toMatch(
      /alive on the clients' link — after 5500 ms it still answers for 192\.0\.2\.50/,
    );
    expect(verdict.wayOut).toMatch(/arping/);
    // Let go of (or never claimed): the majority-side promotion as before.
    expect(fencingVerdict(guard, NOTHING, witness, { claimed: [], waitedMs: 900 })).toMatchObject({
      promote: true,
    });
    // A fenced old primary is read-only whatever it still answers for.
    expect(fencingVerdict(guard, INSIDE, undefined, claimed)).toMatchObject({ promote: true, level: 'info' });
  });

  it('wait-for-witness: nothing fenced, no witness answers: stay read-only with a way out', () => {
    const verdict = fencingVerdict(fencingGuard(WITNESS, 'ha1')!, NOTHING, {
      reachable: false,
      detail: '192.0.2.1:53 timeout',
    });
    expect(verdict.promote).toBe(false);
    if (verdict.promote) throw new Error('unreachable');
    expect(verdict.reason).toMatch(/stays read-only/);
    expect(verdict.wayOut).toMatch(/promote-anyway/);
  });
});
