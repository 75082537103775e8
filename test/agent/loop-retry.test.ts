/**
 * A failed apply (an action failed, so the state is recorded as not applied) is retried: by the
 * next keepalived line at once, by the timer only after a backoff — a broken action must not run
 * every few seconds forever.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReconcileLoop, type TickRecord } from '../../src/agent/loop.js';
import { localSources } from '../../src/cluster/observe.js';
import { waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';
import { hasProgram } from '../support/requirements.js';

let dir = '';
let loop: ReconcileLoop | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-retry-'));
});

afterEach(async () => {
  await loop?.stop(10_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('retrying a failed transition', () => {
  it.skipIf(!hasProgram('flock'))('the timer backs off, a keepalived line retries at once', async () => {
    const spec = parseSpecText(
      baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
  master:
    - { type: command, argv: [/bin/false] }
`),
      'test.yaml',
    );
    const node = spec.nodes[0]!;
    const ticks: TickRecord[] = [];
    loop = new ReconcileLoop({
      current: () => ({ spec, node }),
      log: createLogger({ level: 'silent' }),
      periodMs: 50,
      sources: { ...localSources, addresses: () => new Set(['192.0.2.50']) },
      onTick: (record) => ticks.push(record),
    });
    loop.start();
    await waitFor('the first apply', () => ticks.some((t) => t.result === 'apply'), { timeoutMs: 15_000 });
    const first = ticks.find((t) => t.result === 'apply')!;
    expect(first.target).toBe('MASTER');
    expect(first.outcome?.ok).toBe(false);
    // Ten timer ticks later the action has not run again.
    const after = ticks.length;
    await waitFor('ten timer ticks', () => ticks.length >= after + 10, { timeoutMs: 15_000 });
    const timerTicks = ticks.slice(after);
    expect(timerTicks.every((t) => t.result === 'backoff' && t.wokenBy.includes('periodic'))).toBe(true);
    expect(timerTicks[0]!.reason).toMatch(/MASTER failed last time; the timer retries in \d+ s/);
    // keepalived speaking is news: retried at once.
    const before = ticks.length;
    loop.heard({
      state: 'MASTER',
      source: 'fifo',
      name: 'VI_1',
      priority: 150,
      text: 'INSTANCE "VI_1" MASTER 150',
    });
    await waitFor('the retry', () => ticks.slice(before).some((t) => t.result === 'apply'), {
      timeoutMs: 15_000,
    });
    expect(ticks.slice(before).find((t) => t.result === 'apply')!.wokenBy).toContain('fifo');
  });
});
