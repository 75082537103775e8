/**
 * Rule 7's strict rejoin (src/cluster/rejoin-rule.ts): a diverged old primary is rebuilt by the
 * agent, discarding exactly its extra GTIDs, only when every condition of the "never acknowledged"
 * proof holds; each failing condition refuses with a sentence that names it.
 */
import { describe, expect, it } from 'vitest';
import { rejoinVerdict, type RejoinFacts } from '../../src/cluster/rejoin-rule.js';
import { STRICT_TIMEOUT_MS } from '../../src/mysql/semi-sync.js';
import type { SemiSyncState } from '../../src/mysql/server-state.js';
import type { Spec } from '../../src/spec/schema.js';
import { DB } from './support.js';

const STRICT: Spec = {
  ...DB,
  agent: { ...DB.agent, enabled: true },
  mysql: { ...DB.mysql!, semi_sync: 'strict', replication_credentials_file: '/etc/hactl/repl.cnf' },
};

/** A strict server's settings; `source` says whether its source side is on (the primary's is). */
function semi(source: boolean, overrides: Partial<SemiSyncState> = {}): SemiSyncState {
  return {
    replicaEnabled: true,
    replicaActive: !source,
    sourceEnabled: source,
    sourceActive: source,
    sourceClients: 0,
    waitPoint: 'AFTER_SYNC',
    timeoutMs: STRICT_TIMEOUT_MS,
    waitNoReplica: true,
    ...overrides,
  };
}

/** ha1 (server_id 1), demoted with 0-1-237 that ha2 (server_id 2, the strict primary) lacks. */
function facts(overrides: Partial<RejoinFacts> = {}): RejoinFacts {
  return {
    vipsHeld: [],
    localReadOnly: true,
    localServerId: 1,
    peer: { node: 'ha2', address: '192.0.2.12:3306', writable: true, serverId: 2 },
    local: semi(false),
    peerSemiSync: semi(true),
    extraGtids: ['0-1-237'],
    recordedDiverged: ['0-1-237'],
    replicaServerIds: [],
    marker: null,
    ...overrides,
  };
}

const refusal = (f: RejoinFacts, spec: Spec = STRICT) => {
  const verdict = rejoinVerdict(f, spec);
  expect(verdict?.allow).toBe(false);
  return verdict!.reason;
};

