/**
 * The agent API (agent.api): the token gate, the method and path rules, the token file's checks,
 * the effective priority it computes, the metrics it serves, and the wiring that refuses to start
 * on a token file others can read. Servers listen on 127.0.0.1 at ephemeral ports (port 0).
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFacts, MAX_TRANSITIONS } from '../../../src/agent/api/facts.js';
import { apiListeners, metricsListener, startAgentApiFor } from '../../../src/agent/api/index.js';
import { effectivePriority } from '../../../src/agent/api/priority.js';
import { startAgentApi, type AgentApi } from '../../../src/agent/api/server.js';
import { bearerMatches, readTokenFile } from '../../../src/agent/api/token.js';
import type { TickRecord } from '../../../src/agent/loop.js';
import { ConfigError } from '../../../src/errors.js';
import { lintSpec } from '../../../src/keepalived/lint.js';
import { createLogger } from '../../../src/log.js';
import { parseSpecText } from '../../../src/spec/load.js';
import { formatNodePrometheus } from '../../../src/status/format.js';
import type { NodeStatus } from '../../../src/status/types.js';
import { baseSpecYaml } from '../../actions/context.js';
import { parseExposition } from '../../status/exposition.js';
import { node as nodeStatus, primaryDb } from '../../status/support.js';

const TOKEN = 'tok-' + 'a1b2c3d4e5f6a7b8c9d0'.repeat(2);
const quiet = { info: () => undefined, warn: () => undefined };

/** A node as an agent serves it: MASTER with priority 150 on both instances, one check. */
function agentNode(): NodeStatus {
  return nodeStatus('ha1', primaryDb(), {
    source: 'agent',
    vips_held: ['192.0.2.50'],
    agent: {
      alive: true,
      detail: 'alive',
      checks: [{ name: 'nginx', track_value: 0, ok: true }],
      failback_gate: null,
    },
    vrrp: [
      {
        instance: 'inside',
        interface: 'eth1',
        vrid: 51,
        state: 'MASTER',
        since: '2026-01-01T00:00:00.000Z',
        effective_priority: 150,
        fault_by: null,
        reported_priority: 150,
      },
      {
        instance: 'outside',
        interface: 'eth0',
        vrid: 52,
        state: 'unknown',
        since: null,
        effective_priority: 150,
        fault_by: null,
        reported_priority: null,
      },
    ],
    checks: [
      {
        name: 'nginx',
        kind: 'http',
        ok: true,
        last_result: true,
        detail: 'HTTP 200',
        latency_ms: 2.5,
        last_run_at: '2026-01-01T00:00:01.000Z',
        track_value: 0,
      },
    ],
    transitions: [],
  });
}

describe('effective priority (computed from the track files, as keepalived adds them)', () => {
  it('adds value × weight to the base priority and clamps to 1..254', () => {
    expect(effectivePriority(150, [])).toEqual({ fault: false, priority: 150 });
    // A positive-weight check OK (1), a negative-weight check KO (1), the agent alive (0, weight 0).
    expect(
      effectivePriority(100, [
        { name: 'chk_a', weight: 20, value: 1 },
        { name: 'chk_b', weight: -30, value: 1 },
        { name: 'hactl_agent', weight: 0, value: 0 },
      ]),
    ).toEqual({ fault: false, priority: 90 });
    expect(effectivePriority(250, [{ name: 'chk_a', weight: 20, value: 1 }])).toEqual({
      fault: false,
      priority: 254,
    });
    expect(effectivePriority(10, [{ name: 'hactl_failback', weight: -1, value: 200 }])).toEqual({
      fault: false,
      priority: 1,
    });
  });

  it('a weight-0 file that is not 0 means FAULT, and so does a product of -254 or less', () => {
    expect(effectivePriority(150, [{ name: 'hactl_agent', weight: 0, value: 1 }])).toEqual({
      fault: true,
      by: 'hactl_agent reads 1 (weight 0)',
    });
    expect(effectivePriority(150, [{ name: 'hactl_failback', weight: -1, value: 254 }])).toMatchObject({
      fault: true,
    });
    expect(effectivePriority(150, [{ name: 'hactl_failback', weight: -1, value: 253 }])).toEqual({
      fault: false,
      priority: 1,
    });
  });

  it('a missing file counts as 0, as keepalived counts it', () => {
    expect(
      effectivePriority(150, [
        { name: 'chk_a', weight: 20, value: null },
        { name: 'hactl_agent', weight: 0, value: null },
      ]),
    ).toEqual({ fault: false, priority: 150 });
  });
});

