/**
 * The agent's witness monitor (src/fence/witness-monitor.ts) with its probes and the local
 * demotion replaced: fencing.probe_interval paces the rounds, fencing.isolation_timeout says how
 * long both the witness (fencing.witness on fencing.witness_port) and the peer must be silent
 * before the node demotes itself (read-only, and the isolation track file to 1: keepalived FAULT).
 * And the TCP probe itself on loopback: an accepted and a refused connection both mean reachable.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeTcp, type ProbeResult } from '../../src/fence/probe.js';
import { startWitnessMonitor, type WitnessMonitor } from '../../src/fence/witness-monitor.js';
import type { ContestAnswer, HeldVip } from '../../src/fence/vip-contest.js';
import { waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';

const spec = parseSpecText(
  baseSpecYaml(`mysql: { credentials_file: /etc/hactl/mysql.cnf }
actions:
  master: [{ type: mysql.promote }]
  backup: [{ type: mysql.demote }]
agent: { enabled: true }
paths: { runtime_dir: /nonexistent/hactl-witness-test }
fencing:
  unreachable: wait-for-witness
  witness: [192.0.2.1]
  witness_port: 53
  connect_timeout: 0.1
  probe_interval: 0.1
  isolation_timeout: 0.6
`),
  'witness.yaml',
);

interface World {
  witness: boolean;
  peer: boolean;
  probed: string[];
  track: number[];
  demotedAt: number[];
  /** Addresses on this node's interfaces. */
  addresses?: Set<string>;
  /** The MAC another host answers ARP with for a VIP, if any. */
  claimedBy?: string;
  arped?: string[];
  /** The peer addresses whose binlog dumps the monitor ended, one entry per call. */
  dumpsEnded?: string[][];
}

function fakes(world: World) {
  return {
    probe: (targets: readonly { host: string; port: number }[]) =>
      Promise.resolve(
        targets.map((t): ProbeResult => {
          world.probed.push(`${t.host}:${t.port}`);
          const reachable = t.host === '192.0.2.1' ? world.witness : world.peer;
          return { host: t.host, port: t.port, reachable, answer: reachable ? 'refused' : 'timeout', ms: 1 };
        }),
      ),
    demoteLocal: () => {
      world.demotedAt.push(Date.now());
      return Promise.resolve('read-only, 0 client session(s) ended');
    },
    writeTrack: (_file: string, value: number) => {
      world.track.push(value);
      return Promise.resolve();
    },
    addresses: () => world.addresses ?? new Set<string>(),
    arpProbe: (vip: HeldVip): Promise<ContestAnswer> => {
      (world.arped ??= []).push(`${vip.address}@${vip.iface}`);
      return Promise.resolve(
        world.claimedBy ? { vip, answer: 'claimed', by: world.claimedBy } : { vip, answer: 'free' },
      );
    },
    findArping: () => Promise.resolve('/usr/bin/arping'),
    endPeerDumps: (_spec: unknown, addresses: readonly string[]) => {
      (world.dumpsEnded ??= []).push([...addresses]);
      return Promise.resolve([]);
    },
  };
}

let monitor: WitnessMonitor | undefined;
afterEach(async () => {
  await monitor?.stop();
  monitor = undefined;
});

const log = createLogger({ level: 'silent' });

