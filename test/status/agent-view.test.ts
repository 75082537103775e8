// Agent mode in hactl status: what the node's agent told keepalived (its track files) decides
// "agent down" and "check failing", in the verdict, the table and the Prometheus text.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  agentTrackFile,
  checkTrackFile,
  failbackTrackFile,
  unpromotableTrackFile,
} from '../../src/agent/contract.js';
import { loadSpec } from '../../src/spec/load.js';
import { readAgentView } from '../../src/status/agent-view.js';
import { formatPrometheus, formatTable } from '../../src/status/format.js';
import type { AgentStatus, PairStatus } from '../../src/status/types.js';
import { judgePair } from '../../src/status/verdict.js';
import { parseExposition } from './exposition.js';
import { node, primaryDb, replicaDb, vip } from './support.js';

const both = [vip('inside', ['ha1'], 'local'), vip('outside', ['ha1'], 'local')];
const alive: AgentStatus = {
  alive: true,
  detail: 'the agent says it is alive',
  checks: [{ name: 'web', track_value: 0, ok: true }],
  failback_gate: 0,
};

describe('the agent in the pair verdict', () => {
  it('an agent that says it is alive with passing checks keeps the pair healthy', () => {
    const nodes = [node('ha1', primaryDb(), { agent: alive }), node('ha2', replicaDb())];
    expect(judgePair(nodes, both, 30)).toMatchObject({ verdict: 'healthy', problems: [] });
  });

  it('an agent that is down, or a check keepalived reads as failing, degrades the pair', () => {
    const down = { ...alive, alive: false, detail: 'the agent is down or frozen' };
    expect(
      judgePair([node('ha1', primaryDb(), { agent: down }), node('ha2', replicaDb())], both, 30).problems,
    ).toEqual(["ha1's agent: the agent is down or frozen"]);
    const failing = { ...alive, checks: [{ name: 'web', track_value: 1, ok: false }] };
    expect(
      judgePair([node('ha1', primaryDb(), { agent: failing }), node('ha2', replicaDb())], both, 30).problems,
    ).toEqual(['ha1: check web is failing (track value 1)']);
  });

  it('a raised unpromotable gate degrades the pair and says how it ends', () => {
    const held = { ...alive, unpromotable: true as const };
    expect(
      judgePair([node('ha1', primaryDb()), node('ha2', replicaDb(), { agent: held })], both, 30).problems,
    ).toEqual([
      "ha2: a rebuild stopped half-way here, so its unpromotable gate keeps keepalived in FAULT: finish it with hactl rebuild (under strict semi-sync the agent's rejoin resumes it)",
    ]);
  });
});

describe('the agent in the table and the Prometheus text', () => {
  const report = (agent: AgentStatus): PairStatus => ({
    format: 1,
    cluster: 'lab',
    observed_from: 'ha1',
    at: '2026-11-29T10:00:00.000Z',
    verdict: 'degraded',
    problems: [],
    notes: [],
    max_lag_seconds: 30,
    duration_ms: 12,
    vips: both,
    nodes: [node('ha1', primaryDb(), { agent }), node('ha2', replicaDb())],
  });

  it('says alive or DOWN, each check and the gate', () => {
    expect(formatTable(report(alive))).toContain('agent: alive; checks: web ok; failback gate open');
    const down = {
      ...alive,
      alive: false,
      checks: [{ name: 'web', track_value: 1, ok: false }],
      failback_gate: 31,
    };
    expect(formatTable(report(down))).toContain('agent: DOWN; checks: web FAILING; failback gate shut (-31)');
  });

  it('says when the unpromotable gate is raised', () => {
    expect(formatTable(report({ ...alive, unpromotable: true }))).toContain(
      'failback gate open; unpromotable gate RAISED (rebuild unfinished: FAULT)',
    );
  });

  it('hactl_agent_up, hactl_check_status and hactl_failback_gate_points parse and carry the values', () => {
    const down = {
      ...alive,
      alive: false,
      checks: [{ name: 'web', track_value: 1, ok: false }],
      failback_gate: 31,
    };
    const samples = parseExposition(formatPrometheus(report(down)));
    const value = (name: string) => samples.filter((s) => s.name === name).map((s) => [s.labels, s.value]);
    expect(value('hactl_agent_up')).toEqual([[{ scope: 'lab', name: 'ha1' }, 0]]);
    expect(value('hactl_check_status')).toEqual([[{ scope: 'lab', name: 'ha1', check: 'web' }, 0]]);
    expect(value('hactl_failback_gate_points')).toEqual([[{ scope: 'lab', name: 'ha1' }, 31]]);
  });
});

describe('readAgentView', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('reads the files keepalived reads: alive, each check OK by its weight, the gate; nothing in script mode', async () => {
    const loaded = loadSpec('test/render/specs/agent-after-catch-up.yaml');
    const runtimeDir = await mkdtemp(join(tmpdir(), `hactl-status-agent-${process.pid}-`));
    dirs.push(runtimeDir);
    const spec = { ...loaded.spec, paths: { ...loaded.spec.paths, runtime_dir: runtimeDir } };
    const a = spec.nodes.find((n) => n.name === 'a')!;
    const signal = AbortSignal.timeout(5_000);
    expect(await readAgentView(spec, a, signal)).toMatchObject({ alive: null, failback_gate: null });

    const write = async (path: string, text: string) => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
    };
    await write(agentTrackFile(runtimeDir, 'a'), '0\n');
    await write(failbackTrackFile(runtimeDir, 'a'), '31\n');
    await write(checkTrackFile(runtimeDir, 'a', 'web'), '1\n'); // weight 0: 1 is KO
    await write(checkTrackFile(runtimeDir, 'a', 'warm'), '1\n'); // weight 60: 1 is OK
    const view = await readAgentView(spec, a, signal);
    expect(view).toMatchObject({ alive: true, failback_gate: 31 });
    expect(view!.checks).toEqual([
      { name: 'web', track_value: 1, ok: false },
      { name: 'warm', track_value: 1, ok: true },
    ]);
    expect(view).not.toHaveProperty('unpromotable');
    await write(unpromotableTrackFile(runtimeDir, 'a'), '1\n');
    expect(await readAgentView(spec, a, signal)).toMatchObject({ unpromotable: true });
    await write(agentTrackFile(runtimeDir, 'a'), '1\n');
    expect(await readAgentView(spec, a, signal)).toMatchObject({ alive: false });

    const scripts = { ...spec, agent: { ...spec.agent, enabled: false } };
    expect(await readAgentView(scripts, a, signal)).toBeNull();
  });
});
