/**
 * The reconcile loop fed by a real FIFO: a separate writer process writes a burst of lines, one
 * write(2) per line as keepalived does; the loop must see every line, in order, while never
 * running two ticks at once (wake-ups during a tick are merged into the next one).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { notifyFifoPath } from '../../src/agent/contract.js';
import { openFifo, prepareFifo, type FifoReader } from '../../src/agent/fifo.js';
import { ReconcileLoop, type TickRecord } from '../../src/agent/loop.js';
import { localSources, type ObservationSources } from '../../src/cluster/observe.js';
import { waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';

let dir = '';
let reader: FifoReader | undefined;
let loop: ReconcileLoop | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-loop-'));
});

afterEach(async () => {
  reader?.close();
  await loop?.stop(10_000);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `lines` to `fifo` from another process, one write per line. */
function writeLines(fifo: string, lines: string[]): Promise<number | null> {
  const script = `
    const fs = require('node:fs');
    const fd = fs.openSync(process.argv[1], 'w');
    for (const line of JSON.parse(process.argv[2])) fs.writeSync(fd, line + '\\n');
    fs.closeSync(fd);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, fifo, JSON.stringify(lines)], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A started loop fed by a real FIFO (no VIPs on this machine, no timer ticks): its FIFO and ticks. */
async function startLoopOnFifo(): Promise<{ fifo: string; ticks: TickRecord[] }> {
  const spec = parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }\n`),
    'test.yaml',
  );
  const node = spec.nodes[0]!;
  const ticks: TickRecord[] = [];
  loop = new ReconcileLoop({
    current: () => ({ spec, node }),
    log: createLogger({ level: 'silent' }),
    periodMs: 3_600_000,
    sources: { ...localSources, addresses: () => new Set() },
    onTick: (record) => ticks.push(record),
  });
  const fifo = notifyFifoPath(spec.paths.runtime_dir, node.name);
  await prepareFifo(fifo);
  const theLoop = loop;
  reader = await openFifo(fifo, {
    line: (line) => line.kind === 'state' && theLoop.heard(line.fact),
    gap: () => theLoop.gap(),
  });
  loop.start();
  return { fifo, ticks };
}

