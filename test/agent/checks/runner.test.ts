// The agent's in-process checks against real listeners on 127.0.0.1: fall/rise as seen in the
// track files over time, a stuck check (abandoned, never overlapped) and the reaction time of a
// 0.25 s check. Every wait is on the file's value or the runner's snapshot, bounded.
import { mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkTrackFile } from '../../../src/agent/contract.js';
import {
  startCheckRunner,
  type CheckRunner,
  type CheckRunnerOptions,
  type CheckStatus,
} from '../../../src/agent/checks/index.js';
import type { CheckKind } from '../../../src/checks/types.js';
import type { CheckSpec } from '../../../src/spec/checks-schema.js';
import { startFakePeer, type FakePeer } from '../../checks/fake-peers.js';
import { freePort } from '../../support/ports.js';
import { readValue, waitForValue } from '../../support/files.js';

type Line = { level: string; fields: Record<string, unknown>; message: string | undefined };

function collector() {
  const lines: Line[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message?: string) => {
    lines.push({ level, fields, message });
  };
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

function check(partial: Partial<CheckSpec> & Pick<CheckSpec, 'name' | 'kind' | 'params'>): CheckSpec {
  return { interval: 0.25, fall: 2, rise: 2, weight: 0, ...partial } as CheckSpec;
}

function specWith(runtimeDir: string, checks: CheckSpec[]): CheckRunnerOptions['spec'] {
  return {
    checks,
    paths: {
      hactl: '/usr/local/bin/hactl',
      spec: '/dev/null',
      runtime_dir: runtimeDir,
      state_dir: runtimeDir,
    },
  } as unknown as CheckRunnerOptions['spec'];
}

async function waitFor<T>(what: string, probe: () => T | undefined, boundMs: number): Promise<T> {
  const start = performance.now();
  for (let i = 0; i < boundMs / 10 + 1; i++) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() - start > boundMs) break;
    await sleep(10);
  }
  throw new Error(`${what} not seen within ${boundMs} ms`);
}

function listen(port: number): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function statusOf(runner: CheckRunner, name: string): CheckStatus {
  const found = runner.snapshot().find((status) => status.name === name);
  if (!found) throw new Error(`no check ${name} in the snapshot`);
  return found;
}

