// The three outputs of one report. No Prometheus text parser is installed (prom-client only writes
// the format) and none is worth a dependency for this, so the exposition text is checked by a
// strict parser written here from the format's specification (text format 0.0.4, "Exposition
// formats" on prometheus.io): line grammar, name and label rules, escapes, value syntax, one TYPE
// and HELP per family before its samples, families contiguous, no duplicate series.
import { describe, expect, it } from 'vitest';
import { formatJson, formatPrometheus, formatTable } from '../../src/status/format.js';
import type { PairStatus } from '../../src/status/types.js';
import { parseExposition } from './exposition.js';
import { node, primaryDb, replicaDb, replicating, vip } from './support.js';

function report(overrides: Partial<PairStatus> = {}): PairStatus {
  return {
    format: 1,
    cluster: 'lab "quoted"\\',
    observed_from: 'ha1',
    at: '2026-11-29T10:00:00.000Z',
    verdict: 'degraded',
    problems: ["ha2's replication is stopped: SQL thread not running"],
    notes: [],
    max_lag_seconds: 30,
    duration_ms: 123,
    vips: [vip('inside', ['ha1'], 'local'), vip('outside', [], 'unknown')],
    nodes: [
      node('ha1', primaryDb(), {
        vips_held: ['192.0.2.50'],
        promotion: { allowed: true, reason: 'ok', problems: [], way_out: null, hypothetical: false },
      }),
      node(
        'ha2',
        replicaDb(replicating({ sql_running: false, lag_seconds: null, source: '192.0.2.11:3306' })),
      ),
    ],
    ...overrides,
  };
}

describe('the strict exposition parser itself', () => {
  it.each([
    ['no final newline', 'a 1'],
    ['bad value', 'a one\n'],
    ['bad label escape', 'a{x="\\t"} 1\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['split family', 'a 1\nb 1\na{x="y"} 1\n'],
    ['duplicate series', 'a{x="1"} 1\na{x="1"} 2\n'],
    ['reserved label', 'a{__x="1"} 1\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow();
  });
});

describe('formatPrometheus', () => {
  it('parses strictly, and carries the role, replication and verdict series', () => {
    const samples = parseExposition(formatPrometheus(report()));
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .map((s) => s.value);
    expect(samples.every((s) => s.name.startsWith('hactl_'))).toBe(true);
    expect(samples.every((s) => s.labels.scope === 'lab "quoted"\\')).toBe(true);
    expect(value('hactl_pair_healthy')).toEqual([0]);
    expect(value('hactl_pair_problems')).toEqual([1]);
    expect(value('hactl_primary', { name: 'ha1' })).toEqual([1]);
    expect(value('hactl_primary', { name: 'ha2' })).toEqual([0]);
    expect(value('hactl_replica', { name: 'ha2' })).toEqual([1]);
    expect(value('hactl_mysql_up')).toEqual([1, 1]);
    expect(
      value('hactl_mysql_slave_status_slave_io_running', { name: 'ha2', master_host: '192.0.2.11:3306' }),
    ).toEqual([1]);
    expect(value('hactl_mysql_slave_status_slave_sql_running', { name: 'ha2' })).toEqual([0]);
    // NULL lag is absent, as mysqld_exporter leaves it.
    expect(value('hactl_mysql_slave_status_seconds_behind_master')).toEqual([]);
    expect(value('hactl_promotion_allowed', { name: 'ha1', hypothetical: 'false' })).toEqual([1]);
    expect(value('hactl_vip_held', { vip: 'inside', name: 'ha1' })).toEqual([1]);
    // The VIP nobody could attribute has no holder count: unknown is not zero.
    expect(value('hactl_vip_holders', { vip: 'inside' })).toEqual([1]);
    expect(value('hactl_vip_holders', { vip: 'outside' })).toEqual([]);
    expect(value('hactl_status_duration_seconds')).toEqual([0.123]);
  });

  it('a healthy pair with lag says 1 and the lag', () => {
    const text = formatPrometheus(
      report({
        verdict: 'healthy',
        problems: [],
        nodes: [node('ha1', primaryDb()), node('ha2', replicaDb(replicating({ lag_seconds: 4 })))],
      }),
    );
    const samples = parseExposition(text);
    expect(samples.find((s) => s.name === 'hactl_pair_healthy')!.value).toBe(1);
    expect(samples.find((s) => s.name === 'hactl_mysql_slave_status_seconds_behind_master')!.value).toBe(4);
  });
});

describe('formatTable and formatJson', () => {
  it('the table names the verdict, each problem, both nodes and the VIPs', () => {
    const text = formatTable(report());
    expect(text.split('\n')[0]).toMatch(/^cluster lab "quoted"\\, seen from ha1 at .*: DEGRADED$/);
    expect(text).toContain("  problem: ha2's replication is stopped: SQL thread not running\n");
    expect(text).toMatch(/^ha1\* +local +192\.0\.2\.50 +primary +no +none +- +0-1-100$/m);
    expect(text).toMatch(
      /^ha2 +probe +unknown +replica +yes +from 192\.0\.2\.11:3306 io=yes sql=no +null +0-1-100$/m,
    );
    expect(text).toMatch(/^outside +198\.51\.100\.50 +\? +test$/m);
  });

  it('JSON is the report itself, with the documented top-level fields', () => {
    const r = report();
    const parsed = JSON.parse(formatJson(r)) as PairStatus;
    expect(parsed).toEqual(r);
    expect(Object.keys(parsed)).toEqual([
      'format',
      'cluster',
      'observed_from',
      'at',
      'verdict',
      'problems',
      'notes',
      'max_lag_seconds',
      'duration_ms',
      'vips',
      'nodes',
    ]);
  });
});
