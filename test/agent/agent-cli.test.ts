/**
 * The built agent as systemd runs it: one per node, clean exit on SIGTERM, SIGHUP reloads (and a
 * broken spec does not take the node down).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { notifyFifoPath } from '../../src/agent/contract.js';
import { waitFor } from '../../src/lab/processes.js';
import { baseSpecYaml } from '../actions/context.js';
import { runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { startAgent, writeFifo, type RunningAgent } from './support.js';

const missing = requirementsMissing({ programs: ['flock', 'mkfifo'] });
let dir = '';
let specPath = '';
const agents: RunningAgent[] = [];

function specYaml(extra = ''): string {
  return baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }\n${extra}`);
}

function start(): RunningAgent {
  const agent = startAgent(['--spec', specPath, '--node', 'ha1', '--interval', '60']);
  agents.push(agent);
  return agent;
}

const started = (agent: RunningAgent) =>
  agent.waitForLog('agent.started', (l) => l.event === 'agent.started', 20_000);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-agent-cli-'));
  specPath = join(dir, 'hactl.yaml');
  writeFileSync(specPath, specYaml());
  writeFileSync(join(dir, 'record.sh'), '#!/bin/sh\necho "$HACTL_STATE $1" >> "$(dirname "$0")/marker"\n', {
    mode: 0o755,
  });
});

afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe(titled('hactl agent (built)', missing), () => {
  it.skipIf(missing)('--help explains the signals and shows an example', async () => {
    const result = await runHactl(['agent', '--help']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('hactl agent --spec /etc/hactl/hactl.yaml --node ha1');
    expect(result.stdout).toMatch(/SIGHUP\s+reload the spec/);
  });

  it.skipIf(missing)('refuses a bad --interval with exit 2', async () => {
    const result = await runHactl(['agent', '--spec', specPath, '--interval', '0']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--interval 0 is not a number of seconds');
  });

  it.skipIf(missing)(
    'refuses a second instance for the same node with exit 1, naming the first',
    async () => {
      const first = start();
      await started(first);
      const second = await runHactl(['agent', '--spec', specPath, '--node', 'ha1'], { timeoutMs: 20_000 });
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toContain(
        `another hactl agent (pid ${first.pid}) already runs for node ha1 of cluster t`,
      );
      expect(second.stderr).toContain(join(dir, 'run', 'agent-ha1.lock'));
      // The first one is untouched and still serves.
      expect(first.exit).toBeUndefined();
      const fifo = notifyFifoPath(join(dir, 'run'), 'ha1');
      await writeFifo(fifo, 'INSTANCE "VI_1" BACKUP 120');
      await first.waitForLog('the line', (l) => l.event === 'agent.fifo');
    },
  );

  it.skipIf(missing)(
    'exits 0 on SIGTERM within 5 s and releases the node; SIGKILL releases it too',
    async () => {
      const first = start();
      await started(first);
      expect(readFileSync(`/proc/${first.pid}/comm`, 'utf8').trim()).toBe('hactl-agent');
      const sent = performance.now();
      first.signal('SIGTERM');
      const exit = await first.waitForExit(10_000);
      expect(exit.code).toBe(0);
      expect(exit.at - sent).toBeLessThan(5_000);
      expect(first.logs.map((l) => l.event)).toContain('agent.stopped');

      const second = start();
      await started(second);
      second.signal('SIGKILL');
      expect((await second.waitForExit(10_000)).signal).toBe('SIGKILL');
      // The kernel dropped the dead agent's lock: a new one starts.
      const third = start();
      await started(third);
    },
  );

  it.skipIf(missing)(
    'logging.file gets the same lines as stderr (check failures land where notify writes); a file under /proc is refused with exit 2',
    async () => {
      const logFile = join(dir, 'log', 'hactl.log');
      writeFileSync(specPath, specYaml(`logging: { file: ${logFile} }`));
      const agent = start();
      await started(agent);
      const fileEvents = () =>
        existsSync(logFile)
          ? readFileSync(logFile, 'utf8')
              .trim()
              .split('\n')
              .filter((line) => line !== '')
              .map((line) => (JSON.parse(line) as { event: string; node: string }).event)
          : [];
      await waitFor('agent.started in logging.file', () => fileEvents().includes('agent.started'), {
        timeoutMs: 10_000,
      });
      expect((statSync(logFile).mode & 0o777).toString(8)).toBe('640');
      agent.signal('SIGTERM');
      expect((await agent.waitForExit(10_000)).code).toBe(0);
      // Flushed before the exit: the last line is in the file too.
      expect(fileEvents()).toContain('agent.stopped');
      expect(fileEvents()).toEqual(agent.logs.map((l) => l.event));

      writeFileSync(specPath, specYaml('logging: { file: /proc/hactl-test/hactl.log }'));
      const refused = await runHactl(['agent', '--spec', specPath, '--node', 'ha1'], { timeoutMs: 20_000 });
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toMatch(/logging\.file .*\/proc/);
    },
  );

  it.skipIf(missing)('SIGHUP with a broken spec keeps the running one and logs the field', async () => {
    const agent = start();
    await started(agent);
    writeFileSync(specPath, specYaml().replace('priority: 150', 'priority: 999'));
    agent.signal('SIGHUP');
    const failed = await agent.waitForLog('agent.reload_failed', (l) => l.event === 'agent.reload_failed');
    expect(failed.level).toBe('error');
    expect(failed.fields).toEqual(['nodes[0].priority']);
    expect(String(failed.reason)).toMatch(/nodes\[0\]\.priority: .*\n\s+at .*hactl\.yaml:5/);
    // Still running, still serving with the old spec.
    expect(agent.exit).toBeUndefined();
    const from = agent.logs.length;
    await writeFifo(notifyFifoPath(join(dir, 'run'), 'ha1'), 'INSTANCE "VI_1" FAULT 0');
    const tick = await agent.waitForLog('a tick on the line', (l) => l.event === 'agent.tick', 15_000, from);
    expect(tick.state).toBe('FAULT');
  });

  it.skipIf(missing)('SIGHUP with a good spec reloads it: the next transition runs its actions', async () => {
    const agent = start();
    const before = await started(agent);
    writeFileSync(
      specPath,
      specYaml(`actions:\n  backup:\n    - { type: command, argv: [${dir}/record.sh, reloaded] }\n`),
    );
    agent.signal('SIGHUP');
    const reloaded = await agent.waitForLog('agent.reloaded', (l) => l.event === 'agent.reloaded');
    expect(reloaded.spec_hash).not.toBe(before.spec_hash);
    await writeFifo(notifyFifoPath(join(dir, 'run'), 'ha1'), 'INSTANCE "VI_1" BACKUP 120');
    await agent.waitForLog('agent.applied', (l) => l.event === 'agent.applied');
    await waitFor('the marker', () => existsSync(join(dir, 'marker')));
    expect(readFileSync(join(dir, 'marker'), 'utf8')).toBe('BACKUP reloaded\n');
  });
});
