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
 */
import { localTarget } from '../actions/mysql-common.js';
import { ensureTrackDir, writeTrackValue } from '../agent/checks/track-write.js';
import type { AgentLog } from '../agent/checks/index.js';
import { isolationTrackFile } from '../agent/contract.js';
import { fencingGuard } from '../cluster/fencing-rule.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { judgeIsolation, type TargetHistory } from './isolation.js';
import { probeAll, type ProbeResult } from './probe.js';
import { repeatEvery } from '../bounded/repeat.js';

export interface WitnessMonitor {
  stop(): Promise<void>;
  isolated(): boolean;
}

export interface WitnessMonitorSeams {
  probe?: typeof probeAll;
  /** Makes the local database read-only and ends its client sessions; returns a one-line detail. */
  demoteLocal?: (spec: Spec, signal: AbortSignal) => Promise<string>;
  writeTrack?: (file: string, value: number) => Promise<void>;
}

const LOCAL_BUDGET_MS = 5_000;

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

async function demoteLocalOnce(spec: Spec, signal: AbortSignal): Promise<string> {
  const mysql = spec.mysql;
  if (!mysql) return 'no mysql section: nothing to make read-only';
  const [{ connect }, { detectFlavour }, { setReadOnly, readReadOnly }, { endClientSessions }, ackWaits] =
    await Promise.all([
      import('../mysql/connection.js'),
      import('../mysql/flavour.js'),
      import('../mysql/server-state.js'),
      import('../mysql/client-sessions.js'),
      import('../mysql/ack-waits.js'),
    ]);
  const open = () => connect(localTarget(mysql), { timeoutMs: 2_000, queryTimeoutMs: 3_000, signal });
  const session = await open();
  try {
    const flavour = await detectFlavour(session);
    // Isolated under semi-sync, no ACK comes: read_only would wait for the commits awaiting one.
    let ended = '';
    if (ackWaits.commitsMayWaitForAck(mysql.semi_sync)) {
      const report = await ackWaits.setReadOnlyEndingAckWaits(session, flavour, {
        openSecond: open,
        timeoutMs: 3_000,
      });
      if (report.ended.length > 0)
        ended = `, ${report.ended.length} commit(s) held by a semi-sync ACK ended while read_only was pending`;
    } else await setReadOnly(session, flavour, true);
    const killed = await endClientSessions(session, { waitMs: 1_000 });
    const now = await readReadOnly(session, flavour);
    if (!now.readOnly) throw new Error('read_only is still OFF after SET GLOBAL read_only=ON');
    return `read-only, ${killed.length} client session(s) ended${ended}`;
  } finally {
    await session.close();
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function startWitnessMonitor(
  context: { spec: Spec; node: NodeSpec; log: AgentLog },
  seams: WitnessMonitorSeams = {},
): Promise<WitnessMonitor> {
  const { spec, node, log } = context;
  const fencing = spec.fencing;
  if (!fencing || fencing.witness.length === 0 || !spec.agent.enabled) {
    return { stop: () => Promise.resolve(), isolated: () => false };
  }
  const probe = seams.probe ?? probeAll;
  const demoteLocal = seams.demoteLocal ?? demoteLocalDatabase;
  const writeTrack = seams.writeTrack ?? writeTrackValue;
  const file = isolationTrackFile(spec.paths.runtime_dir, node.name);
  if (!seams.writeTrack) await ensureTrackDir(file);
  const guard = fencingGuard(spec, node.name)!;
  const witness = guard.witness;
  const peer = guard.paths.map((p) => ({ host: p.host, port: p.port }));
  const timeoutMs = Math.round(fencing.connect_timeout * 1000);
  const everyMs = Math.round(fencing.probe_interval * 1000);
  const isolationMs = Math.round(fencing.isolation_timeout * 1000);
  const startedAt = Date.now();
  const history: Record<'witness' | 'peer', TargetHistory> = {
    witness: { lastAnswerAt: undefined, failedRounds: 0 },
    peer: { lastAnswerAt: undefined, failedRounds: 0 },
  };
  let written: number | undefined;
  let isolated = false;
  let isolatedAt = 0;
  let demoted = false;
  let stopped = false;
  const controller = new AbortController();

  const note = (kind: 'witness' | 'peer', answers: ProbeResult[], now: number) => {
    if (answers.some((a) => a.reachable)) {
      history[kind] = { lastAnswerAt: now, failedRounds: 0 };
    } else {
      history[kind] = { ...history[kind], failedRounds: history[kind].failedRounds + 1 };
    }
  };
  const setTrack = async (value: number) => {
    if (written === value) return;
    await writeTrack(file, value);
    written = value;
  };

  const round = async (): Promise<void> => {
    const [w, p] = await Promise.all([
      probe(witness, timeoutMs, controller.signal),
      probe(peer, timeoutMs, controller.signal),
    ]);
    if (stopped) return;
    const now = Date.now();
    note('witness', w, now);
    note('peer', p, now);
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
        isolated = true;
        isolatedAt = now;
        demoted = false;
        log.error({
          event: 'fence.isolated',
          reason: `${judgement.reason}: this node may be the one cut off; it demotes itself (read-only, sessions ended, keepalived FAULT) and keeps probing`,
          answers,
        });
      }
      const [track, local] = await Promise.allSettled([
        setTrack(1),
        demoted ? Promise.resolve('already done') : demoteLocal(spec, AbortSignal.timeout(LOCAL_BUDGET_MS)),
      ]);
      if (!demoted) {
        const last = Math.max(
          history.witness.lastAnswerAt ?? startedAt,
          history.peer.lastAnswerAt ?? startedAt,
        );
        if (local.status === 'fulfilled') demoted = true;
        log[local.status === 'fulfilled' && track.status === 'fulfilled' ? 'warn' : 'error']({
          event: 'fence.self_demoted',
          database: local.status === 'fulfilled' ? local.value : `FAILED: ${messageOf(local.reason)}`,
          keepalived:
            track.status === 'fulfilled'
              ? 'FAULT (isolation track file 1)'
              : `FAILED: ${messageOf(track.reason)}`,
          since_last_answer_ms: Date.now() - last,
        });
      }
      return;
    }
    if (isolated) {
      isolated = false;
      log.warn({
        event: 'fence.isolation_over',
        reason: `${judgement.reason}: the FAULT hold is lifted after ${now - isolatedAt} ms; this node returns as BACKUP and takes the VIPs back only as failback (${spec.failback}) allows`,
        answers,
      });
    }
    // Written once the node has heard something: a fresh agent never lifts a hold on no evidence.
    if (history.witness.lastAnswerAt !== undefined || history.peer.lastAnswerAt !== undefined) {
      await setTrack(0);
    }
  };

  log.info({
    event: 'fence.witness_monitor',
    witness: witness.map((w) => `${w.host}:${w.port}`),
    peer: peer.map((p) => `${p.host}:${p.port}`),
    every_ms: everyMs,
    connect_timeout_ms: timeoutMs,
    isolation_timeout_ms: isolationMs,
    bound_ms_before_demotion: isolationMs + Math.max(everyMs, timeoutMs),
  });
  const rounds = repeatEvery(round, {
    everyMs,
    from: 'start',
    onError: (error) => log.error({ event: 'fence.witness_monitor', reason: messageOf(error) }),
  });
  return {
    async stop() {
      stopped = true;
      // No new round is scheduled from here; the one in flight is cut short, then awaited.
      const stopping = rounds.stop();
      controller.abort();
      await stopping;
    },
    isolated: () => isolated,
  };
}
