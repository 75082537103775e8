/**
 * Rule 7's standby facts cost the database a few queries (and the peer a connection): the loop
 * reads them at most every STANDBY_PROBE_MS, however often it ticks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReconcileLoop, STANDBY_PROBE_MS, type TickRecord } from '../../src/agent/loop.js';
import type { StandbyFacts } from '../../src/cluster/observation.js';
import { localSources } from '../../src/cluster/observe.js';
import { waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { baseSpecYaml } from '../actions/context.js';

let dir = '';
let loop: ReconcileLoop | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-standby-'));
});

afterEach(async () => {
  await loop?.stop(10_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('the standby facts of rule 7', () => {
  it(`are read at most every ${STANDBY_PROBE_MS} ms while a demotion is applied`, async () => {
    const parsed = parseSpecText(
      baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
mysql:
  credentials_file: /etc/hactl/mysql.cnf
actions:
  backup:
    - { type: mysql.demote }
`),
      'test.yaml',
    );
    const spec: Spec = {
      ...parsed,
      agent: { ...parsed.agent, enabled: true },
      mysql: { ...parsed.mysql!, replication_credentials_file: '/etc/hactl/repl.cnf' },
    };
    const node = spec.nodes[0]!;
    const replicating: StandbyFacts = {
      kind: 'ok',
      readOnly: true,
      replica: {
        io: 'yes',
        sqlRunning: true,
        lastIoErrno: 0,
        lastIoError: '',
        lastSqlErrno: 0,
        lastSqlError: '',
        source: 'x',
      },
      peer: { node: 'ha2', address: 'x' },
      peerState: { kind: 'not-read' },
    };
    let reads = 0;
    const ticks: TickRecord[] = [];
    loop = new ReconcileLoop({
      current: () => ({ spec, node }),
      log: createLogger({ level: 'silent' }),
      periodMs: 50,
      sources: {
        ...localSources,
        addresses: () => new Set<string>(),
        appliedState: () => Promise.resolve({ state: 'BACKUP', ok: true, at: 'then', event: 'x' }),
        lineage: () => Promise.resolve({ kind: 'none' }),
        standby: () => {
          reads++;
          return Promise.resolve(replicating);
        },
      },
      onTick: (record) => ticks.push(record),
    });
    const started = performance.now();
    loop.start();
    await waitFor('thirty ticks', () => ticks.length >= 30, { timeoutMs: 15_000 });
    expect(ticks.every((t) => t.result === 'skip')).toBe(true);
    // One read at the start; another only if the thirty ticks took longer than the interval (a
    // very loaded machine); 500 ms is the loop's slack for timer drift.
    const elapsed = performance.now() - started;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(1 + Math.floor(elapsed / (STANDBY_PROBE_MS - 500)));
  });
});
