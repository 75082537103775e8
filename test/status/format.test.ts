// The three outputs of one report. No Prometheus text parser is installed (prom-client only writes
// the format) and none is worth a dependency for this, so the exposition text is checked by a
// strict parser written here from the format's specification (text format 0.0.4, "Exposition
// formats" on prometheus.io): line grammar, name and label rules, escapes, value syntax, one TYPE
// and HELP per family before its samples, families contiguous, no duplicate series.
import { describe, expect, it } from 'vitest';
import { formatJson, formatPrometheus, formatTable } from '../../src/status/format.js';
import type { PairStatus } from '../../src/status/types.js';
import { node, primaryDb, replicaDb, replicating, vip } from './support.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses the exposition text or throws naming the line and the rule it breaks. */
function parseExposition(text: string): Sample[] {
  if (!text.endsWith('\n')) throw new Error('the text must end with a line feed');
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  const helped = new Set<string>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const enter = (family: string, n: number) => {
    if (current !== family) {
      if (current !== undefined) finished.add(current);
      if (finished.has(family)) throw new Error(`line ${n}: family ${family} is not contiguous`);
      current = family;
    }
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const n = i + 1;
      if (line === '') return;
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
        if (!m) return; // a plain comment
        const [, keyword, name, rest] = m as unknown as [string, string, string, string];
        if (!METRIC.test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
        enter(name, n);
        if (keyword === 'TYPE') {
          if (!TYPES.has(rest)) throw new Error(`line ${n}: bad type ${rest}`);
          if (typed.has(name)) throw new Error(`line ${n}: second TYPE for ${name}`);
          if (samples.some((s) => s.name === name))
            throw new Error(`line ${n}: TYPE after samples of ${name}`);
          typed.set(name, rest);
        } else {
          if (helped.has(name)) throw new Error(`line ${n}: second HELP for ${name}`);
          if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`line ${n}: bad escape in HELP`);
          helped.add(name);
        }
        return;
      }
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
      if (!m) throw new Error(`line ${n}: not a sample line: ${line}`);
      const [, name, , body, value] = m as unknown as [
        string,
        string,
        string | undefined,
        string | undefined,
        string,
      ];
      if (!VALUE.test(value)) throw new Error(`line ${n}: bad value ${value}`);
      enter(name, n);
      const labels: Record<string, string> = {};
      let rest = body ?? '';
      while (rest.length > 0) {
        const lm = /^([^=]+)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
        if (!lm) throw new Error(`line ${n}: bad label list at ${rest}`);
        const [all, labelName, raw] = lm as unknown as [string, string, string];
        if (!LABEL.test(labelName) || labelName.startsWith('__'))
          throw new Error(`line ${n}: bad label name ${labelName}`);
        if (labelName in labels) throw new Error(`line ${n}: label ${labelName} twice`);
        labels[labelName] = raw.replace(/\\(["\\n])/g, (_e, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(all.length);
      }
      const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (series.has(id)) throw new Error(`line ${n}: duplicate series ${id}`);
      series.add(id);
      samples.push({ name, labels, value: Number(value) });
    });
  return samples;
}

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
