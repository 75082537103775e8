/**
 * A restarted agent and the switchover record it finds (src/switchover/resume.ts): at every step,
 * with the VIPs still here, gone to the target, or in flight, what it does — and that the driver
 * acts on it (the record and the track file it leaves behind).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { switchoverTrackFile } from '../../src/agent/contract.js';
import { waitFor } from '../../src/lab/processes.js';
import { parseSpecText } from '../../src/spec/load.js';
import { SwitchoverDriver } from '../../src/switchover/driver.js';
import {
  holdsPrimaryDown,
  STEP_NAMES,
  switchoverPath,
  type SwitchoverPhase,
  type SwitchoverRecord,
} from '../../src/switchover/record.js';
import { resumeAction, type ResumeView } from '../../src/switchover/resume.js';
import { baseSpecYaml } from '../actions/context.js';

const AT = '2026-11-30T06:00:00.000Z';

function recordAt(phase: SwitchoverPhase, extra: Partial<SwitchoverRecord> = {}): SwitchoverRecord {
  const steps = STEP_NAMES.slice(0, Math.max(1, STEP_NAMES.indexOf(phase as never) + 1)).map((name) => ({
    name,
    startedAt: AT,
  }));
  return {
    id: 'so-1',
    from: 'ha1',
    to: 'ha2',
    phase,
    requestedAt: AT,
    catchUpTimeoutSec: 10,
    steps,
    writesStoppedAt: AT,
    ...extra,
  };
}

const ALL: ResumeView = { vipsHeld: 2, vipsTotal: 2 };
const NONE: ResumeView = { vipsHeld: 0, vipsTotal: 2 };
const SOME: ResumeView = { vipsHeld: 1, vipsTotal: 2 };

describe('resumeAction: what a restarted agent does at each step', () => {
  it('before the move (read-only, catch-up, move-vips) with every VIP still here: the step again', () => {
    for (const phase of ['read-only', 'catch-up', 'move-vips'] as const) {
      expect(resumeAction(recordAt(phase), 'ha1', ALL), phase).toEqual({ kind: 'continue' });
      // …and the intent still holds the primary read-only meanwhile.
      expect(holdsPrimaryDown(recordAt(phase)), phase).toBe(true);
    }
  });

  it('before the move with no VIP left (the dead agent put the node in FAULT): on at promote, never a roll-back', () => {
    for (const phase of ['read-only', 'catch-up', 'move-vips'] as const) {
      const action = resumeAction(recordAt(phase, { finalPosition: '0-1-42' }), 'ha1', NONE);
      expect(action.kind, phase).toBe('skip-to-promote');
      expect('detail' in action && action.detail, phase).toMatch(
        new RegExp(`restarted at step ${phase} and ha1 holds none of the VIPs: they moved to ha2`),
      );
    }
  });

  it('promote and repoint resume as they are, wherever the VIPs are', () => {
    for (const phase of ['promote', 'repoint'] as const)
      for (const view of [ALL, NONE])
        expect(resumeAction(recordAt(phase), 'ha1', view), `${phase} ${view.vipsHeld}`).toEqual({
          kind: 'continue',
        });
  });

  it('VIPs split between the nodes at any step: look again until they settle', () => {
    for (const phase of STEP_NAMES)
      expect(resumeAction(recordAt(phase), 'ha1', SOME).kind, phase).toBe('settle');
  });

  it('a finished record: nothing, except a roll-back that never saw its database writable again', () => {
    for (const phase of ['done', 'failed'] as const)
      for (const view of [ALL, NONE, SOME])
        expect(resumeAction(recordAt(phase), 'ha1', view).kind, phase).toBe('none');
    expect(resumeAction(recordAt('rolled-back'), 'ha1', ALL).kind).toBe('confirm-writable');
    expect(resumeAction(recordAt('rolled-back', { writableAt: AT }), 'ha1', ALL).kind).toBe('none');
    // Without the VIPs it is not this node's to be writable.
    expect(resumeAction(recordAt('rolled-back'), 'ha1', NONE).kind).toBe('none');
  });

  it("no record, or another node's: nothing", () => {
    expect(resumeAction(undefined, 'ha1', ALL).kind).toBe('none');
    expect(resumeAction(recordAt('catch-up'), 'ha2', NONE).kind).toBe('none');
  });
});

describe('the driver after a restart (record on disk, no VIP on this machine)', () => {
  let dir = '';
  let driver: SwitchoverDriver | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hactl-so-resume-'));
  });
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function restartWith(record: SwitchoverRecord) {
    const spec = parseSpecText(
      baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
agent: { enabled: true }
mysql: { credentials_file: ${dir}/none.cnf, port: 1 }
`),
      'test.yaml',
    );
    const node = spec.nodes[0]!;
    mkdirSync(spec.paths.state_dir, { recursive: true });
    writeFileSync(switchoverPath(spec.paths.state_dir, node.name), JSON.stringify(record));
    const logged: Record<string, unknown>[] = [];
    const log = {
      info: (f: Record<string, unknown>) => logged.push(f),
      warn: (f: Record<string, unknown>) => logged.push(f),
      error: (f: Record<string, unknown>) => logged.push(f),
    };
    driver = await SwitchoverDriver.start({ current: () => ({ spec, node }), log, wake: () => undefined });
    const onDisk = (): SwitchoverRecord =>
      JSON.parse(readFileSync(switchoverPath(spec.paths.state_dir, node.name), 'utf8')) as SwitchoverRecord;
    const track = () => readFileSync(switchoverTrackFile(spec.paths.runtime_dir, node.name), 'utf8').trim();
    return { onDisk, track, logged, driver };
  }

  for (const phase of ['read-only', 'catch-up', 'move-vips'] as const) {
    it(`killed at ${phase}, the VIPs gone: the record goes on at promote, the track file keeps the VIPs away, the intent is lifted`, async () => {
      const { onDisk, track, logged, driver: d } = await restartWith(recordAt(phase));
      await waitFor('the record at promote', () => onDisk().phase === 'promote', { timeoutMs: 10_000 });
      const record = onDisk();
      const ended = record.steps.find((s) => s.name === phase)!;
      expect(ended.endedAt).toBeDefined();
      expect(ended.detail).toMatch(/holds none of the VIPs: they moved to ha2/);
      expect(record.steps.at(-1)).toMatchObject({ name: 'promote' });
      expect(record.steps.at(-1)!.endedAt).toBeUndefined();
      await waitFor('track file 1', () => track() === '1', { timeoutMs: 5_000 });
      expect(d.intent()).toEqual({});
      expect(logged).toContainEqual(
        expect.objectContaining({ event: 'switchover.resume', phase, action: 'skip-to-promote' }),
      );
    });
  }

  it('killed at promote: it stays at promote (waiting for ha2 to be writable) with the track file at 1', async () => {
    const { onDisk, track, logged } = await restartWith(recordAt('promote'));
    await waitFor('the resume logged', () => logged.some((f) => f.event === 'switchover.resume'), {
      timeoutMs: 5_000,
    });
    expect(logged).toContainEqual(
      expect.objectContaining({ event: 'switchover.resume', action: 'continue' }),
    );
    expect(onDisk().phase).toBe('promote');
    expect(track()).toBe('1');
  });

  it('a finished switchover is left alone: the track file reads 0, no resume', async () => {
    const { onDisk, track, logged, driver: d } = await restartWith(recordAt('done'));
    expect(track()).toBe('0');
    expect(onDisk().phase).toBe('done');
    expect(logged.some((f) => f.event === 'switchover.resume')).toBe(false);
    expect(d.intent()).toEqual({});
  });
});
