// collectPairStatus over substituted sources (no network, no files): the local node through the
// real observe()/decide(), the peer and the VIPs through fake probes. What is asserted is the
// report an operator or monitoring reads: verdict, problems, the promotion guard's words, budgets.
import { describe, expect, it } from 'vitest';
import type { ObservationSources } from '../../src/cluster/observe.js';
import type { Lineage } from '../../src/cluster/lineage.js';
import {
  collectLocalStatus,
  collectPairStatus,
  maxLagOf,
  type StatusSources,
} from '../../src/status/collect.js';
import type { Where } from '../../src/status/probe.js';
import type { DatabaseStatus } from '../../src/status/types.js';
import { parseSpecText } from '../../src/spec/load.js';
import { DB, PLAIN, database } from '../cluster/support.js';
import { primaryDb, replicaDb } from './support.js';

const SECRET = 'pw-Sekr3t-never-printed';
const key = (where: Where) => ('socket' in where ? where.socket : `${where.host}:${where.port}`);

interface Fake {
  addresses: string[];
  lineage?: Lineage;
  /** What the decision core's own database read sees on this node. */
  local?: Parameters<typeof database>[0];
  /** Probe answers by host:port; a missing key hangs until aborted. */
  databases: Record<string, DatabaseStatus>;
  serverIds: Record<string, number>;
}

function sources(fake: Fake): StatusSources {
  const observation: ObservationSources = {
    addresses: () => new Set(fake.addresses),
    appliedState: async () => undefined,
    lineage: async () => (fake.lineage ? { kind: 'ok', lineage: fake.lineage } : { kind: 'none' }),
    database: async () => database(fake.local ?? {}),
  };
  const hang = (signal: AbortSignal) =>
    new Promise<never>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted'))),
    );
  return {
    observation,
    accounts: async () => ({ accounts: [{ user: 'hactl', password: SECRET }] }),
    database: async (_accounts, where, _timeoutMs, signal) => fake.databases[key(where)] ?? hang(signal),
    serverId: async (_accounts, where) => {
      const id = fake.serverIds[key(where)];
      return id === undefined ? { ok: false, problem: 'connection refused' } : { ok: true, serverId: id };
    },
  };
}

const LOCAL = '127.0.0.1:3306';
const PEER_OF_HA1 = '192.0.2.12:3306';
const PEER_OF_HA2 = '192.0.2.11:3306';
const ha1 = DB.nodes[0]!;
const ha2 = DB.nodes[1]!;

