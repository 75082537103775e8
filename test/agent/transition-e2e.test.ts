/**
 * A transition driven through keepalived's FIFO end to end: the built agent runs inside a network
 * namespace standing in for the node, where "holds the VIP" is real (the address on the
 * namespace's loopback). A MASTER line while the VIP is held runs the master action once; the same
 * line again runs nothing; the node losing the VIP is applied as BACKUP on the next line.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyFifoPath } from '../../src/agent/contract.js';
import { waitFor } from '../../src/lab/processes.js';
import { baseSpecYaml } from '../actions/context.js';
import { addVip, createNs, deleteNs, removeVip } from '../notify/ns.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { startAgent, writeFifo, type RunningAgent } from './support.js';

const missing = requirementsMissing({ root: true, programs: ['ip', 'flock', 'mkfifo'] });
const NS = `hag-${process.pid}`;
const VIP = '192.0.2.50';
let dir = '';
let agent: RunningAgent | undefined;
const started: RunningAgent[] = [];

function run(args: string[]): RunningAgent {
  const running = startAgent(args, { netns: NS });
  started.push(running);
  return running;
}

beforeAll(() => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-e2e-'));
  writeFileSync(join(dir, 'record.sh'), '#!/bin/sh\necho "$HACTL_STATE $1" >> "$(dirname "$0")/marker"\n', {
    mode: 0o755,
  });
  writeFileSync(
    join(dir, 'hactl.yaml'),
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
  master:
    - { type: command, argv: [${dir}/record.sh, up] }
  backup:
    - { type: command, argv: [${dir}/record.sh, down] }
`),
  );
  createNs(NS);
});

afterAll(async () => {
  for (const running of started) await running.cleanup();
  if (missing) return;
  deleteNs(NS);
  rmSync(dir, { recursive: true, force: true });
});

const marker = () => (existsSync(join(dir, 'marker')) ? readFileSync(join(dir, 'marker'), 'utf8') : '');

describe(titled('hactl agent: a transition through the FIFO in a namespace', missing), () => {
  it.skipIf(missing)(
    'runs the master action once on MASTER with the VIP held, not again on a repeat',
    async () => {
      // A long interval: every tick here is woken by a line, none by the timer.
      agent = run(['--spec', join(dir, 'hactl.yaml'), '--node', 'ha1', '--interval', '600']);
      const first = await agent.waitForLog('the first tick', (l) => l.event === 'agent.tick', 20_000);
      expect(first.woken_by).toEqual(['start']);
      expect(first.state).toBe('none');
      const fifo = notifyFifoPath(join(dir, 'run'), 'ha1');

      addVip(NS, VIP);
      let from = agent.logs.length;
      await writeFifo(fifo, 'INSTANCE "VI_1" MASTER 150');
      const applied = await agent.waitForLog(
        'MASTER applied',
        (l) => l.event === 'agent.applied',
        20_000,
        from,
      );
      expect(applied).toMatchObject({ state: 'MASTER', result: 'ok', actions_ok: 1 });
      const id = applied.transition_id;
      const lines = agent.logs.filter((l) => l.transition_id === id);
      expect(lines.map((l) => l.event)).toEqual([
        'agent.fifo',
        'agent.tick',
        'agent.action',
        'agent.applied',
      ]);
      expect(lines[1]).toMatchObject({
        woken_by: ['fifo'],
        keepalived: 'INSTANCE "VI_1" MASTER 150',
        vips_held: [VIP],
        result: 'apply',
      });
      expect(marker()).toBe('MASTER up\n');

      from = agent.logs.length;
      await writeFifo(fifo, 'INSTANCE "VI_1" MASTER 150');
      const repeat = await agent.waitForLog('the repeat tick', (l) => l.event === 'agent.tick', 20_000, from);
      expect(repeat).toMatchObject({ woken_by: ['fifo'], state: 'none', result: 'skip' });
      expect(String(repeat.reason)).toContain('MASTER is already applied');
      expect(marker()).toBe('MASTER up\n');

      // The VIP moved away; keepalived's next word is BACKUP: applied once.
      removeVip(NS, VIP);
      from = agent.logs.length;
      await writeFifo(fifo, 'INSTANCE "VI_1" BACKUP 150');
      await agent.waitForLog(
        'BACKUP applied',
        (l) => l.event === 'agent.applied' && l.state === 'BACKUP',
        20_000,
        from,
      );
      await waitFor('the backup marker', () => marker() === 'MASTER up\nBACKUP down\n');

      agent.signal('SIGTERM');
      expect((await agent.waitForExit(10_000)).code).toBe(0);
    },
  );

  it.skipIf(missing)(
    'judges by reality at start and after a restart, and the timer catches a change no line reported',
    async () => {
      rmSync(join(dir, 'marker'), { force: true });
      rmSync(join(dir, 'run', 'notify-ha1.state.json'), { force: true });
      addVip(NS, VIP);
      const args = ['--spec', join(dir, 'hactl.yaml'), '--node', 'ha1', '--interval', '0.5'];
      // Nothing heard from keepalived: the VIP held is reason enough.
      agent = run(args);
      const applied = await agent.waitForLog('MASTER on start', (l) => l.event === 'agent.applied', 20_000);
      expect(applied.state).toBe('MASTER');
      const tick = agent.logs.find(
        (l) => l.event === 'agent.tick' && l.transition_id === applied.transition_id,
      )!;
      expect(tick).toMatchObject({ woken_by: ['start'], keepalived: 'none trusted', vips_held: [VIP] });
      expect(marker()).toBe('MASTER up\n');

      // Killed and restarted: the state it applied is on disk, nothing runs twice.
      agent.signal('SIGKILL');
      await agent.waitForExit(10_000);
      agent = run(args);
      const again = await agent.waitForLog('the first tick', (l) => l.event === 'agent.tick', 20_000);
      expect(again).toMatchObject({ woken_by: ['start'], state: 'none', result: 'skip' });

      // The VIP leaves and keepalived's line is lost: the timer's tick demotes.
      const from = agent.logs.length;
      removeVip(NS, VIP);
      const demoted = await agent.waitForLog(
        'BACKUP by the timer',
        (l) => l.event === 'agent.applied',
        20_000,
        from,
      );
      expect(demoted.state).toBe('BACKUP');
      const demoting = agent.logs.find(
        (l) => l.event === 'agent.tick' && l.transition_id === demoted.transition_id,
      )!;
      expect(demoting.woken_by).toEqual(['periodic']);
      expect(String(demoting.reason)).toContain('while MASTER was applied last: demoting');
      expect(marker()).toBe('MASTER up\nBACKUP down\n');
      agent.signal('SIGTERM');
      expect((await agent.waitForExit(10_000)).code).toBe(0);
    },
  );
});
