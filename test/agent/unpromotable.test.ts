/**
 * The agent's unpromotable gate on real files: it reads the rebuild marker in paths.state_dir and
 * writes the track file keepalived reads at weight 0 (1 = FAULT). The VIPs are given through the
 * test seam; keepalived's side of a weight-0 track file is covered by the switchover suites.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unpromotableTrackFile } from '../../src/agent/contract.js';
import { startUnpromotableGate, type UnpromotableGateRunner } from '../../src/agent/unpromotable.js';
import type { VipFacts } from '../../src/cluster/observation.js';
import { markerPath } from '../../src/mysql/rebuild-marker.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';
import { readValue, waitForValue } from '../support/files.js';

const BOUND_MS = 15_000;
const HELD: VipFacts = { held: ['192.0.2.50'], missing: [] };
const NONE: VipFacts = { held: [], missing: ['192.0.2.50'] };

describe('the unpromotable gate in the agent', () => {
  const dirs: string[] = [];
  const runners: UnpromotableGateRunner[] = [];
  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.stop();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function world() {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-unpromotable-'));
    dirs.push(dir);
    const spec = parseSpecText(
      baseSpecYaml(`mysql: { credentials_file: /etc/hactl/mysql.cnf }
actions:
  master: [{ type: mysql.promote }]
  backup: [{ type: mysql.demote }]
agent: { enabled: true }
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
`),
      'unpromotable.yaml',
    );
    const node = spec.nodes[0]!;
    const events: { event?: string; reason?: string }[] = [];
    const log = {
      info: (fields: object) => events.push(fields),
      warn: (fields: object) => events.push(fields),
      error: (fields: object) => events.push(fields),
      debug: () => undefined,
    };
    let vips = NONE;
    const start = async () => {
      const runner = await startUnpromotableGate({ spec, node, log: log as never, vips: () => vips });
      runners.push(runner);
      return runner;
    };
    return {
      spec,
      track: unpromotableTrackFile(spec.paths.runtime_dir, node.name),
      marker: markerPath(spec.paths.state_dir, node.name),
      events,
      start,
      setVips: (next: VipFacts) => (vips = next),
    };
  }

  it('raises only for a VIP holder with an unfinished rebuild, stays raised until the rebuild is done, and survives a restart', async () => {
    const w = world();
    await w.start();
    await waitForValue(w.track, '0\n', BOUND_MS);
    // The normal rejoin: a standby rebuilding raises nothing (FAULT would cancel the rebuild).
    await mkdir(w.spec.paths.state_dir, { recursive: true });
    await writeFile(w.marker, '{"discarded":["0-1-9"],"savedBinlogDir":"/x","peer":"ha2","at":"now"}\n');
    const runner = runners[0]!;
    await until(() => runner.current()?.reason.includes('holds no VIP') === true);
    expect(await readValue(w.track)).toBe('0\n');
    // The VIPs reach it: it hands them over.
    w.setVips(HELD);
    await waitForValue(w.track, '1\n', BOUND_MS);
    expect(w.events.find((e) => e.event === 'agent.unpromotable_raised')?.reason).toMatch(
      /hands the VIPs to its peer/,
    );
    // keepalived released them: still raised, and so after an agent restart.
    w.setVips(NONE);
    await runner.stop();
    runners.splice(0);
    const again = await w.start();
    await until(() => again.current() !== undefined);
    expect(again.current()?.value).toBe(1);
    expect(await readValue(w.track)).toBe('1\n');
    // keepalived rewrote its init value (a restart of keepalived that recreated the file): put back.
    await writeFile(w.track, '0\n');
    await waitForValue(w.track, '1\n', BOUND_MS);
    // The rebuild finished: lowered.
    await rm(w.marker);
    await waitForValue(w.track, '0\n', BOUND_MS);
    expect(w.events.some((e) => e.event === 'agent.unpromotable_lowered')).toBe(true);
  });

  it('a marker it cannot judge counts as present', async () => {
    const w = world();
    // A directory where the file should be is not "no such file": the safe side.
    await mkdir(w.marker, { recursive: true });
    w.setVips(HELD);
    await w.start();
    await waitForValue(w.track, '1\n', BOUND_MS);
  });
});

async function until(probe: () => boolean): Promise<void> {
  const began = performance.now();
  for (let i = 0; i < BOUND_MS / 20; i++) {
    if (probe()) return;
    if (performance.now() - began > BOUND_MS) break;
    await sleep(20);
  }
  throw new Error(`not reached within ${BOUND_MS} ms`);
}
