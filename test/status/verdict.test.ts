// The pair verdict is a pure function of the collected facts: one case per way a pair goes wrong,
// each asserting the exact words an operator reads.
import { describe, expect, it } from 'vitest';
import { judgePair } from '../../src/status/verdict.js';
import { node, primaryDb, replicaDb, replicating, vip } from './support.js';
import { strictPrimary } from '../support/semi-sync.js';

const both = (holder: string) => [vip('inside', [holder], 'local'), vip('outside', [holder], 'local')];
const healthyNodes = () => [node('ha1', primaryDb()), node('ha2', replicaDb())];

describe('judgePair', () => {
  it('healthy: one writable node with every VIP, the other replicating within the bound', () => {
    expect(judgePair(healthyNodes(), both('ha1'), 30)).toEqual({
      verdict: 'healthy',
      problems: [],
      notes: [],
    });
  });

  it('a VIP on no node and a VIP on two nodes are problems; a split is named', () => {
    const v = judgePair(healthyNodes(), [vip('inside', []), vip('outside', ['ha1', 'ha2'])], 30);
    expect(v.verdict).toBe('degraded');
    expect(v.problems).toEqual([
      'VIP inside (192.0.2.50) is on no node',
      'VIP outside (198.51.100.50) is on 2 nodes: ha1, ha2',
    ]);
    const split = judgePair(healthyNodes(), [vip('inside', ['ha1']), vip('outside', ['ha2'])], 30);
    expect(split.problems).toContain('the VIPs are split between ha1 and ha2');
    expect(split.problems).toContain(
      'VIP outside leads to ha2, which is read-only (the writable node is ha1)',
    );
  });

  it('a VIP that cannot be attributed is a note, not a problem', () => {
    const v = judgePair(healthyNodes(), [vip('inside', ['ha1'], 'local'), vip('outside', [], 'unknown')], 30);
    expect(v).toEqual({ verdict: 'healthy', problems: [], notes: ['VIP outside (198.51.100.50): test'] });
  });

  it('both writable, none writable', () => {
    expect(
      judgePair([node('ha1', primaryDb()), node('ha2', primaryDb({ server_id: 2 }))], both('ha1'), 30)
        .problems,
    ).toEqual(['ha1 and ha2 are both writable']);
    expect(
      judgePair([node('ha1', replicaDb(null)), node('ha2', replicaDb())], both('ha1'), 30).problems,
    ).toEqual([
      'no node is writable: every database is read-only',
      'ha1 is read-only but replicates from nobody: it has no standby role',
    ]);
  });

  it('failed over: the peer unreachable means no standby', () => {
    const v = judgePair(
      [
        node('ha1', { reachable: false, address: '192.0.2.11:3306', problem: 'connection refused' }),
        node('ha2', primaryDb({ address: '192.0.2.12:3306', server_id: 2 })),
      ],
      both('ha2'),
      30,
    );
    expect(v.verdict).toBe('degraded');
    expect(v.problems).toEqual([
      "ha1's database cannot be reached at 192.0.2.11:3306: connection refused",
      'no standby: only ha2 answers, nothing can take over if it fails',
    ]);
  });

  it('replica broken, stopped, lagging', () => {
    const judge = (r: Parameters<typeof replicating>[0], db: Parameters<typeof replicaDb>[1] = {}) =>
      judgePair([node('ha1', primaryDb()), node('ha2', replicaDb(replicating(r), db))], both('ha1'), 30)
        .problems;
    expect(judge({ io_running: 'no', last_io_errno: 1236, last_io_error: 'diverged' })).toEqual([
      "ha2's replication from 192.0.2.11:3306 is stopped: IO thread not running (error 1236: diverged)",
    ]);
    expect(
      judge(
        { sql_running: false, last_sql_errno: 1062, last_sql_error: 'dup', lag_seconds: null },
        { gtid_applied: '0-1-100' },
      ),
    ).toEqual(["ha2's replication is broken: SQL thread stopped with error 1062: dup"]);
    expect(judge({ lag_seconds: 31 })).toEqual(['ha2 is lagging 31 s behind 192.0.2.11:3306 (bound 30 s)']);
    expect(judge({ lag_seconds: 30 })).toEqual([]);
    // SQL thread held back: no seconds, but the GTIDs say how far behind.
    expect(judge({ sql_running: false, lag_seconds: null }, { gtid_applied: '0-1-90' })).toEqual([
      "ha2's replication is stopped: SQL thread not running",
      'ha2 is lagging: it has applied 0-1-90 while ha1 is at 0-1-100',
    ]);
  });

  it('a standby replicating from another host than the primary is not a standby of it', () => {
    const nodes = [
      node('ha1', primaryDb()),
      node('ha2', replicaDb(replicating({ source: '192.0.2.99:3306' }))),
    ];
    const addresses = { ha1: '192.0.2.11:3306', ha2: '192.0.2.12:3306' };
    expect(judgePair(nodes, both('ha1'), 30, 'off', addresses).problems).toEqual([
      'ha2 replicates from 192.0.2.99:3306, not from the primary ha1 (192.0.2.11:3306): standby not replicating from the primary',
    ]);
    const fromPrimary = [node('ha1', primaryDb()), node('ha2', replicaDb(replicating({})))];
    expect(judgePair(fromPrimary, both('ha1'), 30, 'off', addresses).problems).toEqual([]);
  });

  it('a refused promotion is a problem with its way out, held or hypothetical', () => {
    const refused = {
      allowed: false,
      reason: 'this node cannot show it has every write the last primary acknowledged: it diverged from ha1',
      problems: ['it diverged from ha1'],
      way_out: 'promote by hand with `hactl notify master --force --accept-stale "<reason>"`',
    };
    const v = judgePair(
      [node('ha1', primaryDb()), node('ha2', replicaDb(), { promotion: { ...refused, hypothetical: true } })],
      both('ha1'),
      30,
    );
    expect(v.verdict).toBe('degraded');
    expect(v.problems).toEqual([
      `ha2 could not take over: its promotion would be refused: ${refused.reason}; way out: ${refused.way_out}`,
    ]);
    const held = judgePair(
      [node('ha1', replicaDb(null), { promotion: { ...refused, hypothetical: false } }), node('ha2', null)],
      both('ha1'),
      30,
    );
    expect(held.problems).toContain(
      `ha1 holds the VIPs but its promotion is refused: ${refused.reason}; way out: ${refused.way_out}`,
    );
  });
});