describe('strict rejoin rule', () => {
  it('allows a rebuild discarding exactly the extra GTIDs when every condition holds', () => {
    const verdict = rejoinVerdict(
      facts({ extraGtids: ['0-1-236', '0-1-237'], recordedDiverged: ['0-1-236', '0-1-237'] }),
      STRICT,
    );
    expect(verdict).toMatchObject({ allow: true, discard: ['0-1-236', '0-1-237'], resume: false });
    expect(verdict!.reason).toContain('no client was told they committed');
  });

  it('has nothing to say when nothing diverged and no rebuild was interrupted', () => {
    expect(rejoinVerdict(facts({ extraGtids: [] }), STRICT)).toBeUndefined();
  });

  it.each<[string, RejoinFacts, Spec | undefined, string]>([
    [
      'the spec is not strict',
      facts(),
      { ...STRICT, mysql: { ...STRICT.mysql!, semi_sync: 'expected' } },
      'mysql.semi_sync is expected, not strict',
    ],
    [
      'there is no agent',
      facts(),
      { ...STRICT, agent: { ...STRICT.agent, enabled: false } },
      'no agent (agent.enabled is false)',
    ],
    ['a VIP is here', facts({ vipsHeld: ['192.0.2.50'] }), undefined, 'holds the VIP(s) 192.0.2.50'],
    [
      'the local database is writable',
      facts({ localReadOnly: false }),
      undefined,
      'the local database is writable',
    ],
    [
      'the peer is read-only',
      facts({ peer: { ...facts().peer, writable: false } }),
      undefined,
      'is read-only: there is no primary',
    ],
    [
      'the peer is this server',
      facts({ peer: { ...facts().peer, serverId: 1 } }),
      undefined,
      "this server's own server_id 1",
    ],
    [
      'this server waited AFTER_COMMIT',
      facts({ local: semi(false, { waitPoint: 'AFTER_COMMIT' }) }),
      undefined,
      "this server's semi-sync settings were not strict: rpl_semi_sync_master_wait_point is AFTER_COMMIT",
    ],
    [
      'this server had a short timeout',
      facts({ local: semi(false, { timeoutMs: 10_000 }) }),
      undefined,
      'rpl_semi_sync_master_timeout is 10000 ms',
    ],
    [
      'this server went async without a replica',
      facts({ local: semi(false, { waitNoReplica: false }) }),
      undefined,
      'rpl_semi_sync_master_wait_no_slave is OFF',
    ],
    [
      'this server does not restart as a replica',
      facts({ local: semi(false, { replicaEnabled: false }) }),
      undefined,
      'rpl_semi_sync_slave_enabled is OFF',
    ],
    [
      'the peer is not a strict source',
      facts({ peerSemiSync: semi(true, { sourceEnabled: false }) }),
      undefined,
      "ha2's semi-sync settings are not strict: rpl_semi_sync_master_enabled is OFF",
    ],
    [
      'the peer fell back to async',
      facts({ peerSemiSync: semi(true, { sourceActive: false }) }),
      undefined,
      'Rpl_semi_sync_master_status is OFF',
    ],
    [
      'a GTID came from another server',
      facts({ extraGtids: ['0-1-237', '0-3-9'], recordedDiverged: ['0-1-237', '0-3-9'] }),
      undefined,
      '0-3-9 was written by another server than this one (server_id 1)',
    ],
    [
      'no demotion recorded the divergence',
      facts({ recordedDiverged: null }),
      undefined,
      'no demotion recorded these transactions as diverged',
    ],
    [
      'a GTID was written after the demotion',
      facts({ extraGtids: ['0-1-237', '0-1-238'] }),
      undefined,
      '0-1-238 is not among the transactions the demotion recorded (0-1-237)',
    ],
    [
      'another replica is registered here',
      facts({ replicaServerIds: [2, 7] }),
      undefined,
      'replicas other than ha2 are registered on this server (server_id 7)',
    ],
  ])('refuses when %s', (_what, f, spec, sentence) => {
    const reason = refusal(f, spec);
    expect(reason.startsWith('not rebuilt by itself: ')).toBe(true);
    expect(reason).toContain(sentence);
  });

  it('reads a divergence the demotion recorded with its description ("0-1-237 (peer has 0-1-236)")', () => {
    const verdict = rejoinVerdict(
      facts({ extraGtids: ['0-1-237'], recordedDiverged: ['0-1-237 (peer has 0-1-236)'] }),
      STRICT,
    );
    expect(verdict).toMatchObject({ allow: true, discard: ['0-1-237'] });
  });

  it('resumes an interrupted rebuild from its marker (the binlog no longer shows the GTIDs)', () => {
    const marker = {
      discarded: ['0-1-237'],
      savedBinlogDir: '/var/lib/hactl/discarded-1',
      at: '2026-11-30T19:00:00Z',
    };
    const verdict = rejoinVerdict(facts({ extraGtids: ['0-1-237'], recordedDiverged: null, marker }), STRICT);
    expect(verdict).toMatchObject({ allow: true, discard: ['0-1-237'], resume: true });
    expect(verdict!.reason).toContain('/var/lib/hactl/discarded-1');
  });

  it("refuses to resume a marker that discards another server's GTIDs", () => {
    const marker = { discarded: ['0-3-9'], savedBinlogDir: '/d', at: 'then' };
    expect(refusal(facts({ extraGtids: [], marker }))).toContain(
      'marker discards 0-3-9, written by another server',
    );
  });

  it("does not resume a marker of this server's own GTIDs when the binlog now shows another server's", () => {
    const marker = { discarded: ['0-1-237'], savedBinlogDir: '/d', at: 'then' };
    expect(refusal(facts({ extraGtids: ['0-3-9'], marker }))).toContain(
      '0-3-9 was written by another server than this one',
    );
  });

  it('still checks the settings before resuming', () => {
    const marker = { discarded: ['0-1-237'], savedBinlogDir: '/d', at: 'then' };
    expect(refusal(facts({ marker, local: semi(false, { timeoutMs: 10_000 }) }))).toContain(
      'rpl_semi_sync_master_timeout is 10000 ms',
    );
  });
});
