/**
 * The agent's witness monitor (spec fencing.witness): every probe_interval it probes each witness
 * and the peer (its address on every fencing network, MySQL port) by TCP connect, all at once and
 * bounded by connect_timeout. A node that hears from neither for isolation_timeout
 * (src/fence/isolation.ts) demotes itself: the isolation track file goes to 1 (keepalived: FAULT,
 * the VIPs go), and the local database becomes read-only with its client sessions ended — right
 * here, not only through the FAULT actions, so a spec whose fault list lacks mysql.demote is
 * covered too. Once the witness or the peer answers again the hold is lifted: keepalived returns
 * the node to BACKUP, and the VIPs come back only as the failback policy allows (after-catch-up:
 * once its database has caught up with the peer that kept serving, src/agent/failback.ts).
 *
 * Bound, from the last answer to read-only: isolation_timeout, plus at most one round
 * (probe_interval or connect_timeout, whichever is longer), plus the local demotion.
 *
 * The same hold covers a contested VIP (src/fence/vip-contest.ts): while the peer is silent, a
 * second rhythm asks by ARP whether another host answers for the VIPs this node held first; if
 * one does, the peer took them after losing this node, and this node yields until it hears the
 * peer again. Its own rhythm, because a free address costs the ARP question's whole window
 * (src/fence/arp-probe.ts) and must not slow the isolation rounds.
 *
 * A path to the peer that goes silent for SILENT_ROUNDS rounds also ends the local server's binlog
 * dumps to the peer's address on it. The cut left them waiting on a socket the peer has forgotten,
 * and when the peer's IO thread comes back with the same server_id, a strict semi-sync source
 * with commits waiting wedges as the new dump thread ends the stale one (src/mysql/stale-dumps.ts).
 * Ended from here, while commits wait, they go in milliseconds; a peer that was only briefly
 * silent reconnects within its MASTER_CONNECT_RETRY.
 */
import { localTarget } from '../actions/mysql-common.js';
import { ensureTrackDir, writeTrackValue } from '../agent/checks/track-write.js';
import type { AgentLog } from '../agent/checks/index.js';
import { isolationTrackFile } from '../agent/contract.js';
import { fencingGuard, SILENT_ROUNDS } from '../cluster/fencing-rule.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { judgeIsolation, type TargetHistory } from './isolation.js';
import { probeAll, type ProbeResult } from './probe.js';
import { peerProber } from './peer-probe.js';
import { findArping, probeVipClaim, type ArpProbe } from './arp-probe.js';
import { judgeContest, vipsToProbe, type HeldVip } from './vip-contest.js';
import { localAddresses } from '../cluster/vips.js';
import type { PeerSilence } from '../cluster/observation.js';
import type { DumpThread } from '../mysql/stale-dumps.js';
import type { MysqlSession } from '../mysql/connection.js';
import { repeatEvery } from '../bounded/repeat.js';

export interface WitnessMonitor {
  stop(): Promise<void>;
  isolated(): boolean;
  /** What the rounds heard from the peer; undefined before the first round (or without a witness). */
  peerSilence(): PeerSilence | undefined;
  /** Yielding to a peer that took the VIPs while it could not reach this node. */
  yielded(): boolean;
}

export interface WitnessMonitorSeams {
  probe?: typeof probeAll;
  /** Makes the local database read-only and ends its client sessions; returns a one-line detail. */
  demoteLocal?: (spec: Spec, signal: AbortSignal) => Promise<string>;
  /** Ends the local server's binlog dumps for these peer addresses; returns what it ended. */
  endPeerDumps?: (spec: Spec, addresses: readonly string[], signal: AbortSignal) => Promise<DumpThread[]>;
  writeTrack?: (file: string, value: number) => Promise<void>;
  /** Asks whether another host answers ARP for a VIP (default: arping -D). */
  arpProbe?: ArpProbe;
  /** The addresses on this node's interfaces (default: os.networkInterfaces, no process spawned). */
  addresses?: () => ReadonlySet<string>;
  /** Where the ARP prober is (default: arping on PATH). */
  findArping?: () => Promise<string | undefined>;
}

