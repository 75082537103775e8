// hactl status with agent.api: both nodes' facts come from their agents (this node's on 127.0.0.1,
// the peer's on its address on agent.api.network, here 127.0.0.2); an agent that cannot be asked
// (no answer, wrong token) is replaced by direct probes and named as a problem. Real HTTP on
// loopback at an ephemeral port; the probes are the fakes of collect.test.ts's kind.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAgentApi, type AgentApi } from '../../src/agent/api/server.js';
import type { ObservationSources } from '../../src/cluster/observe.js';
import { collectPairStatus, type StatusSources } from '../../src/status/collect.js';
import { formatPrometheus, formatTable } from '../../src/status/format.js';
import type { Where } from '../../src/status/probe.js';
import type { DatabaseStatus, NodeStatus, VrrpInstanceStatus } from '../../src/status/types.js';
import { judgePair } from '../../src/status/verdict.js';
import type { Spec } from '../../src/spec/schema.js';
import { DB, database } from '../cluster/support.js';
import { parseExposition } from './exposition.js';
import { node, primaryDb, replicaDb, vip } from './support.js';

const TOKEN = 'status-test-token-0123456789abcdef';
const quiet = { info: () => undefined, warn: () => undefined };
const key = (where: Where) => ('socket' in where ? where.socket : `${where.host}:${where.port}`);

function sources(databases: Record<string, DatabaseStatus>): StatusSources {
  const observation: ObservationSources = {
    addresses: () => new Set(['192.0.2.50', '198.51.100.50']),
    appliedState: async () => undefined,
    lineage: async () => ({ kind: 'none' }),
    database: async () => database({ readOnly: false }),
  };
  return {
    observation,
    accounts: async () => ({ accounts: [{ user: 'hactl', password: 'pw' }] }),
    database: async (_accounts, where, _timeoutMs, signal) =>
      databases[key(where)] ??
      new Promise<never>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted'))),
      ),
    serverId: async () => ({ ok: false, problem: 'connection refused' }),
  };
}

function vrrp(state: VrrpInstanceStatus['state'], priority: number | null): VrrpInstanceStatus[] {
  return [
    {
      instance: 'inside',
      interface: 'eth1',
      vrid: 51,
      state,
      since: null,
      effective_priority: priority,
      fault_by: null,
      reported_priority: null,
    },
    {
      instance: 'outside',
      interface: 'eth0',
      vrid: 52,
      state,
      since: null,
      effective_priority: priority,
      fault_by: null,
      reported_priority: null,
    },
  ];
}

const AGENT_ALIVE = { alive: true, detail: 'alive', checks: [], failback_gate: null };

function served(name: 'ha1' | 'ha2'): NodeStatus {
  const master = name === 'ha1';
  return node(name, master ? primaryDb() : replicaDb(), {
    self: true,
    source: 'agent',
    vips_held: master ? ['192.0.2.50', '198.51.100.50'] : [],
    agent: AGENT_ALIVE,
    vrrp: vrrp(master ? 'MASTER' : 'BACKUP', master ? 150 : 120),
    checks: [],
    transitions: [],
  });
}

let dir: string;
let tokenFile: string;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), `hactl-status-agent-${process.pid}-`));
  tokenFile = join(dir, 'agent.token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await chmod(tokenFile, 0o600);
});
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function specOn(port: number): Spec {
  return {
    ...DB,
    nodes: DB.nodes.map((n) => ({
      ...n,
      networks: {
        ...n.networks,
        probe: { interface: 'lo', address: n.name === 'ha1' ? '127.0.0.3' : '127.0.0.2' },
      },
    })),
    paths: { ...DB.paths, runtime_dir: join(dir, 'run') },
    agent: {
      ...DB.agent,
      enabled: true,
      api: { network: 'probe', port, token_file: tokenFile, metrics_listen: '127.0.0.1:9642' },
    },
  };
}

/** A peer "agent" that accepts connections and never answers. */
async function silentPeer(port: number): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.2', port }, resolve);
  });
  cleanup.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

async function agentOn(host: string, port: number, token: string, name: 'ha1' | 'ha2'): Promise<AgentApi> {
  const api = await startAgentApi({
    api: [{ host, port }],
    metrics: undefined,
    token,
    node: async () => served(name),
    metricsText: async () => '',
    log: quiet,
  });
  cleanup.push(() => api.stop());
  return api;
}

/** The peer at 127.0.0.2 on an ephemeral port, then this node's agent on 127.0.0.1 at the same port. */
async function pairWith(peer: (port: number) => Promise<unknown>): Promise<number> {
  const first = await agentOn('127.0.0.2', 0, TOKEN, 'ha2');
  const port = Number(first.addresses().api[0]!.split(':')[1]);
  await first.stop();
  cleanup.pop();
  await peer(port);
  await agentOn('127.0.0.1', port, TOKEN, 'ha1');
  return port;
}

const DATABASES = { '127.0.0.1:3306': primaryDb(), '192.0.2.12:3306': replicaDb() };

