/**
 * `hactl notify` through the built launcher, inside two network namespaces standing in for the
 * nodes. Holding the VIP is real (the address is on the namespace's loopback), concurrency is real
 * (several notify processes at once), and the application is a real daemon started by a `service`
 * action — seed 002's "only the active node runs it".
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAlive, readPidFile, stopProcess, waitFor } from '../../src/lab/processes.js';
import { runHactl, type RunResult } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { addVip, createNs, deleteNs, processInNs, removeVip } from './ns.js';

const missing = requirementsMissing({ root: true, programs: ['ip', 'flock', 'start-stop-daemon'] });
const VIP = '192.0.2.50';
const NS = { ha1: `hn1-${process.pid}`, ha2: `hn2-${process.pid}` };
type Node = keyof typeof NS;
let dir = '';

function specText(actions: string): string {
  return `version: 1
cluster: nt
nodes:
  - name: ha1
    priority: 150
    networks: { inside: { interface: lo, address: 192.0.2.11 } }
  - name: ha2
    priority: 120
    networks: { inside: { interface: lo, address: 192.0.2.12 } }
vips:
  - { name: inside, address: ${VIP}/24, network: inside, virtual_router_id: 51 }
paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
logging: { file: ${dir}/hactl.log }
actions:
${actions}`;
}

/** Appends "<STATE> <node>" to events.txt; the app is a sleep daemon with a per-node pid file. */
function appActions(): string {
  const record = (state: string) =>
    `    - { type: command, argv: [${dir}/record.sh, ${state}], env: { NODE_TAG: x } }`;
  const app = (op: 'start' | 'stop') =>
    `    - type: service
      name: app
      op: ${op}
      commands:
        start: [${dir}/app.sh, start]
        stop: [${dir}/app.sh, stop]`;
  return [
    '  master:',
    record('MASTER'),
    app('start'),
    ...['backup', 'fault', 'stop'].flatMap((s) => [`  ${s}:`, record(s.toUpperCase()), app('stop')]),
  ].join('\n');
}

/** Action argv are safe tokens (no spaces), as operators write them: a script path plus words. */
function writeScripts(): void {
  const script = (name: string, body: string) =>
    writeFileSync(join(dir, name), `#!/bin/sh\nD=$(dirname "$0")\n${body}\n`, { mode: 0o755 });
  script('record.sh', 'echo "$* $HACTL_NODE" >> "$D/events.txt"');
  script('fail.sh', 'echo broken >&2; exit 4');
  script('pid-sleep.sh', 'echo $$ > "$D/$1.pid"; exec sleep 30');
  script(
    'app.sh',
    [
      'if [ "$1" = start ]; then',
      '  exec start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile "$D/app-$HACTL_NODE.pid" --exec /usr/bin/sleep -- 3600',
      'fi',
      'exec start-stop-daemon --stop --quiet --oknodo --pidfile "$D/app-$HACTL_NODE.pid" --remove-pidfile --retry TERM/5/KILL/2',
    ].join('\n'),
  );
}

function writeSpec(name: string, actions: string): string {
  writeScripts();
  const path = join(dir, name);
  writeFileSync(path, specText(actions));
  return path;
}

function notify(spec: string, node: Node, words: string[], extra: string[] = []): Promise<RunResult> {
  return runHactl(['notify', '--spec', spec, '--node', node, ...extra, ...words], {
    netns: NS[node],
    timeoutMs: 60_000,
  });
}

function events(): string[] {
  const file = join(dir, 'events.txt');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

function appliedState(node: Node): { state: string; ok: boolean } | undefined {
  const file = join(dir, 'run', `notify-${node}.state.json`);
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { state: string; ok: boolean })
    : undefined;
}