const LOCAL_BUDGET_MS = 5_000;
/** A login after the probe's connect: a greeting, an auth round trip and COM_QUIT on a LAN. */
const LOGIN_BUDGET_FLOOR_MS = 1_000;

/**
 * The loop's own FAULT demotion may run at the same moment and end this session along with every
 * other client session (and this one may end the loop's): the demotion is idempotent, so one more
 * attempt within the same budget settles it, and its answer is what the server says afterwards.
 */
async function demoteLocalDatabase(spec: Spec, signal: AbortSignal): Promise<string> {
  try {
    return await demoteLocalOnce(spec, signal);
  } catch (error) {
    if (signal.aborted) throw error;
    const again = await demoteLocalOnce(spec, signal);
    return `${again} (second attempt; the first ended with: ${messageOf(error)})`;
  }
}

/** A session to the local database, bounded for the monitor's side work. */
async function openLocal(mysql: NonNullable<Spec['mysql']>, signal: AbortSignal): Promise<MysqlSession> {
  const { connect } = await import('../mysql/connection.js');
  return connect(localTarget(mysql), { timeoutMs: 2_000, queryTimeoutMs: 3_000, signal });
}

async function demoteLocalOnce(spec: Spec, signal: AbortSignal): Promise<string> {
  const mysql = spec.mysql;
  if (!mysql) return 'no mysql section: nothing to make read-only';
  const [{ detectFlavour }, { readReadOnly }, { endClientSessions }, blockers] = await Promise.all([
    import('../mysql/flavour.js'),
    import('../mysql/server-state.js'),
    import('../mysql/client-sessions.js'),
    import('../mysql/read-only-blockers.js'),
  ]);
  const open = () => openLocal(mysql, signal);
  const session = await open();
  try {
    const flavour = await detectFlavour(session);
    // Isolated under semi-sync, no ACK comes: read_only would wait for the commits awaiting one;
    // a long statement or a table lock would hold it as long.
    let ended = '';
    let problem: string | undefined;
    const report = await blockers
      .setReadOnlyEndingBlockers(session, flavour, {
        openSecond: open,
        timeoutMs: 3_000,
        ackWaits: blockers.commitsMayWaitForAck(mysql.semi_sync),
        onProblem: (why) => (problem = why),
      })
      .catch((error: unknown) => {
        if (problem === undefined) throw error;
        throw new Error(`${messageOf(error)} (${problem})`, { cause: error });
      });
    if (report.ended.length > 0)
      ended = `, ${report.ended.length} commit(s) held by a semi-sync ACK ended while read_only was pending`;
    if (report.endedBlockers.length > 0)
      ended += `, ${report.endedBlockers.length} session(s) ended that read_only was still waiting for`;
    const killed = await endClientSessions(session, { waitMs: 1_000 });
    const now = await readReadOnly(session, flavour);
    if (!now.readOnly) throw new Error('read_only is still OFF after SET GLOBAL read_only=ON');
    return `read-only, ${killed.length} client session(s) ended${ended}`;
  } finally {
    await session.close();
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function endPeerDumpsHere(
  spec: Spec,
  addresses: readonly string[],
  signal: AbortSignal,
): Promise<DumpThread[]> {
  const mysql = spec.mysql;
  if (!mysql) return [];
  const { endDumps } = await import('../mysql/stale-dumps.js');
  const session = await openLocal(mysql, signal);
  try {
    return (await endDumps(session, addresses, { waitMs: 1_000 })).ended;
  } finally {
    await session.close();
  }
}

export async function startWitnessMonitor(
  context: { spec: Spec; node: NodeSpec; log: AgentLog },
  seams: WitnessMonitorSeams = {},
): Promise<WitnessMonitor> {
  const { spec, node, log } = context;
  const fencing = spec.fencing;
  if (!fencing || fencing.witness.length === 0 || !spec.agent.enabled) {
    return {
      stop: () => Promise.resolve(),
      isolated: () => false,
      yielded: () => false,
      peerSilence: () => undefined,
    };
  }
  const probe = seams.probe ?? probeAll;
  const controller = new AbortController();
  const timeoutMs = Math.round(fencing.connect_timeout * 1000);
  // The peer is probed on its MySQL port, and a probe that logs in leaves nothing in its error log.
  const peerProbes = seams.probe
    ? { probe: seams.probe, settle: () => Promise.resolve() }
    : await peerProber({
        credentialsFile: spec.mysql?.credentials_file,
        log,
        loginBudgetMs: Math.max(timeoutMs, LOGIN_BUDGET_FLOOR_MS),
        signal: controller.signal,
      });
  const demoteLocal = seams.demoteLocal ?? demoteLocalDatabase;
  const endPeerDumps = seams.endPeerDumps ?? endPeerDumpsHere;
  const writeTrack = seams.writeTrack ?? writeTrackValue;
  const arpProbe = seams.arpProbe ?? probeVipClaim;
  const addresses = seams.addresses ?? localAddresses;
  const file = isolationTrackFile(spec.paths.runtime_dir, node.name);
  if (!seams.writeTrack) await ensureTrackDir(file);
  const guard = fencingGuard(spec, node.name)!;
  const witness = guard.witness;
  const peer = guard.paths.map((p) => ({ host: p.host, port: p.port }));
  // The same VIPs on this node's interfaces that a promotion here asks about (fencingGuard).
  const vips = guard.vips;
  const everyMs = Math.round(fencing.probe_interval * 1000);
  const isolationMs = Math.round(fencing.isolation_timeout * 1000);
  const startedAt = Date.now();
  const history: Record<'witness' | 'peer', TargetHistory> = {
    witness: { lastAnswerAt: undefined, failedRounds: 0 },
    peer: { lastAnswerAt: undefined, failedRounds: 0 },
  };
  /** The VIPs this node holds, with when it was first seen holding each. */
  const held = new Map<string, HeldVip>();
  let written: number | undefined;
  /** Silent rounds in a row per path to the peer (its address there). */
  const pathSilence = new Map<string, number>();
  /** The ends of peer dumps, one after the other; stop() waits for them. */
  let dumpChain: Promise<void> = Promise.resolve();
  /** When the last round ended (monotonic), for how fresh its account of the peer is. */
  let lastRoundAt: number | undefined;
  let isolated = false;
  let isolatedAt = 0;
  let yielded = false;
  let yieldedAt = 0;
  let demoted = false;
  let stopped = false;
  const unknownLogged = new Set<string>();
  const holding = () => isolated || yielded;
  const heardAnything = () =>
    history.witness.lastAnswerAt !== undefined || history.peer.lastAnswerAt !== undefined;

  const note = (kind: 'witness' | 'peer', answers: ProbeResult[], now: number) => {
    if (answers.some((a) => a.reachable)) {
      history[kind] = { lastAnswerAt: now, failedRounds: 0 };
    } else {
      history[kind] = { ...history[kind], failedRounds: history[kind].failedRounds + 1 };
    }
  };

  // Both rhythms write the track file; one chain writes what the state says at the moment it writes.
  let trackChain: Promise<void> = Promise.resolve();
  const syncTrack = (): Promise<void> => {
    const next = trackChain.then(async () => {
      // A fresh agent never lifts a hold on no evidence: 0 only once the node has heard something.
      const value = holding() ? 1 : heardAnything() ? 0 : undefined;
      if (value === undefined || written === value) return;
      await writeTrack(file, value);
      written = value;
    });
    trackChain = next.catch(() => undefined);
    return next;
  };

  /** Starts a hold (isolation or a yield); the local demotion runs once per hold. */
  const beginHold = () => {
    if (!holding()) demoted = false;
  };

  let enforcing: Promise<void> | undefined;
  const enforceHold = (cause: 'isolation' | 'vip contest'): Promise<void> =>
    (enforcing ??= (async () => {
      // The database first, keepalived after: a peer waiting for the VIPs to go free
      // (src/fence/before-promote.ts) must find this side read-only once they are.
      const [local] = await Promise.allSettled([
        demoted ? Promise.resolve('already done') : demoteLocal(spec, AbortSignal.timeout(LOCAL_BUDGET_MS)),
      ]);
      const [track] = await Promise.allSettled([syncTrack()]);
      if (demoted) return;
      const last =
        cause === 'vip contest'
          ? (history.peer.lastAnswerAt ?? startedAt)
          : Math.max(history.witness.lastAnswerAt ?? startedAt, history.peer.lastAnswerAt ?? startedAt);
      if (local.status === 'fulfilled') demoted = true;
      log[local.status === 'fulfilled' && track.status === 'fulfilled' ? 'warn' : 'error']({
        event: 'fence.self_demoted',
        cause,
        database: local.status === 'fulfilled' ? local.value : `FAILED: ${messageOf(local.reason)}`,
        keepalived:
          track.status === 'fulfilled'
            ? 'FAULT (isolation track file 1)'
            : `FAILED: ${messageOf(track.reason)}`,
        since_last_answer_ms: Date.now() - last,
      });
    })().finally(() => {
      enforcing = undefined;
    }));

  const round = async (): Promise<void> => {
    const [w, p] = await Promise.all([
      probe(witness, timeoutMs, controller.signal),
      peerProbes.probe(peer, timeoutMs, controller.signal),
    ]);
    if (stopped) return;
    const now = Date.now();
    note('witness', w, now);
    note('peer', p, now);
    lastRoundAt = performance.now();
    const newlySilent: string[] = [];
    for (const answer of p) {
      const rounds = answer.reachable ? 0 : (pathSilence.get(answer.host) ?? 0) + 1;
      pathSilence.set(answer.host, rounds);
      if (rounds === SILENT_ROUNDS) newlySilent.push(answer.host);
    }
    if (newlySilent.length > 0) dumpChain = dumpChain.then(() => endDumpsOf(newlySilent));
    const judgement = judgeIsolation({
      witness: history.witness,
      peer: history.peer,
      startedAt,
      now,
      timeoutMs: isolationMs,
    });
    const answers = [...w, ...p].map((a) => `${a.host}:${a.port} ${a.answer}`);
    if (judgement.isolated) {
      if (!isolated) {
        beginHold();
        isolated = true;
        isolatedAt = now;
        log.error({
          event: 'fence.isolated',
          reason: `${judgement.reason}: this node may be the one cut off; it demotes itself (read-only, sessions ended, keepalived FAULT) and keeps probing`,
          answers,
        });
      }
      await enforceHold('isolation');
      return;
    }
    if (isolated) {
      isolated = false;
      log.warn({
        event: 'fence.isolation_over',
        reason: `${judgement.reason}: the isolation hold is lifted after ${now - isolatedAt} ms${yielded ? ' (the VIP-contest hold stays until the peer answers)' : `; this node returns as BACKUP and takes the VIPs back only as failback (${spec.failback}) allows`}`,
        answers,
      });
    }
    if (yielded && history.peer.failedRounds === 0 && (history.peer.lastAnswerAt ?? 0) > yieldedAt) {
      yielded = false;
      log.warn({
        event: 'fence.contest_over',
        reason: `the peer answers again: the hold is lifted after ${now - yieldedAt} ms; this node returns as BACKUP and takes the VIPs back only as failback (${spec.failback}) allows`,
        answers,
      });
    }
    if (holding()) await enforceHold(isolated ? 'isolation' : 'vip contest');
    else await syncTrack();
  };

  /** Beside the rounds, never delaying them; bounded by its connect and query timeouts. */
  const endDumpsOf = (addresses: string[]): Promise<void> =>
    endPeerDumps(spec, addresses, controller.signal)
      .then((ended) => {
        if (ended.length > 0)
          log.warn({
            event: 'fence.peer_dumps_ended',
            peer_addresses: addresses,
            threads: ended,
            reason:
              'the path to the peer went silent: its binlog dumps here wait on a dead socket, and its return with the same server_id would wedge a semi-sync source with commits waiting',
          });
      })
      .catch((error: unknown) => {
        if (!stopped)
          log.warn({
            event: 'fence.peer_dumps_ended',
            peer_addresses: addresses,
            result: 'failed',
            reason: messageOf(error),
          });
      });

  const contestRound = async (): Promise<void> => {
    const now = Date.now();
    const present = addresses();
    for (const vip of vips) {
      if (!present.has(vip.address)) held.delete(vip.address);
      else if (!held.has(vip.address)) held.set(vip.address, { ...vip, since: now });
    }
    if (yielded) return;
    const ask = vipsToProbe(history.peer, [...held.values()]);
    if (ask.length === 0) return;
    const answers = await Promise.all(ask.map((vip) => arpProbe(vip, controller.signal)));
    if (stopped) return;
    for (const answer of answers) {
      if (answer.answer !== 'unknown' || unknownLogged.has(answer.detail)) continue;
      unknownLogged.add(answer.detail);
      log.error({
        event: 'fence.vip_contest',
        reason: `cannot tell whether another host claims ${answer.vip.address}: ${answer.detail}; a cut between the nodes only goes unnoticed here`,
      });
    }
    const judgement = judgeContest(history.peer, answers);
    if (!judgement.yields || yielded) return;
    beginHold();
    yielded = true;
    yieldedAt = Date.now();
    log.error({
      event: 'fence.vip_contested',
      reason: `${judgement.reason} (read-only, sessions ended, keepalived FAULT) until it hears the peer again`,
    });
    await enforceHold('vip contest');
  };

  const arping = await (seams.findArping ?? findArping)();
  if (!arping && vips.length > 0)
    log.error({
      event: 'fence.vip_contest',
      reason:
        'arping is not on PATH (Debian: iputils-arping): this node cannot tell when its peer takes the VIPs during a cut between the nodes only, and would keep serving beside it',
    });
  log.info({
    event: 'fence.witness_monitor',
    witness: witness.map((w) => `${w.host}:${w.port}`),
    peer: peer.map((p) => `${p.host}:${p.port}`),
    vips_asked_about_while_the_peer_is_silent: vips.map((v) => `${v.address} on ${v.iface}`),
    arping: arping ?? 'not found',
    every_ms: everyMs,
    connect_timeout_ms: timeoutMs,
    isolation_timeout_ms: isolationMs,
    bound_ms_before_demotion: isolationMs + Math.max(everyMs, timeoutMs),
  });
  const onError = (error: unknown) => log.error({ event: 'fence.witness_monitor', reason: messageOf(error) });
  const rounds = repeatEvery(round, { everyMs, from: 'start', onError });
  const contests = repeatEvery(contestRound, { everyMs, from: 'start', onError });
  return {
    async stop() {
      stopped = true;
      // No new round is scheduled from here; the ones in flight are cut short, then awaited.
      const stopping = Promise.all([rounds.stop(), contests.stop()]);
      controller.abort();
      await stopping;
      await enforcing;
      await dumpChain;
      await peerProbes.settle();
    },
    isolated: () => isolated,
    peerSilence: () =>
      lastRoundAt === undefined
        ? undefined
        : {
            failedRounds: history.peer.failedRounds,
            lastRoundAgoMs: Math.round(performance.now() - lastRoundAt),
          },
    yielded: () => yielded,
  };
}