describe('collectPairStatus with agent.api', () => {
  it('both agents answer: both nodes come from them, VIPs from what they hold, healthy', async () => {
    const port = await pairWith((p) => agentOn('127.0.0.2', p, TOKEN, 'ha2'));
    const spec = specOn(port);
    const status = await collectPairStatus(spec, spec.nodes[0]!, {
      timeoutMs: 3000,
      sources: sources(DATABASES),
    });
    expect(status.problems).toEqual([]);
    expect(status.verdict).toBe('healthy');
    expect(status.nodes.map((n) => [n.name, n.source, n.self, n.agent_api?.answered])).toEqual([
      ['ha1', 'agent', true, true],
      ['ha2', 'agent', false, true],
    ]);
    expect(status.nodes[1]!.agent_api!.address).toBe(`127.0.0.2:${port}`);
    expect(status.vips.map((v) => [v.name, v.held_by, v.source])).toEqual([
      ['inside', ['ha1'], 'agent'],
      ['outside', ['ha1'], 'agent'],
    ]);
    const table = formatTable(status);
    expect(table).toMatch(/^NODE +FACTS +VRRP +PRIO +VIPS/m);
    expect(table).toMatch(/^ha1\* +agent +MASTER +150 /m);
    expect(table).toMatch(/^ha2 +agent +BACKUP +120 /m);
    const states = parseExposition(formatPrometheus(status)).filter((s) => s.name === 'hactl_vrrp_state');
    expect(states.map((s) => [s.labels.name, s.labels.iname, s.value])).toEqual([
      ['ha1', 'inside', 2],
      ['ha1', 'outside', 2],
      ['ha2', 'inside', 1],
      ['ha2', 'outside', 1],
    ]);
    expect(JSON.stringify(status)).not.toContain(TOKEN);
  });

  it("the peer's agent never answers: probed instead within the budget, and the problem names the agent and why", async () => {
    const port = await pairWith((p) => silentPeer(p));
    const spec = specOn(port);
    const started = performance.now();
    const status = await collectPairStatus(spec, spec.nodes[0]!, {
      timeoutMs: 1000,
      sources: sources(DATABASES),
    });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1500);
    const peer = status.nodes[1]!;
    expect(peer.source).toBe('probe');
    expect(peer.agent_api).toMatchObject({ address: `127.0.0.2:${port}`, answered: false });
    expect(peer.agent_api!.problem).toMatch(/^no answer within \d+ ms$/);
    // The fallback still probed its database.
    expect(peer.database).toMatchObject({ reachable: true, role: 'replica' });
    expect(status.nodes[0]!.source).toBe('agent');
    expect(status.verdict).toBe('degraded');
    expect(status.problems).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^ha2's agent at 127\\.0\\.0\\.2:${port} could not be asked \\(no answer within \\d+ ms\\); ha2 was probed directly instead$`,
        ),
      ),
    );
    expect(formatTable(status)).toContain(`agent at 127.0.0.2:${port} not asked: no answer within`);
    expect(JSON.stringify(status)).not.toContain(TOKEN);
  });

  it("the peer's agent refuses the token: the problem says 401 and points at agent.api.token_file, never the token", async () => {
    const port = await pairWith((p) => agentOn('127.0.0.2', p, 'another-token-0123456789abcdef', 'ha2'));
    const spec = specOn(port);
    const status = await collectPairStatus(spec, spec.nodes[0]!, {
      timeoutMs: 2000,
      sources: sources(DATABASES),
    });
    expect(status.nodes[1]!.agent_api!.problem).toMatch(/refused the token \(401\).*agent\.api\.token_file/);
    expect(status.verdict).toBe('degraded');
    expect(JSON.stringify(status)).not.toContain(TOKEN);
    expect(JSON.stringify(status)).not.toContain('another-token');
  });
});

describe('the verdict on what the agents relay from keepalived', () => {
  const vips = [vip('inside', ['ha1']), vip('outside', ['ha1'])];
  const agentNode = (name: string, state: VrrpInstanceStatus['state'], db: DatabaseStatus) =>
    node(name, db, {
      source: 'agent',
      agent: AGENT_ALIVE,
      vrrp: vrrp(state, state === 'FAULT' ? null : 100),
    });

  it('MASTER on one node, BACKUP on the other: no problem', () => {
    const verdict = judgePair(
      [agentNode('ha1', 'MASTER', primaryDb()), agentNode('ha2', 'BACKUP', replicaDb())],
      vips,
      30,
    );
    expect(verdict.problems).toEqual([]);
  });

  it('MASTER on both nodes is split brain', () => {
    const verdict = judgePair(
      [agentNode('ha1', 'MASTER', primaryDb()), agentNode('ha2', 'MASTER', replicaDb())],
      vips,
      30,
    );
    expect(verdict.verdict).toBe('degraded');
    expect(verdict.problems).toEqual([
      'split brain: ha1 and ha2 are all VRRP MASTER for inside',
      'split brain: ha1 and ha2 are all VRRP MASTER for outside',
    ]);
  });

  it('a node its agent reports in FAULT is a problem', () => {
    const verdict = judgePair(
      [agentNode('ha1', 'MASTER', primaryDb()), agentNode('ha2', 'FAULT', replicaDb())],
      vips,
      30,
    );
    expect(verdict.problems).toEqual([
      'ha2 is in FAULT for inside: it cannot take over',
      'ha2 is in FAULT for outside: it cannot take over',
    ]);
  });
});
