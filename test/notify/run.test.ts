/**
 * The notify adapter without namespaces: fake VIP and state sources, real lock, real actions.
 * One transition id on every line of one invocation; a dry run acts on and records nothing.
 */
import { baseSpecYaml } from '../actions/context.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appliedStatePath } from '../../src/cluster/applied-state.js';
import { localSources, type ObservationSources } from '../../src/cluster/observe.js';
import { createLogger } from '../../src/log.js';
import { parseEvent } from '../../src/notify/event.js';
import { runNotify } from '../../src/notify/run.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';

let dir = '';
let spec: Spec;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-notify-run-'));
  writeFileSync(
    join(dir, 'record.sh'),
    '#!/bin/sh\necho "$1 $HACTL_TRANSITION_ID" >> "$(dirname "$0")/steps.txt"\n',
    {
      mode: 0o755,
    },
  );
  spec = parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
  master:
    - { type: command, argv: [${dir}/record.sh, up] }
    - { type: command, argv: [${dir}/record.sh, app] }
  backup:
    - { type: command, argv: [${dir}/record.sh, down] }
`),
    't.yaml',
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const holding: ObservationSources = { ...localSources, addresses: () => new Set(['192.0.2.50']) };

function logLines(): Record<string, unknown>[] {
  const file = join(dir, 'log.json');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
}

const notify = (words: string[], options: { force?: boolean; dryRun?: boolean } = {}) =>
  runNotify(
    spec,
    spec.nodes[0]!,
    parseEvent(words),
    { force: options.force ?? false, dryRun: options.dryRun ?? false, lockWaitSec: 5 },
    createLogger({ file: join(dir, 'log.json'), level: 'info' }),
    holding,
  );

describe('runNotify: parse → lock → observe → decide → apply', () => {
  it('one transition id on every line and in every hook of one invocation; the next gets another', async () => {
    const first = await notify(['INSTANCE', 'inside', 'MASTER', '150']);
    expect(first).toMatchObject({ applied: 'MASTER', dryRun: false, planned: expect.any(Array) as unknown });
    expect(first.transitionId).toMatch(/^ha1-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    const lines = logLines();
    expect(lines.map((l) => l.event)).toEqual([
      'notify.received',
      'notify.decision',
      'notify.action',
      'notify.action',
    ]);
    for (const line of lines) expect(line.transition_id).toBe(first.transitionId);
    expect(lines[1]).toMatchObject({ state: 'MASTER', result: 'apply', reason: 'holds all 1 VIPs' });
    expect(readFileSync(join(dir, 'steps.txt'), 'utf8')).toBe(
      `up ${first.transitionId}\napp ${first.transitionId}\n`,
    );

    const again = await notify(['master'], { force: true });
    expect(again.transitionId).not.toBe(first.transitionId);
    expect(
      logLines()
        .slice(4)
        .every((l) => l.transition_id === again.transitionId),
    ).toBe(true);
  });

  it('a dry run decides from the same observation but runs, locks and records nothing', async () => {
    const summary = await notify(['master'], { dryRun: true });
    expect(summary).toMatchObject({ applied: 'MASTER', dryRun: true, outcome: undefined });
    expect(summary.planned).toEqual([`command ${dir}/record.sh`, `command ${dir}/record.sh`]);
    expect(existsSync(join(dir, 'steps.txt'))).toBe(false);
    expect(existsSync(appliedStatePath(join(dir, 'run'), 'ha1'))).toBe(false);
    expect(existsSync(join(dir, 'run', 'notify-ha1.lock'))).toBe(false);
    expect(logLines().map((l) => l.event)).toEqual(['notify.received', 'notify.dry_run']);
  });

  it('the recorded state is the hint of the next decision: a repeat is skipped', async () => {
    await notify(['master']);
    const repeat = await notify(['GROUP', 'g', 'MASTER', '0']);
    expect(repeat.applied).toBeUndefined();
    expect(repeat.reason).toMatch(/^MASTER is already applied \(at .+\); holds all 1 VIPs; use --force/);
    expect(
      logLines()
        .filter((l) => l.event === 'notify.decision')
        .map((l) => l.result),
    ).toEqual(['apply', 'skip']);
  });
});