describe('the token file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `hactl-api-${process.pid}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is read from a 0600 file', async () => {
    const file = join(dir, 'ok.token');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
    await expect(readTokenFile(file)).resolves.toBe(TOKEN);
  });

  it('is refused when group or others may read it, naming the field, the mode and the fix, never the token', async () => {
    const file = join(dir, 'open.token');
    await writeFile(file, `${TOKEN}\n`);
    await chmod(file, 0o644);
    const error = await readTokenFile(file).then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.message).not.toBe('no error');
    expect(error.message).toContain('agent.api.token_file');
    expect(error.message).toContain('mode 0644');
    expect(error.message).toContain(`chmod 600 ${file}`);
    expect(error.message).not.toContain(TOKEN);
  });

  it('is refused when empty, too short, a directory or missing', async () => {
    const empty = join(dir, 'empty.token');
    await writeFile(empty, '\n', { mode: 0o600 });
    await expect(readTokenFile(empty)).rejects.toThrow(/agent\.api\.token_file .* is empty/);
    const short = join(dir, 'short.token');
    await writeFile(short, 'abc\n', { mode: 0o600 });
    await expect(readTokenFile(short)).rejects.toThrow(/at least 16 characters/);
    const sub = join(dir, 'sub');
    await mkdir(sub, { mode: 0o700 });
    await expect(readTokenFile(sub)).rejects.toThrow(/is not a regular file/);
    await expect(readTokenFile(join(dir, 'nope'))).rejects.toThrow(/cannot be opened \(ENOENT\)/);
  });

  it('bearerMatches accepts only the exact token', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(bearerMatches(TOKEN, TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer ', TOKEN)).toBe(false);
  });
});