function appPid(node: Node): number | undefined {
  const pid = readPidFile(join(dir, `app-${node}.pid`));
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

function logLines(): Record<string, unknown>[] {
  const file = join(dir, 'hactl.log');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
}

async function stopApps(): Promise<void> {
  for (const node of ['ha1', 'ha2'] as const) {
    const pid = readPidFile(join(dir, `app-${node}.pid`));
    if (pid !== undefined) await stopProcess(pid, 'sleep', { waitMs: 3000 });
  }
}

function moveVipTo(node: Node | 'nobody'): void {
  for (const n of ['ha1', 'ha2'] as const) (n === node ? addVip : removeVip)(NS[n], VIP);
}

describe.skipIf(missing)(titled('hactl notify in namespaces (built CLI)', missing), () => {
  beforeAll(() => {
    createNs(NS.ha1);
    createNs(NS.ha2);
  });
  afterAll(async () => {
    if (dir) await stopApps();
    deleteNs(NS.ha1);
    deleteNs(NS.ha2);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    if (dir) {
      await stopApps();
      rmSync(dir, { recursive: true, force: true });
    }
    dir = mkdtempSync(join(tmpdir(), 'hactl-notify-'));
    moveVipTo('nobody');
  });

  it('a GROUP + INSTANCE pair for the same transition runs the actions once; a repeat is skipped; --force reruns', async () => {
    const spec = writeSpec('spec.yaml', appActions());
    moveVipTo('ha1');
    const pair = await Promise.all([
      notify(spec, 'ha1', ['GROUP', 'nt_vips', 'MASTER', '0']),
      notify(spec, 'ha1', ['INSTANCE', 'inside', 'MASTER', '150']),
    ]);
    for (const r of pair) expect(r.exitCode, r.stderr).toBe(0);
    expect(events()).toEqual(['MASTER ha1']);
    expect(pair.map((r) => r.stdout).join('')).toMatch(/skipped .*MASTER is already applied/);

    const repeat = await notify(spec, 'ha1', ['master']);
    expect(repeat.exitCode).toBe(0);
    expect(events()).toEqual(['MASTER ha1']);

    const forced = await notify(spec, 'ha1', ['master'], ['--force']);
    expect(forced.exitCode).toBe(0);
    expect(events()).toEqual(['MASTER ha1', 'MASTER ha1']);
  });

  it('concurrent, out-of-order BACKUP and MASTER events on both nodes end in the state of who holds the VIP; the app runs only there', async () => {
    const spec = writeSpec('spec.yaml', appActions());
    const holders: (Node | 'nobody')[] = ['ha1', 'ha2', 'ha2', 'ha1', 'nobody', 'ha2'];
    for (const [round, holder] of holders.entries()) {
      moveVipTo(holder);
      // Both kinds of event to both nodes at once, in an order that changes every round.
      const calls: [Node, string[]][] = [
        ['ha1', ['INSTANCE', 'inside', 'MASTER', '150']],
        ['ha1', ['INSTANCE', 'inside', 'BACKUP', '150']],
        ['ha2', ['INSTANCE', 'inside', 'MASTER', '120']],
        ['ha2', ['INSTANCE', 'inside', 'BACKUP', '120']],
        ['ha1', ['GROUP', 'nt_vips', 'BACKUP', '0']],
        ['ha2', ['GROUP', 'nt_vips', 'MASTER', '0']],
      ];
      const order = round % 2 === 0 ? calls : [...calls].reverse();
      const results = await Promise.all(order.map(([node, words]) => notify(spec, node, words)));
      for (const r of results) expect(r.exitCode, r.stderr + r.stdout).toBe(0);
      for (const node of ['ha1', 'ha2'] as const) {
        const expected = node === holder ? 'MASTER' : 'BACKUP';
        expect(appliedState(node), `round ${round}: ${node}`).toMatchObject({ state: expected, ok: true });
        const pid = appPid(node);
        if (node === holder) {
          expect(pid, `round ${round}: the app runs on ${node}`).toBeDefined();
          expect(processInNs(pid!, NS[node])).toBe(true);
        } else {
          expect(pid, `round ${round}: the app is stopped on ${node}`).toBeUndefined();
        }
      }
    }
    // Each transition ran once per node: count MASTER lines = rounds in which the holder changed to that node.
    const masters = events().filter((e) => e.startsWith('MASTER'));
    expect(masters).toEqual(['MASTER ha1', 'MASTER ha2', 'MASTER ha1', 'MASTER ha2']);
  });

  it('a stale MASTER (no VIP held) is skipped and logged; BACKUP is applied', async () => {
    const spec = writeSpec('spec.yaml', appActions());
    const stale = await notify(spec, 'ha2', ['INSTANCE', 'inside', 'MASTER', '120']);
    expect(stale.exitCode).toBe(0);
    expect(stale.stdout).toMatch(/skipped .*stale MASTER event/);
    expect(events()).toEqual([]);
    const backup = await notify(spec, 'ha2', ['backup']);
    expect(backup.exitCode).toBe(0);
    expect(events()).toEqual(['BACKUP ha2']);
  });

  it('every step is one JSON log line with event, state, action, duration_ms, result, reason', async () => {
    const spec = writeSpec('spec.yaml', appActions());
    moveVipTo('ha1');
    expect((await notify(spec, 'ha1', ['master'])).exitCode).toBe(0);
    const lines = logLines();
    const steps = lines.filter((l) => l.event === 'notify.action');
    expect(steps).toHaveLength(2);
    for (const step of steps) {
      expect(step).toMatchObject({ state: 'MASTER', result: 'ok', node: 'ha1', cluster: 'nt' });
      expect(typeof step.action).toBe('string');
      expect(typeof step.duration_ms).toBe('number');
      expect(typeof step.reason).toBe('string');
    }
    expect(lines.map((l) => l.event)).toEqual([
      'notify.received',
      'notify.decision',
      'notify.action',
      'notify.action',
      'notify.summary',
    ]);
  });

  it('an aborting failure stops the list and exits 1; the next event retries; continue goes on', async () => {
    const spec = writeSpec(
      'spec.yaml',
      `  master:
    - { type: command, argv: [${dir}/record.sh, first] }
    - { type: command, argv: [${dir}/fail.sh], on_failure: abort }
    - { type: command, argv: [${dir}/record.sh, never] }
  backup:
    - { type: command, argv: [/bin/false] }
    - { type: command, argv: [${dir}/record.sh, after-continue] }
`,
    );
    moveVipTo('ha1');
    const first = await notify(spec, 'ha1', ['master']);
    expect(first.exitCode).toBe(1);
    expect(first.stderr).toMatch(
      /MASTER aborted .*1\/2 actions ok; failed: command \S+fail\.sh \(\S+fail\.sh exited 4: broken\) — aborted/,
    );
    expect(events()).toEqual(['first ha1']);
    expect(appliedState('ha1')).toMatchObject({ state: 'MASTER', ok: false });
    const retry = await notify(spec, 'ha1', ['master']);
    expect(retry.exitCode).toBe(1);
    expect(events()).toEqual(['first ha1', 'first ha1']);

    moveVipTo('nobody');
    const backup = await notify(spec, 'ha1', ['backup']);
    expect(backup.exitCode).toBe(1);
    expect(backup.stderr).toMatch(/BACKUP partial .*1\/2 actions ok; failed: command \/bin\/false/);
    expect(events()).toEqual(['first ha1', 'first ha1', 'after-continue ha1']);
    // A list with a failed step is not "applied": the same event runs it again.
    expect(appliedState('ha1')).toMatchObject({ state: 'BACKUP', ok: false });
    const again = await notify(spec, 'ha1', ['backup']);
    expect(again.exitCode).toBe(1);
    expect(events()).toEqual(['first ha1', 'first ha1', 'after-continue ha1', 'after-continue ha1']);
  });

  it('an action that outlives its timeout is killed and the run goes on', async () => {
    const spec = writeSpec(
      'spec.yaml',
      `  backup:
    - { type: command, argv: [${dir}/pid-sleep.sh, slow], timeout: 0.5 }
    - { type: command, argv: [${dir}/record.sh, next] }
`,
    );
    const result = await notify(spec, 'ha1', ['backup']);
    // The list went on, but a step failed: the transition is reported (and recorded) as partial.
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/BACKUP partial/);
    // Far below the 30 s the sleep would take, with room for node start-up on a loaded machine.
    expect(result.durationMs).toBeLessThan(15_000);
    expect(events()).toEqual(['next ha1']);
    const slow = readPidFile(join(dir, 'slow.pid'));
    expect(slow).toBeGreaterThan(1);
    expect(isAlive(slow!)).toBe(false);
    const step = logLines().find((l) => l.event === 'notify.action' && l.result === 'failed')!;
    expect(step.reason).toMatch(/timed out and was stopped \(SIGTERM\)/);
    expect(Number(step.duration_ms)).toBeGreaterThanOrEqual(500);
  });

  it('a notify killed with SIGKILL while holding the lock does not block the next one', async () => {
    const spec = writeSpec(
      'spec.yaml',
      `  backup:
    - { type: command, argv: [${dir}/pid-sleep.sh, hold] }
  fault:
    - { type: command, argv: [${dir}/record.sh, fault] }
`,
    );
    let hactlPid = 0;
    const holding = runHactl(['notify', '--spec', spec, '--node', 'ha1', 'backup'], {
      netns: NS.ha1,
      timeoutMs: 60_000,
      onSpawn: (pid) => (hactlPid = pid),
    });
    await waitFor('the first notify to run its action', () => existsSync(join(dir, 'hold.pid')), {
      timeoutMs: 30_000,
    });
    const waiting = await notify(spec, 'ha1', ['fault'], ['--lock-timeout', '0.3']);
    expect(waiting.exitCode).toBe(1);
    expect(waiting.stderr).toMatch(/another hactl notify held .* for more than 0\.3 s/);
    const sleeper = readPidFile(join(dir, 'hold.pid'))!;
    try {
      // ip netns exec execs in place: the PID is node running hactl.
      expect(await stopProcess(hactlPid, 'hactl', { signal: 'SIGKILL', waitMs: 2000 })).toBe(true);
      expect((await holding).exitCode).toBe(128 + 9);
      // The orphaned action runs on (its own process group): it must not carry the lock with it.
      expect(isAlive(sleeper)).toBe(true);
      const next = await notify(spec, 'ha1', ['fault'], ['--lock-timeout', '2']);
      expect(next.exitCode, next.stderr).toBe(0);
      expect(events()).toEqual(['fault ha1']);
      expect(isAlive(sleeper)).toBe(true);
    } finally {
      await stopProcess(sleeper, 'sleep', { waitMs: 2000 });
    }
  });

  it('usage and spec errors exit 2', async () => {
    const spec = writeSpec('spec.yaml', appActions());
    expect((await notify(spec, 'ha1', ['GROUP', 'g', 'MASTER'])).exitCode).toBe(2);
    expect((await notify(spec, 'ha1', ['promote'])).exitCode).toBe(2);
    const noNode = await runHactl(['notify', '--spec', spec, '--node', 'ha9', 'master']);
    expect(noNode.exitCode).toBe(2);
    expect(noNode.stderr).toMatch(/ha9/);
  });
});