describe('witness monitor', () => {
  it('probes the witness on its port and the peer on the MySQL port; all answering: hold 0', async () => {
    const world: World = { witness: true, peer: true, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    await waitFor('a first track value', () => world.track.length > 0, { timeoutMs: 5_000, everyMs: 20 });
    expect(world.probed).toContain('192.0.2.1:53');
    expect(world.probed).toContain('192.0.2.12:3306');
    expect(world.track).toEqual([0]);
    expect(monitor.isolated()).toBe(false);
  });

  it('both silent: demotes itself after isolation_timeout (and not before), FAULT; an answer lifts the hold', async () => {
    const world: World = { witness: true, peer: true, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    await waitFor('a first round', () => world.track.length > 0, { timeoutMs: 5_000, everyMs: 20 });
    const cut = Date.now();
    world.witness = false;
    world.peer = false;
    await waitFor('self-demotion', () => world.demotedAt.length > 0, { timeoutMs: 5_000, everyMs: 10 });
    const took = world.demotedAt[0]! - cut;
    // isolation_timeout 0.6 s, plus at most one round of 0.1 s, plus slack for a loaded machine.
    expect(took).toBeGreaterThanOrEqual(600 - 110);
    expect(took).toBeLessThan(600 + 100 + 1_000);
    expect(world.track.at(-1)).toBe(1);
    expect(monitor.isolated()).toBe(true);
    world.peer = true;
    await waitFor('the hold lifted', () => world.track.at(-1) === 0, { timeoutMs: 5_000, everyMs: 10 });
    expect(monitor.isolated()).toBe(false);
    expect(world.demotedAt).toHaveLength(1);
  });

  it('the peer alone silent (node loss seen from the survivor) never demotes', async () => {
    const world: World = { witness: true, peer: false, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    // An observation window three times the isolation timeout: the claim is that nothing happens.
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    expect(world.probed.filter((p) => p === '192.0.2.12:3306').length).toBeGreaterThan(5);
    expect(world.demotedAt).toEqual([]);
    expect(world.track).toEqual([0]);
  });

  it('a path to the peer silent for two rounds: its binlog dumps here are ended, once per silence', async () => {
    const world: World = { witness: true, peer: true, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    await waitFor('a first round', () => monitor!.peerSilence() !== undefined, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    world.peer = false;
    await waitFor('the dumps ended', () => (world.dumpsEnded ?? []).length > 0, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    expect(world.dumpsEnded![0]).toContain('192.0.2.12');
    await waitFor('five silent rounds', () => (monitor!.peerSilence()?.failedRounds ?? 0) >= 5, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    expect(world.dumpsEnded).toHaveLength(1);
    world.peer = true;
    await waitFor('the peer heard again', () => monitor!.peerSilence()?.failedRounds === 0, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    world.peer = false;
    await waitFor('a second silence ends them again', () => (world.dumpsEnded ?? []).length === 2, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
  });

  it("keeps an account of the peer's silence for the promotion's fence: rounds in a row, and how fresh", async () => {
    const world: World = { witness: true, peer: true, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    await waitFor('a first round', () => monitor!.peerSilence() !== undefined, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    expect(monitor.peerSilence()!.failedRounds).toBe(0);
    world.peer = false;
    await waitFor('three silent rounds', () => (monitor!.peerSilence()?.failedRounds ?? 0) >= 3, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    // probe_interval 0.1 s: the last round ended within a few rounds of now, even on a loaded machine.
    expect(monitor.peerSilence()!.lastRoundAgoMs).toBeLessThan(1_000);
    world.peer = true;
    await waitFor('the peer heard again', () => monitor!.peerSilence()?.failedRounds === 0, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
  });
});

/** A monitor on a node that holds the VIP, after its first round with everything answering. */
async function holdingTheVipAndServing(): Promise<World & { monitor: WitnessMonitor }> {
  const world: World = {
    witness: true,
    peer: true,
    probed: [],
    track: [],
    demotedAt: [],
    addresses: new Set(['192.0.2.11', '192.0.2.50']),
  };
  const started = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
  monitor = started;
  await waitFor('a first round', () => world.track.length > 0, { timeoutMs: 5_000, everyMs: 20 });
  return Object.assign(world, { monitor: started });
}

describe('witness monitor: a VIP contested while the peer is silent', () => {
  it('held before the cut, claimed by another host after it: yields (read-only, FAULT) until the peer answers', async () => {
    const world = await holdingTheVipAndServing();
    const { monitor } = world;
    // The peer answers: nobody asks ARP, whoever else claims the VIP (that is fencing's business).
    world.claimedBy = '02:aa:bb:cc:dd:ee';
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(world.arped ?? []).toEqual([]);
    world.claimedBy = undefined;
    world.peer = false;
    await waitFor('ARP asked while the peer is silent', () => (world.arped ?? []).length > 0, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    expect(world.arped![0]).toBe('192.0.2.50@eth1');
    expect(world.demotedAt).toEqual([]);
    world.claimedBy = '02:aa:bb:cc:dd:ee';
    await waitFor('the yield', () => world.demotedAt.length > 0, { timeoutMs: 5_000, everyMs: 10 });
    expect(world.track.at(-1)).toBe(1);
    expect(monitor.yielded()).toBe(true);
    // The witness still answers: this is not isolation, and only the peer's answer lifts the hold.
    expect(monitor.isolated()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(world.track.at(-1)).toBe(1);
    world.peer = true;
    await waitFor('the hold lifted', () => world.track.at(-1) === 0, { timeoutMs: 5_000, everyMs: 10 });
    expect(monitor.yielded()).toBe(false);
    expect(world.demotedAt).toHaveLength(1);
  });

  it('VIPs taken after the peer went silent (the standby during the cut) are never asked about', async () => {
    const world: World = { witness: true, peer: true, probed: [], track: [], demotedAt: [] };
    monitor = await startWitnessMonitor({ spec, node: spec.nodes[0]!, log }, fakes(world));
    await waitFor('a first round', () => world.track.length > 0, { timeoutMs: 5_000, everyMs: 20 });
    world.peer = false;
    world.claimedBy = '02:aa:bb:cc:dd:ee';
    // Long enough for the peer to count as silent (two rounds of 0.1 s), then keepalived moves the VIP here.
    await new Promise((resolve) => setTimeout(resolve, 400));
    world.addresses = new Set(['192.0.2.11', '192.0.2.50']);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(world.arped ?? []).toEqual([]);
    expect(world.demotedAt).toEqual([]);
    expect(world.track).toEqual([0]);
    expect(monitor.yielded()).toBe(false);
  });

  it('no other host answers (node loss of the standby): keeps serving', async () => {
    const world = await holdingTheVipAndServing();
    world.peer = false;
    await waitFor('three ARP questions', () => (world.arped ?? []).length >= 3, {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    expect(world.demotedAt).toEqual([]);
    expect(world.track).toEqual([0]);
  });
});

describe('probeTcp on loopback', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('an accepted connection and a refused one are both "reachable"', async () => {
    server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const open = await probeTcp('127.0.0.1', port, 2_000);
    expect(open).toMatchObject({ reachable: true, answer: 'connected' });
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const closed = await probeTcp('127.0.0.1', port, 2_000);
    expect(closed).toMatchObject({ reachable: true, answer: 'refused' });
  });

  it('an aborted probe is not an answer', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborted = await probeTcp('127.0.0.1', 9, 2_000, controller.signal);
    expect(aborted).toMatchObject({ reachable: false, answer: 'aborted' });
  });
});