describe('collectPairStatus', () => {
  it('healthy, seen from the primary: it holds both VIPs, the peer replicates; guard allows (not hypothetical)', async () => {
    const status = await collectPairStatus(DB, ha1, {
      timeoutMs: 2000,
      sources: sources({
        addresses: ['192.0.2.11', '192.0.2.50', '198.51.100.50'],
        lineage: {
          node: 'ha1',
          primary: 'ha1',
          primaryPosition: '0-1-100',
          following: false,
          diverged: [],
          reason: 'x',
          at: 't',
        },
        local: { readOnly: false },
        databases: { [LOCAL]: primaryDb(), [PEER_OF_HA1]: replicaDb() },
        serverIds: {},
      }),
    });
    expect(status.verdict).toBe('healthy');
    expect(status.problems).toEqual([]);
    expect(status.vips.map((v) => [v.name, v.held_by, v.source])).toEqual([
      ['inside', ['ha1'], 'local'],
      ['outside', ['ha1'], 'local'],
    ]);
    expect(status.nodes.map((n) => [n.name, n.source, n.database?.reachable && n.database.role])).toEqual([
      ['ha1', 'local', 'primary'],
      ['ha2', 'probe', 'replica'],
    ]);
    expect(status.nodes[0]!.promotion).toMatchObject({ allowed: true, hypothetical: false });
    expect(status.nodes[0]!.decision).toMatchObject({ state: 'MASTER' });
    expect(status.nodes[1]!.vips_held).toBeNull();
    expect(JSON.stringify(status)).not.toContain(SECRET);
  });

  it('issue 8: seen from a standby whose lineage says diverged, the refusal and the way out are shown; VIPs found by server_id', async () => {
    const status = await collectPairStatus(DB, ha2, {
      timeoutMs: 2000,
      sources: sources({
        addresses: ['192.0.2.12'],
        lineage: {
          node: 'ha2',
          primary: 'ha1',
          primaryPosition: '0-1-100',
          following: false,
          diverged: ['0-2-7'],
          reason: 'diverged',
          at: '2026-11-29T10:00:00Z',
        },
        local: { readOnly: true },
        databases: {
          [LOCAL]: replicaDb(),
          [PEER_OF_HA2]: primaryDb(),
        },
        serverIds: { '192.0.2.50:3306': 1, '198.51.100.50:3306': 1 },
      }),
    });
    expect(status.vips.map((v) => [v.name, v.held_by, v.source])).toEqual([
      ['inside', ['ha1'], 'probe'],
      ['outside', ['ha1'], 'probe'],
    ]);
    expect(status.verdict).toBe('degraded');
    const promotion = status.nodes.find((n) => n.name === 'ha2')!.promotion!;
    expect(promotion).toMatchObject({ allowed: false, hypothetical: true });
    expect(promotion.reason).toMatch(/diverged from ha1 .* holds 0-2-7/);
    expect(status.problems).toHaveLength(1);
    expect(status.problems[0]).toMatch(
      /^ha2 could not take over: its promotion would be refused: .*diverged/,
    );
    expect(status.problems[0]).toContain('hactl notify master --force --accept-stale "<reason>"');
  });

  it('a peer that never answers is reported unreachable within the budget, not waited for', async () => {
    const started = performance.now();
    const status = await collectPairStatus(DB, ha1, {
      timeoutMs: 400,
      sources: sources({
        addresses: ['192.0.2.50', '198.51.100.50'],
        local: { readOnly: false },
        databases: { [LOCAL]: primaryDb() },
        serverIds: {},
      }),
    });
    const took = performance.now() - started;
    expect(took).toBeLessThan(2000);
    expect(status.nodes[1]!.database).toMatchObject({ reachable: false, address: PEER_OF_HA1 });
    expect(status.problems).toContain('no standby: only ha1 answers, nothing can take over if it fails');
  });

  it('a VIP nobody answers on is "on no node"; without mysql it is unknown (no agent)', async () => {
    const status = await collectPairStatus(DB, ha2, {
      timeoutMs: 1000,
      sources: sources({
        addresses: [],
        local: { readOnly: true },
        databases: { [LOCAL]: replicaDb(), [PEER_OF_HA2]: primaryDb() },
        serverIds: { '192.0.2.50:3306': 1 },
      }),
    });
    expect(status.vips[1]).toMatchObject({ held_by: [], source: 'probe' });
    expect(status.problems).toContain('VIP outside (198.51.100.50) is on no node');

    const plain = await collectPairStatus(PLAIN, PLAIN.nodes[1]!, {
      timeoutMs: 1000,
      sources: sources({ addresses: [], databases: {}, serverIds: {} }),
    });
    expect(plain.vips.every((v) => v.source === 'unknown' && /unknown \(no agent\)/.test(v.detail))).toBe(
      true,
    );
    expect(plain.verdict).toBe('healthy');
    expect(plain.notes).toHaveLength(2);
  });

  it('collectLocalStatus is plain JSON data (the agent will serve it as is)', async () => {
    const local = await collectLocalStatus(DB, ha1, {
      timeoutMs: 1000,
      sources: sources({ addresses: ['192.0.2.50'], databases: { [LOCAL]: primaryDb() }, serverIds: {} }),
    });
    expect(JSON.parse(JSON.stringify(local))).toEqual(local);
    expect(local).toMatchObject({ name: 'ha1', self: true, source: 'local', vips_held: ['192.0.2.50'] });
    expect(local.decision!.reason).toMatch(/^split: holds 192.0.2.50 but not 198.51.100.50/);
  });
});

describe('maxLagOf', () => {
  it('the smallest max_lag of the replication checks, else 30', () => {
    expect(maxLagOf(DB)).toBe(30);
    const spec = parseSpecText(
      `version: 1
cluster: t
nodes:
  - { name: a, priority: 150, networks: { n: { interface: eth0, address: 192.0.2.1 } } }
  - { name: b, priority: 120, networks: { n: { interface: eth0, address: 192.0.2.2 } } }
vips: [{ name: v, address: 192.0.2.50/24, network: n, virtual_router_id: 51 }]
mysql: { credentials_file: /etc/hactl/mysql.cnf }
checks:
  - { name: r1, kind: replication, params: { max_lag: 20 }, weight: 0 }
  - { name: r2, kind: replication, params: { max_lag: 7 }, weight: 0 }
`,
      'lag.yaml',
    );
    expect(maxLagOf(spec)).toBe(7);
  });
});