describe('the loop reading a real notify FIFO', () => {
  it('sees a burst of 300 lines from a writer process in order, one tick at a time', async () => {
    const spec = parseSpecText(
      baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }\n`),
      'test.yaml',
    );
    const node = spec.nodes[0]!;
    let active = 0;
    let mostActive = 0;
    const sources: ObservationSources = {
      ...localSources,
      addresses: () => new Set(),
      // Every observation passes here: two ticks at once would overlap in this await.
      async appliedState(s, n, signal) {
        active++;
        mostActive = Math.max(mostActive, active);
        try {
          await new Promise((resolve) => setTimeout(resolve, 2));
          return await localSources.appliedState(s, n, signal);
        } finally {
          active--;
        }
      },
    };
    const ticks: TickRecord[] = [];
    loop = new ReconcileLoop({
      current: () => ({ spec, node }),
      log: createLogger({ level: 'silent' }),
      periodMs: 3_600_000,
      sources,
      onTick: (record) => ticks.push(record),
    });
    const fifo = notifyFifoPath(spec.paths.runtime_dir, node.name);
    expect(await prepareFifo(fifo)).toBe('created');
    const theLoop = loop;
    const ignored: string[] = [];
    reader = await openFifo(fifo, {
      line: (line) => (line.kind === 'state' ? theLoop.heard(line.fact) : ignored.push(line.text)),
      gap: (why) => ignored.push(why),
    });
    loop.start();

    const states = ['BACKUP', 'FAULT', 'MASTER', 'STOP'];
    const lines = Array.from(
      { length: 300 },
      (_, i) => `${i % 7 === 0 ? 'GROUP' : 'INSTANCE'} "VI_${i}" ${states[i % 4]} ${i % 256}`,
    );
    expect(await writeLines(fifo, lines)).toBe(0);
    const seen = () => ticks.flatMap((t) => t.lines);
    await waitFor('every line to reach the loop', () => seen().length >= lines.length, { timeoutMs: 30_000 });

    expect(seen()).toEqual(lines);
    expect(ignored).toEqual([]);
    expect(mostActive).toBe(1);
    // Lines arriving during a tick were merged: fewer ticks than lines.
    expect(ticks.length).toBeLessThan(lines.length);
    // The last tick was given keepalived's latest word: the last sync group line (i = 294, MASTER),
    // unless a member line after it steps down — here the very last line (i = 299, STOP).
    expect(lines[294]).toBe('GROUP "VI_294" MASTER 38');
    expect(ticks.at(-1)!.keepalived).toBe(lines[299]);
    expect(lines[299]).toMatch(/^INSTANCE .* STOP/);
    expect(ticks.every((t) => t.result !== 'error')).toBe(true);
  });

  it("a member's step down newer than its group's line is taken at once; a member's MASTER waits for the group's", async () => {
    const { fifo, ticks } = await startLoopOnFifo();
    const seen = () => ticks.flatMap((t) => t.lines);
    // keepalived's order for a sync group going FAULT: the member first, then the group.
    const fault = ['GROUP "G" MASTER 100', 'INSTANCE "VI_1" FAULT 0'];
    expect(await writeLines(fifo, fault)).toBe(0);
    await waitFor('the FAULT lines', () => seen().length >= 2, { timeoutMs: 15_000 });
    expect(ticks.at(-1)!.keepalived).toBe('INSTANCE "VI_1" FAULT 0');
    // Coming back: a member's MASTER alone does not make the group MASTER.
    const back = ['GROUP "G" BACKUP 100', 'INSTANCE "VI_1" MASTER 100'];
    expect(await writeLines(fifo, back)).toBe(0);
    await waitFor('the MASTER lines', () => seen().length >= 4, { timeoutMs: 15_000 });
    expect(ticks.at(-1)!.keepalived).toBe('GROUP "G" BACKUP 100');
    expect(await writeLines(fifo, ['GROUP "G" MASTER 100'])).toBe(0);
    await waitFor('the group MASTER line', () => seen().length >= 5, { timeoutMs: 15_000 });
    expect(ticks.at(-1)!.keepalived).toBe('GROUP "G" MASTER 100');
  });

  it('forgets what keepalived said once bytes are lost, and judges by the VIPs', async () => {
    const { fifo, ticks } = await startLoopOnFifo();
    await waitFor('the first tick', () => ticks.length >= 1);
    expect(await writeLines(fifo, ['INSTANCE "VI_1" FAULT 0', 'x'.repeat(600)])).toBe(0);
    await waitFor('a tick after the gap', () => ticks.some((t) => t.wokenBy.includes('fifo-gap')), {
      timeoutMs: 15_000,
    });
    const gapAt = ticks.findIndex((t) => t.wokenBy.includes('fifo-gap'));
    // The line before the gap was heard (in this tick or an earlier one) ...
    expect(ticks.slice(0, gapAt + 1).flatMap((t) => t.lines)).toEqual(['INSTANCE "VI_1" FAULT 0']);
    // ... and is no longer trusted once bytes after it were lost.
    expect(ticks[gapAt]!.keepalived).toBeUndefined();
  });

  it('creates the FIFO 0600, and refuses one every user can write or a file in its place', async () => {
    const fifo = join(dir, 'run', 'keepalived.fifo');
    expect(await prepareFifo(fifo)).toBe('created');
    expect(statSync(fifo).mode & 0o777).toBe(0o600);
    expect(await prepareFifo(fifo)).toBe('existed');
    chmodSync(fifo, 0o666);
    const handlers = { line: () => undefined, gap: () => undefined };
    await expect(openFifo(fifo, handlers)).rejects.toThrow(/writable by every user \(mode 666\).*chmod 600/);
    const plain = join(dir, 'plain');
    writeFileSync(plain, '');
    await expect(prepareFifo(plain)).rejects.toThrow(/exists and is not a FIFO/);
    await expect(prepareFifo('/proc/self/keepalived.fifo')).rejects.toThrow(
      /paths\.runtime_dir .*pseudo-filesystem/,
    );
  });
});