describe('judgePair without the peer', () => {
  it("this node's own interfaces show a split even when the other VIP cannot be attributed", () => {
    const v = judgePair(
      [node('ha1', null, { vips_held: ['192.0.2.50'] }), node('ha2', null)],
      [vip('inside', ['ha1'], 'local'), vip('outside', [], 'unknown')],
      30,
    );
    expect(v.problems).toEqual(['the VIPs are split: ha1 holds 192.0.2.50 but not 198.51.100.50']);
  });

  it('an unreachable database is said once, without the driver repeating the address', () => {
    const v = judgePair(
      [
        node('ha1', primaryDb()),
        node('ha2', {
          reachable: false,
          address: '192.0.2.12:3306',
          problem: 'MySQL at 192.0.2.12:3306: connection refused',
        }),
      ],
      both('ha1'),
      30,
    );
    expect(v.problems[0]).toBe("ha2's database cannot be reached at 192.0.2.12:3306: connection refused");
  });
});

describe('judgePair under mysql.semi_sync strict', () => {
  const strictState = strictPrimary();
  const nodes = (primaryState: object, replicaState: object) => [
    node('ha1', primaryDb({ semi_sync: { ...strictState, ...primaryState } })),
    node(
      'ha2',
      replicaDb(replicating(), { semi_sync: { ...strictState, sourceEnabled: false, ...replicaState } }),
    ),
  ];

  it('a strict pair is healthy', () => {
    expect(judgePair(nodes({}, { replicaActive: true }), both('ha1'), 30, 'strict').problems).toEqual([]);
  });

  it('a primary on MariaDB defaults is named, and only when strict is asked for', () => {
    const pair = nodes({ waitPoint: 'AFTER_COMMIT', timeoutMs: 10_000 }, { replicaActive: true });
    expect(judgePair(pair, both('ha1'), 30, 'strict').problems).toEqual([
      expect.stringMatching(/^ha1 \(primary\) is not strict semi-sync: .*AFTER_COMMIT/),
      expect.stringMatching(/^ha1 \(primary\) is not strict semi-sync: .*10000 ms/),
    ]);
    expect(judgePair(pair, both('ha1'), 30, 'expected').problems).toEqual([]);
  });

  it('a standby that does not acknowledge is named', () => {
    expect(judgePair(nodes({}, {}), both('ha1'), 30, 'strict').problems).toEqual([
      expect.stringMatching(/^ha2 \(replica\) is not strict semi-sync: .*does not acknowledge/),
    ]);
  });
});