describe('the API server', () => {
  let api: AgentApi;
  let base: string;
  let metricsBase: string;
  const asked: number[] = [];

  beforeAll(async () => {
    api = await startAgentApi({
      api: [{ host: '127.0.0.1', port: 0 }],
      metrics: { host: '127.0.0.1', port: 0 },
      token: TOKEN,
      node: async (budgetMs) => {
        asked.push(budgetMs);
        return agentNode();
      },
      metricsText: async () => formatNodePrometheus('t', agentNode()),
      log: quiet,
    });
    base = `http://${api.addresses().api[0]!}`;
    metricsBase = `http://${api.addresses().metrics!}`;
  });
  afterAll(async () => {
    await api.stop();
  });

  const get = async (url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET') => {
    const response = await request(url, { method, headers, signal: AbortSignal.timeout(5_000) });
    return { status: response.statusCode, body: await response.body.text(), headers: response.headers };
  };

  it('refuses a request without the token or with a wrong one: a bare 401', async () => {
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: `Bearer ${TOKEN}-` },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    ];
    for (const headers of refused) {
      const answer = await get(`${base}/v1/node`, headers);
      expect(answer.status).toBe(401);
      expect(answer.body).toBe('');
    }
    // Nobody without the token learns which paths or methods exist.
    expect((await get(`${base}/nothing-here`)).status).toBe(401);
    expect((await get(`${base}/v1/node`, {}, 'POST')).status).toBe(401);
  });

  it('answers the right token with the node, source agent, VRRP and checks included', async () => {
    const answer = await get(`${base}/v1/node?budget_ms=700`, { authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(200);
    const node = JSON.parse(answer.body) as NodeStatus;
    expect(node.name).toBe('ha1');
    expect(node.source).toBe('agent');
    expect(node.vrrp?.[0]).toMatchObject({ instance: 'inside', state: 'MASTER', effective_priority: 150 });
    expect(node.checks?.[0]).toMatchObject({ name: 'nginx', latency_ms: 2.5 });
    expect(asked.at(-1)).toBe(700);
    expect(answer.body).not.toContain(TOKEN);
  });

  it('refuses other methods (405, Allow: GET) and other paths (404), token or not', async () => {
    const post = await get(`${base}/v1/node`, { authorization: `Bearer ${TOKEN}` }, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    expect((await get(`${base}/v1/other`, { authorization: `Bearer ${TOKEN}` })).status).toBe(404);
    expect((await get(`${metricsBase}/metrics`, {}, 'POST')).status).toBe(405);
  });

  it('takes a new token (SIGHUP reload): the old one stops working', async () => {
    const next = 'new-' + TOKEN;
    api.setToken(next);
    try {
      expect((await get(`${base}/v1/node`, { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
      expect((await get(`${base}/v1/node`, { authorization: `Bearer ${next}` })).status).toBe(200);
    } finally {
      api.setToken(TOKEN);
    }
  });

  it('serves /metrics without a token, in the exposition format, with hactl_vrrp_state', async () => {
    const answer = await get(`${metricsBase}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(answer.body);
    const state = samples.filter((s) => s.name === 'hactl_vrrp_state');
    // The unknown instance is left out, never guessed.
    expect(state).toEqual([
      {
        name: 'hactl_vrrp_state',
        labels: { scope: 't', name: 'ha1', iname: 'inside', intf: 'eth1', vrid: '51' },
        value: 2,
      },
    ]);
    expect(samples.filter((s) => s.name === 'hactl_vrrp_effective_priority').map((s) => s.value)).toEqual([
      150, 150,
    ]);
    expect(samples.find((s) => s.name === 'hactl_check_status')?.value).toBe(1);
    expect(samples.find((s) => s.name === 'hactl_check_latency_seconds')?.value).toBe(0.0025);
    expect(samples.find((s) => s.name === 'hactl_primary')?.value).toBe(1);
    expect((await get(`${metricsBase}/v1/node`)).status).toBe(404);
  });
});

describe('the agent wiring (agent.api in the spec)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `hactl-api-wire-${process.pid}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const specWith = (tokenFile: string, port = 9641) =>
    parseSpecText(
      baseSpecYaml(`agent:
  enabled: true
  api:
    network: inside
    port: ${port}
    token_file: ${tokenFile}
    metrics_listen: 127.0.0.1:19642
`),
      'api.yaml',
    );

  it("listens on the node's address on agent.api.network and on 127.0.0.1, metrics on metrics_listen", () => {
    const spec = specWith('/etc/hactl/agent-api.token');
    expect(apiListeners(spec.agent.api!, spec.nodes[1]!)).toEqual([
      { host: '192.0.2.12', port: 9641 },
      { host: '127.0.0.1', port: 9641 },
    ]);
    expect(metricsListener(spec.agent.api!)).toEqual({ host: '127.0.0.1', port: 19642 });
  });

  it('refuses to start on a token file of mode 0644, naming agent.api.token_file and the fix', async () => {
    const file = join(dir, 'agent.token');
    await writeFile(file, `${TOKEN}\n`);
    await chmod(file, 0o644);
    const spec = specWith(file);
    const start = startAgentApiFor({
      current: () => ({ spec, node: spec.nodes[0]! }),
      facts: new AgentFacts(),
      log: createLogger({ level: 'error' }),
    });
    const error = await start.then(
      () => new Error('no error'),
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^agent\.api\.token_file .*agent\.token has mode 0644/);
    expect(error.message).toContain(`chmod 600 ${file}`);
    expect(error.message).not.toContain(TOKEN);
  });

  it('lint: metrics_listen off loopback is a warning; on the API port of 127.0.0.1 an error', () => {
    const spec = specWith('/etc/hactl/agent-api.token');
    const api = spec.agent.api!;
    const findings = (metrics_listen: string) =>
      lintSpec({ ...spec, agent: { ...spec.agent, api: { ...api, metrics_listen } } }).filter((f) =>
        f.path.startsWith('agent.api'),
      );
    expect(findings('127.0.0.1:19642')).toEqual([]);
    expect(findings('0.0.0.0:9642')).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'agent.api.metrics_listen' }),
    ]);
    expect(findings('127.0.0.1:9641')).toEqual([
      expect.objectContaining({ severity: 'error', path: 'agent.api.metrics_listen' }),
    ]);
  });

  it('starts nothing when the spec has no agent.api', async () => {
    const spec = specWith('/etc/hactl/agent-api.token');
    const without = { ...spec, agent: { ...spec.agent, api: undefined } };
    await expect(
      startAgentApiFor({
        current: () => ({ spec: without, node: spec.nodes[0]! }),
        facts: new AgentFacts(),
        log: createLogger({ level: 'error' }),
      }),
    ).resolves.toBeUndefined();
  });
});

describe('what only the agent knows (AgentFacts)', () => {
  const fact = (text: string, state: 'MASTER' | 'BACKUP' | 'FAULT', name: string, priority: number) => ({
    text,
    state,
    name,
    priority,
    source: 'fifo' as const,
  });

  it("an instance's state is its own line or its sync group's, whichever came last; a gap forgets both", () => {
    const facts = new AgentFacts();
    expect(facts.vrrpState('inside', 't_vips')).toBeUndefined();
    facts.heard(fact('INSTANCE "inside" BACKUP 120', 'BACKUP', 'inside', 120));
    facts.heard(fact('GROUP "t_vips" MASTER 0', 'MASTER', 't_vips', 0));
    expect(facts.vrrpState('inside', 't_vips')).toMatchObject({ state: 'MASTER', priority: 120 });
    facts.heard(fact('INSTANCE "inside" FAULT 120', 'FAULT', 'inside', 120));
    expect(facts.vrrpState('inside', 't_vips')).toMatchObject({ state: 'FAULT' });
    facts.priorityEvent('INSTANCE', 'inside', 90);
    expect(facts.vrrpState('inside', undefined)).toMatchObject({ state: 'FAULT', priority: 90 });
    facts.gap();
    expect(facts.vrrpState('inside', 't_vips')).toBeUndefined();
  });

  it(`keeps the last ${MAX_TRANSITIONS} decisions that had something to apply, with their ids and outcome`, () => {
    const facts = new AgentFacts();
    const tick = (i: number, result: TickRecord['result']): TickRecord => ({
      transitionId: `ha1-${i}`,
      wokenBy: ['fifo'],
      lines: [`INSTANCE "inside" MASTER 150`],
      keepalived: 'INSTANCE "inside" MASTER 150',
      target: 'MASTER',
      result,
      reason: 'r',
      outcome: { steps: [], aborted: false, diverged: false, ok: true },
    });
    facts.tick(tick(0, 'skip'));
    for (let i = 1; i <= 25; i++) facts.tick(tick(i, i === 25 ? 'refuse' : 'apply'));
    const kept = facts.transitions();
    expect(kept).toHaveLength(MAX_TRANSITIONS);
    expect(kept[0]!.id).toBe('ha1-6');
    expect(kept.at(-2)).toMatchObject({ id: 'ha1-24', outcome: 'ok', state: 'MASTER' });
    expect(kept.at(-1)).toMatchObject({
      id: 'ha1-25',
      outcome: 'refused',
      source_event: 'INSTANCE "inside" MASTER 150',
    });
  });

  it('lists the strict rejoin job among the transitions: rebuilding, then its result', () => {
    const facts = new AgentFacts();
    const job = (rejoin: TickRecord['rejoin'], reason: string): TickRecord => ({
      transitionId: 'ha1-rj',
      wokenBy: ['rejoin'],
      lines: [],
      keepalived: undefined,
      target: undefined,
      result: 'rejoin',
      reason,
      outcome: undefined,
      rejoin,
    });
    facts.tick(job('rebuilding', 'strict rejoin: judging'));
    facts.tick(
      job('rebuilt', 'strict rejoin: discarded 0-1-9 (binlogs saved in /var/lib/hactl/discarded-1)'),
    );
    expect(facts.transitions()).toMatchObject([
      { id: 'ha1-rj', state: null, outcome: 'rejoin rebuilding' },
      {
        id: 'ha1-rj',
        state: null,
        outcome: 'rejoin rebuilt',
        reason: expect.stringContaining('discarded-1'),
      },
    ]);
  });
});