describe('agent checks in-process', () => {
  let dir: string;
  let runner: CheckRunner | undefined;
  const servers: Array<Server | HttpServer> = [];
  const peers: FakePeer[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), `hactl-agentchecks-${process.pid}-`));
  });

  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
    await Promise.all(servers.splice(0).map((server) => (server.listening ? close(server) : undefined)));
    await Promise.all(peers.splice(0).map((peer) => peer.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('tcp: first result decides, KO only after `fall` failures, OK after `rise` successes, writes only on change', async () => {
    const port = await freePort();
    servers.push(await listen(port));
    const file = checkTrackFile(dir, 'ha1', 'db_port');
    // A stale KO from an earlier agent is overwritten by the first result.
    await mkdir(join(dir, 'agent-ha1', 'track', 'checks'), { recursive: true });
    await writeFile(file, '1\n');
    const { log, lines } = collector();
    const changes: CheckStatus[] = [];
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({ name: 'db_port', kind: 'tcp', params: { host: '127.0.0.1', port }, fall: 3, rise: 2 }),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log,
      onChange: (status) => changes.push(status),
    });
    await waitForValue(file, '0\n', 5_000);
    expect(changes.map((c) => c.ok)).toEqual([true]);

    // Steady OK: more runs, no rewrite (a rename would give the file a new inode).
    const inode = (await stat(file)).ino;
    const runs = statusOf(runner, 'db_port').runs;
    await waitFor(
      '4 more runs',
      () => (statusOf(runner!, 'db_port').runs >= runs + 4 ? true : undefined),
      10_000,
    );
    expect((await stat(file)).ino).toBe(inode);

    await close(servers[0]!);
    await waitForValue(file, '1\n', 10_000);
    const down = statusOf(runner, 'db_port');
    expect(down.ok).toBe(false);
    expect(down.failures).toBeGreaterThanOrEqual(3);
    expect(down.reason).toMatch(/connection refused/);
    expect(down.lastRunAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const ko = lines.find((line) => line.fields.event === 'check-state' && line.fields.ok === false);
    expect(ko?.message).toMatch(/KO after 3 failure/);
    const failures = lines.filter((line) => line.fields.event === 'check');
    expect(failures[0]?.fields).toMatchObject({ check: 'db_port', kind: 'tcp', healthy: false });
    expect(typeof failures[0]?.fields.duration_ms).toBe('number');

    servers.push(await listen(port));
    await waitForValue(file, '0\n', 10_000);
    const up = statusOf(runner, 'db_port');
    expect(up.ok).toBe(true);
    expect(up.successes).toBeGreaterThanOrEqual(2);
    expect(up.latencyMs).not.toBeNull();
    expect(changes.map((c) => c.ok)).toEqual([true, false, true]);
  });

  it('a track file keepalived reset at its start (init_file … overwrite) is written again while the verdict holds', async () => {
    const port = await freePort();
    servers.push(await listen(port));
    const file = checkTrackFile(dir, 'ha1', 'db_port');
    const { log, lines } = collector();
    runner = await startCheckRunner({
      spec: specWith(dir, [check({ name: 'db_port', kind: 'tcp', params: { host: '127.0.0.1', port } })]),
      node: 'ha1',
      runtimeDir: dir,
      log,
    });
    await waitForValue(file, '0\n', 5_000);
    // keepalived starting now: the file goes back to its init value, the check stays OK.
    await writeFile(file, '1\n');
    const tookMs = await waitForValue(file, '0\n', 5_000);
    console.log(`track file reset by "keepalived": written again in ${Math.round(tookMs)} ms`);
    expect(statusOf(runner, 'db_port').ok).toBe(true);
    const reset = lines.find((line) => line.fields.event === 'track-reset');
    expect(reset?.fields).toMatchObject({ check: 'db_port', found: '1', value: 0 });
    // A deleted file is restored too.
    await rm(file);
    await waitForValue(file, '0\n', 5_000);
  });

  it('failure log lines are rate-limited as in hactl check: a burst of 3, then at most one a minute', async () => {
    const port = await freePort();
    const { log, lines } = collector();
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({ name: 'gone', kind: 'tcp', params: { host: '127.0.0.1', port }, interval: 0.05 }),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log,
    });
    await waitFor('8 runs', () => (statusOf(runner!, 'gone').runs >= 8 ? true : undefined), 10_000);
    expect(lines.filter((line) => line.fields.event === 'check')).toHaveLength(3);
  });

  it('http with a positive weight: 1 while OK, 0 once KO (status 503), back to 1', async () => {
    const port = await freePort();
    let status = 200;
    const server = createHttpServer((_req, res) => {
      res.writeHead(status, { connection: 'close' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    servers.push(server);
    const file = checkTrackFile(dir, 'ha1', 'web');
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({
          name: 'web',
          kind: 'http',
          params: { url: `http://127.0.0.1:${port}/health` },
          weight: 20,
          fall: 2,
          rise: 1,
        }),
      ]),
      node: { name: 'ha1' },
      runtimeDir: dir,
      log: collector().log,
    });
    await waitForValue(file, '1\n', 5_000);
    status = 503;
    await waitForValue(file, '0\n', 10_000);
    expect(statusOf(runner, 'web').reason).toMatch(/503/);
    status = 200;
    await waitForValue(file, '1\n', 10_000);
  });

  it('a check that outlives its timeout counts as failed, its late result is ignored, and runs never overlap', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    let started = 0;
    let returned = 0;
    // Ignores its signal and answers "healthy" long after the timeout.
    const stuck: CheckKind<unknown> = {
      kind: 'stuck',
      summary: '',
      usage: '',
      flags: {},
      fromFlags: () => ({}),
      run: async () => {
        started++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await sleep(700);
        concurrent--;
        returned++;
        return { healthy: true, detail: 'late and healthy' };
      },
    };
    const file = checkTrackFile(dir, 'ha1', 'slow');
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({
          name: 'slow',
          kind: 'stuck' as CheckSpec['kind'],
          params: {},
          interval: 0.1,
          timeout: 0.2,
          fall: 2,
          rise: 1,
        } as never),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log: collector().log,
      kinds: { stuck: async () => stuck },
    });
    await waitForValue(file, '1\n', 5_000);
    // Past at least two returns of the stuck run: each late "healthy" must have been ignored.
    await waitFor('3 runs returned', () => (returned >= 3 ? true : undefined), 10_000);
    const now = statusOf(runner, 'slow');
    expect(maxConcurrent).toBe(1);
    expect(started).toBeGreaterThanOrEqual(3);
    expect(now.ok).toBe(false);
    expect(now.successes).toBe(0);
    expect(now.lastHealthy).toBe(false);
    expect(await readValue(file)).toBe('1\n');
    // Ticks while the abandoned run was still out counted as failures too.
    expect(now.runs).toBeGreaterThan(started);
  });

  it('http against a peer that accepts and never answers: abandoned at the timeout, KO', async () => {
    const peer = await startFakePeer('http', 'stall');
    peers.push(peer);
    const file = checkTrackFile(dir, 'ha1', 'stalled');
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({
          name: 'stalled',
          kind: 'http',
          params: { url: `http://127.0.0.1:${peer.port}/` },
          fall: 1,
          rise: 1,
        }),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log: collector().log,
    });
    await waitForValue(file, '1\n', 5_000);
    const now = statusOf(runner, 'stalled');
    expect(now.reason).toMatch(/timeout of 0\.25 s/);
    expect(now.latencyMs).toBeLessThan(1_000);
  });

  it('a 0.25 s check notices a dead port within 1 s (interval + timeout + write, on a loaded machine)', async () => {
    const port = await freePort();
    servers.push(await listen(port));
    const file = checkTrackFile(dir, 'ha1', 'fast');
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({ name: 'fast', kind: 'tcp', params: { host: '127.0.0.1', port }, fall: 1, rise: 1 }),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log: collector().log,
    });
    await waitForValue(file, '0\n', 5_000);
    await close(servers[0]!);
    const ms = await waitForValue(file, '1\n', 5_000);
    process.stdout.write(`agent check reaction at 0.25 s interval: ${Math.round(ms)} ms\n`);
    expect(ms).toBeLessThan(1_000);
  });

  it('only the checks of this node run; a bad param names the check', async () => {
    const { log } = collector();
    runner = await startCheckRunner({
      spec: specWith(dir, [
        check({ name: 'mine', kind: 'tcp', params: { host: '127.0.0.1', port: 1 } }),
        check({ name: 'theirs', kind: 'tcp', params: { host: '127.0.0.1', port: 1 }, nodes: ['ha2'] }),
      ]),
      node: 'ha1',
      runtimeDir: dir,
      log,
    });
    expect(runner.snapshot().map((status) => status.name)).toEqual(['mine']);
    await expect(
      startCheckRunner({
        spec: specWith(dir, [
          check({ name: 'broken', kind: 'tcp', params: { host: '127.0.0.1', port: 70000 } }),
        ]),
        node: 'ha1',
        runtimeDir: dir,
        log,
      }),
    ).rejects.toThrow(/checks\[0\] \("broken"\)\.params: --port "70000"/);
  });
});
