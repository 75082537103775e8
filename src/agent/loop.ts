/**
 * The agent's reconcile loop, in the manner of Patroni's `_run_cycle`: every tick observes a fresh
 * snapshot, decides on it with the shared core (src/cluster/) and applies the plan; one tick at a
 * time, so two applies never overlap. Events — FIFO lines, the periodic timer, a reload — only
 * wake it: a tick acts on what holds *now*, and wake-ups that arrive while a tick runs are merged
 * into the next one. keepalived's lines are kept, in order, as the latest word per instance or
 * group; the tick logs the lines it consumed and one decision line, every line tagged with the
 * tick's transition id.
 *
 * The tick's awaits are bounded by the core: observe() gives each source its own budget, apply()
 * bounds every action by its timeout (abandoning one that will not stop), and the notify lock is
 * waited for at most as long as notify itself would. The lock is taken only when there is
 * something to apply (or a FIFO line says there will be); under it the node is observed again, as
 * an operator's `hactl notify` may just have acted. Taking it spawns nothing.
 *
 * Slow work runs beside the ticks, not in them: under strict semi-sync a demoted node that holds
 * transactions its new primary lacks is judged for a rejoin by rebuild (src/cluster/rejoin-run.ts),
 * which scans binlogs and copies the primary. One such job at a time, cancellable, backed off after
 * a refusal or a failure; while it runs, a retry of the applied demotion waits (it would re-point
 * under the copy), and a new transition (MASTER, FAULT after BACKUP) cancels it first. It holds the
 * transition lock while it runs: keepalived's hooks wait their bounded time and apply nothing.
 */
import { actionLabel } from '../actions/index.js';
import { raceDeadline } from '../bounded/deadline.js';
import { apply, type ApplyOutcome } from '../cluster/apply.js';
import { decide, promotionOf, repointOf, type Intent, type Plan } from '../cluster/decide.js';
import type { KeepalivedFact, Observation, VrrpState } from '../cluster/observation.js';
import { stepText } from '../cluster/proxy-rule.js';
import { localSources, newTransitionId, observe, type ObservationSources } from '../cluster/observe.js';
import type { RejoinOptions, RejoinOutcome } from '../cluster/rejoin-run.js';
import type { Logger } from '../log.js';
import { keepSessions } from '../mysql/connection.js';
import { markerPath, markerPresent } from '../mysql/rebuild-marker.js';
import { acquireLock, lockPath, type HeldLock } from '../notify/lock.js';
import { defaultLockWaitSec } from '../notify/run.js';
import type { NodeSpec, Spec } from '../spec/schema.js';

/** Why the loop was woken: keepalived wrote a line, the timer fired, the spec was reloaded, … */
export type WakeReason =
  'start' | 'fifo' | 'fifo-gap' | 'periodic' | 'reload' | 'checks' | 'switchover' | 'proxy' | 'rejoin';

export interface TickRecord {
  transitionId: string;
  wokenBy: WakeReason[];
  /** keepalived's lines consumed by this tick, in the order they were written. */
  lines: string[];
  /** The keepalived word the decision was given (undefined: none trusted). */
  keepalived: string | undefined;
  target: VrrpState | undefined;
  /** 'rejoin': not a tick, the strict rejoin job starting ('rebuilding') or ending (its outcome). */
  result: 'apply' | 'skip' | 'refuse' | 'backoff' | 'error' | 'rejoin';
  reason: string;
  outcome: ApplyOutcome | undefined;
  /** With result 'rejoin': 'rebuilding', or the job's result (rebuilt, refused, failed, nothing, cancelled). */
  rejoin?: 'rebuilding' | 'cancelled' | RejoinOutcome['result'];
}

export interface LoopOptions {
  /** The running spec and node, read at every tick (a reload swaps them). */
  current(): { spec: Spec; node: NodeSpec };
  log: Logger;
  /** Milliseconds between ticks nobody asked for (they catch what no event reported). */
  periodMs: number;
  sources?: ObservationSources;
  /** Called after every tick (tests and, later, status read the loop through it). */
  onTick?: (record: TickRecord) => void;
  /** What an operator asked for, read at every tick (a planned switchover's step-down). */
  intent?: () => Intent;
  /** The strict rejoin job (default: src/cluster/rejoin-run.ts); tests give their own. */
  rejoin?: (options: RejoinOptions) => Promise<RejoinOutcome>;
}

const AUTOMATIC: Intent = {};
/**
 * The transition lock without its flock(2): taking that spawns flock(1), 10–15 ms on an idle
 * machine, on every promotion's path. The socket half, which every notify takes as well, keeps the
 * agent and keepalived's hooks apart (src/notify/lock.ts); the agent lock keeps agents apart.
 */
const AGENT_LOCK = { fileLock: false } as const;
/** A failed apply is retried on the next event at once, by the timer only after this backoff (doubling). */
const RETRY_MIN_MS = 5_000;
const RETRY_MAX_MS = 60_000;
const MAX_NAMES = 64;
/**
 * How often a tick may read the standby facts (decide's rule 7: a standby whose demotion gave up
 * re-pointing): the local replica status over the kept connection, and the peer only when the
 * standby does not replicate from it. A standby is re-pointed within this plus one period.
 */
export const STANDBY_PROBE_MS = 10_000;
/** Timer ticks drift by a few ms: a probe due "now" must not wait for the tick after. */
const PROBE_SLACK_MS = 500;
/** A strict rejoin refused or failed is judged again after this (doubling): each try scans the binlogs. */
export const REJOIN_RETRY_MIN_MS = 30_000;
const REJOIN_RETRY_MAX_MS = 900_000;
/** How long a new transition waits for a cancelled rejoin to stop. */
const REJOIN_CANCEL_MS = 10_000;

async function defaultRejoin(options: RejoinOptions): Promise<RejoinOutcome> {
  const { runStrictRejoin } = await import('../cluster/rejoin-run.js');
  return runStrictRejoin(options);
}

function resultOf(plan: Plan): 'apply' | 'skip' | 'refuse' {
  if (plan.target === undefined) return plan.proxy.length > 0 ? 'apply' : 'skip';
  return promotionOf(plan)?.verdict.allow === false ? 'refuse' : 'apply';
}

export class ReconcileLoop {
  private readonly wakes = new Set<WakeReason>();
  /** Lines heard since the last tick, and where bytes were lost between them, in order. */
  private queued: (KeepalivedFact | 'gap')[] = [];
  /** keepalived's latest word per `INSTANCE name` / `GROUP name`, newest last. */
  private readonly said = new Map<string, KeepalivedFact>();
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /**
   * The last skip's sentence, kept apart for ticks that read the standby facts and ticks that did
   * not (their sentences differ by the standby's part): the quiet timer ticks stay quiet.
   */
  private readonly lastSentences = new Map<boolean, string>();
  private failed: { target: VrrpState; retryAt: number; backoffMs: number; diverged: boolean } | undefined;
  /** A tick saw this node diverged from its peer: the strict rejoin is judged after it. */
  private divergedSeen = false;
  private rejoinJob: { controller: AbortController; done: Promise<void>; id: string } | undefined;
  private rejoinRetryAt = -Infinity;
  private rejoinBackoffMs = 0;
  private standbyReadAt = -Infinity;
  /** Ends the loop's kept database connection (observation and promotion share it). */
  private releaseSessions: (() => Promise<void>) | undefined;

  constructor(private readonly options: LoopOptions) {}

  start(): void {
    // A promotion's latency is mostly round trips: one connection, kept and checked before each
    // use, serves every observation and action of the loop instead of two connects per promotion.
    this.releaseSessions = keepSessions();
    this.timer = setInterval(() => this.wake('periodic'), this.options.periodMs);
    // Nothing heard yet: the first tick judges by the VIPs alone.
    this.wake('start');
  }

  wake(reason: WakeReason): void {
    if (this.stopped) return;
    this.wakes.add(reason);
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // A wake that raced the end of the drain.
      if (this.wakes.size > 0 && !this.stopped) this.wake([...this.wakes][0]!);
    });
  }

  /** One line from keepalived, in FIFO order. */
  heard(fact: KeepalivedFact): void {
    this.queued.push(fact);
    this.wake('fifo');
  }

  /** Lines were lost: what keepalived said before no longer describes now; judge by reality. */
  gap(): void {
    this.queued.push('gap');
    this.wake('fifo-gap');
  }

  /** Stops the timer and waits (at most `boundMs`) for the tick in flight; true when it finished. */
  async stop(boundMs: number): Promise<boolean> {
    this.stopped = true;
    clearInterval(this.timer);
    // A rejoin cancelled mid-way resumes from its marker (or is judged afresh) at the next start.
    this.rejoinJob?.controller.abort(new Error('the agent is stopping'));
    const pending = [this.running, this.rejoinJob?.done].filter((p) => p !== undefined);
    const inFlight = pending.length > 0 ? Promise.all(pending) : undefined;
    const finished = inFlight
      ? await raceDeadline(() => inFlight.then(() => true), {
          deadlineMs: performance.now() + boundMs,
          reason: () => new Error(`the tick (or rejoin) in flight did not finish within ${boundMs} ms`),
          onTimeout: () => false,
        })
      : true;
    // Bounded: closing a connection waits at most 1 s for the server's goodbye.
    await this.releaseSessions?.();
    return finished;
  }

  /**
   * The word a tick passes to the core: a sync group's when keepalived reports one, else an
   * instance's. keepalived writes a group's member lines before the group's own, so a member line
   * newer than the group's says where the group is going: a step down (BACKUP, FAULT, STOP) is
   * taken at once — demoting early is the safe direction, and keepalived's order is kept — while
   * a member's MASTER waits for the group's, which comes once every member holds its VIP.
   */
  private keepalived(): KeepalivedFact | undefined {
    const facts = [...this.said.entries()]; // newest last
    const groupAt = facts.findLastIndex(([key]) => key.startsWith('GROUP '));
    if (groupAt < 0) return facts.at(-1)?.[1];
    const stepDown = facts.slice(groupAt + 1).findLast(([, fact]) => fact.state !== 'MASTER');
    return (stepDown ?? facts[groupAt])![1];
  }

  private async drain(): Promise<void> {
    // Bounded by the events that keep arriving: each pass consumes every wake and line queued so far.
    while (this.wakes.size > 0 && !this.stopped) {
      const wokenBy = [...this.wakes];
      this.wakes.clear();
      const heard = this.queued;
      this.queued = [];
      const lines: KeepalivedFact[] = [];
      for (const fact of heard) {
        if (fact === 'gap') {
          this.said.clear();
          continue;
        }
        lines.push(fact);
        const key = `${fact.text.startsWith('GROUP') ? 'GROUP' : 'INSTANCE'} ${fact.name ?? ''}`;
        this.said.delete(key);
        this.said.set(key, fact);
        // A pair has a handful of instances; the oldest word goes first if lines name many more.
        if (this.said.size > MAX_NAMES) this.said.delete(this.said.keys().next().value!);
      }
      let record: TickRecord;
      try {
        record = await this.tick(wokenBy, lines);
      } catch (error) {
        // A tick that throws (a lock that cannot be taken, a broken runtime dir) is retried by the timer.
        const reason = error instanceof Error ? error.message : String(error);
        this.options.log.error({ event: 'agent.tick_failed', woken_by: wokenBy, reason });
        record = {
          transitionId: '',
          wokenBy,
          lines: lines.map((f) => f.text),
          keepalived: this.keepalived()?.text,
          target: undefined,
          result: 'error',
          reason,
          outcome: undefined,
        };
      }
      this.options.onTick?.(record);
      if (this.divergedSeen) this.maybeRejoin();
    }
  }

  /**
   * Starts the strict rejoin job when a tick saw this node diverged: agent mode under strict
   * semi-sync, none running, not backing off. It runs beside the ticks; its end wakes one.
   */
  private maybeRejoin(): void {
    this.divergedSeen = false;
    const { spec, node } = this.options.current();
    if (this.stopped || this.rejoinJob || !spec.agent.enabled || spec.mysql?.semi_sync !== 'strict') return;
    if (performance.now() < this.rejoinRetryAt) return;
    const { log } = this.options;
    const id = newTransitionId(node.name);
    const controller = new AbortController();
    const announce = (rejoin: NonNullable<TickRecord['rejoin']>, reason: string) =>
      this.options.onTick?.({
        transitionId: id,
        wokenBy: ['rejoin'],
        lines: [],
        keepalived: this.keepalived()?.text,
        target: undefined,
        result: 'rejoin',
        reason,
        outcome: undefined,
        rejoin,
      });
    log.info({
      event: 'agent.rejoin',
      transition_id: id,
      result: 'started',
      reason:
        'this node holds transactions its peer lacks under strict semi-sync: judging a rejoin by rebuild',
    });
    announce('rebuilding', 'strict rejoin: judging, and rebuilding when every condition holds');
    // Under the transition lock, like a tick's apply: a keepalived hook's `hactl notify` (it acts
    // when the agent looks dead) must not demote beside it — after RESET MASTER its demotion finds
    // "nothing diverged" and starts replication into the copy (chaos rj7 rep 2: duplicate keys).
    // The hook waits its bounded time and applies nothing; a tick cancels the job first.
    const run = (async () => {
      const held = await acquireLock(
        lockPath(spec.paths.runtime_dir, node.name),
        defaultLockWaitSec(spec),
        AGENT_LOCK,
      );
      try {
        return await (this.options.rejoin ?? defaultRejoin)({
          spec,
          node,
          log: log.child({ transition_id: id }),
          signal: controller.signal,
          ...(this.options.sources?.addresses ? { addresses: this.options.sources.addresses } : {}),
        });
      } finally {
        held.release();
      }
    })();
    const done = run
      .catch((error: unknown): RejoinOutcome => ({
        result: 'failed',
        reason: error instanceof Error ? error.message : String(error),
      }))
      .then((outcome) => {
        const fields = {
          event: 'agent.rejoin',
          transition_id: id,
          result: outcome.result,
          reason: outcome.reason,
          ...('discarded' in outcome && outcome.discarded ? { discarded: outcome.discarded } : {}),
          ...('savedBinlogDir' in outcome ? { saved_binlog_dir: outcome.savedBinlogDir } : {}),
          ...('durationMs' in outcome ? { duration_ms: outcome.durationMs } : {}),
          ...('step' in outcome && outcome.step ? { step: outcome.step } : {}),
          ...('extraGtids' in outcome ? { extra_gtids: outcome.extraGtids } : {}),
        };
        if (outcome.result === 'rebuilt' || outcome.result === 'nothing') {
          this.rejoinBackoffMs = 0;
          this.rejoinRetryAt = -Infinity;
          // The demotion that failed on the divergence is applied again at once, not after its backoff.
          this.failed = undefined;
        } else if (controller.signal.aborted) {
          // A transition (or the agent stopping) ended it, not its own verdict: no back-off; the
          // next tick that sees the divergence judges it again (transitions are keepalived's pace).
          this.rejoinRetryAt = -Infinity;
        } else {
          this.rejoinBackoffMs = Math.min(
            REJOIN_RETRY_MAX_MS,
            Math.max(REJOIN_RETRY_MIN_MS, this.rejoinBackoffMs * 2),
          );
          this.rejoinRetryAt = performance.now() + this.rejoinBackoffMs;
        }
        const result =
          outcome.result !== 'rebuilt' && controller.signal.aborted ? 'cancelled' : outcome.result;
        const level = result === 'failed' ? 'error' : result === 'nothing' ? 'info' : 'warn';
        log[level]({
          ...fields,
          result,
          ...(result !== 'cancelled' && this.rejoinBackoffMs > 0
            ? { retry_in_ms: this.rejoinBackoffMs }
            : {}),
        });
        const text =
          outcome.result === 'rebuilt'
            ? `strict rejoin: discarded ${outcome.discarded.join(',')} (binlogs saved in ${outcome.savedBinlogDir}); ${outcome.reason}`
            : `strict rejoin ${result}: ${outcome.reason}`;
        announce(result, text);
      })
      .finally(() => {
        this.rejoinJob = undefined;
        if (!this.stopped) this.wake('rejoin');
      });
    this.rejoinJob = { controller, done, id };
  }

  /**
   * A rebuild left unfinished after RESET MASTER (its marker in paths.state_dir) has emptied the
   * binlog state but not replaced the data: mysql.demote would find "nothing diverged" and re-point
   * a half-rebuilt node, hiding what it still holds. So while the marker exists a demotion runs
   * without mysql.demote (the node is read-only already; the rebuild re-points at its end), and the
   * strict rejoin is asked to resume it. A promotion keeps its steps: the lineage still says
   * diverged, and the promotion guard refuses.
   */
  private async withoutRepointDuringRebuild(plan: Plan, spec: Spec, node: NodeSpec): Promise<Plan> {
    if (plan.target === undefined || plan.target === 'MASTER') return plan;
    if (!plan.actions.some((a) => a.type === 'mysql.demote')) return plan;
    const marker = markerPath(spec.paths.state_dir, node.name);
    const present = await markerPresent(spec.paths.state_dir, node.name);
    if (!present) return plan;
    this.divergedSeen = true;
    this.options.log.warn({
      event: 'agent.rebuild_unfinished',
      transition_id: plan.transitionId,
      marker,
      state: plan.target,
      reason:
        'a rebuild stopped after RESET MASTER: mysql.demote is left out (re-pointing would hide what the copy has not replaced); the strict rejoin resumes it, or run hactl rebuild',
    });
    return Object.freeze({
      ...plan,
      actions: Object.freeze(plan.actions.filter((a) => a.type !== 'mysql.demote')),
      reason: `${plan.reason}; mysql.demote left out: a rebuild is unfinished here (${marker})`,
    });
  }

  /** Cancels the rejoin job and waits for it, bounded; true when it stopped. */
  private async cancelRejoin(reason: string, boundMs: number): Promise<boolean> {
    const job = this.rejoinJob;
    if (!job) return true;
    job.controller.abort(new Error(reason));
    return raceDeadline(() => job.done.then(() => true), {
      deadlineMs: performance.now() + boundMs,
      reason: () => new Error(`the rejoin did not stop within ${boundMs} ms`),
      onTimeout: () => false,
    });
  }

  private fields(observation: Observation, plan: Plan, wokenBy: WakeReason[]): Record<string, unknown> {
    const promotion = promotionOf(plan);
    const repoint = repointOf(plan);
    return {
      transition_id: plan.transitionId,
      woken_by: wokenBy,
      keepalived: observation.keepalived?.text ?? 'none trusted',
      vips_held: observation.vips.held,
      vips_missing: observation.vips.missing,
      last_applied: observation.lastApplied?.state,
      last_ok: observation.lastApplied?.ok,
      state: plan.target ?? 'none',
      ...(promotion ? { promotion: promotion.verdict.allow ? 'allowed' : 'refused' } : {}),
      ...(repoint ? { repoint: repoint.allow ? 'allowed' : 'refused' } : {}),
      reason: plan.reason,
    };
  }

  private async tick(wokenBy: WakeReason[], lines: KeepalivedFact[]): Promise<TickRecord> {
    const { spec, node } = this.options.current();
    const { log } = this.options;
    const sources = this.options.sources ?? localSources;
    const transitionId = newTransitionId(node.name);
    for (const fact of lines) log.info({ event: 'agent.fifo', transition_id: transitionId, line: fact.text });
    const keepalived = this.keepalived();
    const intent = this.options.intent?.() ?? AUTOMATIC;
    // The proxies are read on ticks that apply no state or retry one (decide's rule 6), the
    // standby facts on such ticks at most every STANDBY_PROBE_MS (rule 7).
    const standby = performance.now() - this.standbyReadAt >= STANDBY_PROBE_MS - PROBE_SLACK_MS;
    if (standby) this.standbyReadAt = performance.now();
    const request = { transitionId, keepalived, intent, proxies: true, standby };
    const record = (plan: Plan, result: TickRecord['result'], outcome?: ApplyOutcome): TickRecord => ({
      transitionId,
      wokenBy,
      lines: lines.map((f) => f.text),
      keepalived: keepalived?.text,
      target: plan.target,
      result,
      reason: plan.reason,
      outcome,
    });

    const lockFile = lockPath(spec.paths.runtime_dir, node.name);
    const lockWaitSec = defaultLockWaitSec(spec);
    // A line from keepalived nearly always means work: take the lock first and look once under it,
    // instead of looking, locking and looking again (a promotion's latency is mostly those steps).
    // Not while the rejoin holds it: this tick may first have to cancel it.
    let lock: HeldLock | undefined =
      wokenBy.includes('fifo') && !this.rejoinJob
        ? await acquireLock(lockFile, lockWaitSec, AGENT_LOCK)
        : undefined;
    try {
      const first = await observe(spec, node, request, sources);
      const glance = decide(first, spec, intent);
      if (glance.target === undefined && glance.proxy.length === 0) {
        this.failed = undefined;
        const fields = { ...this.fields(first, glance, wokenBy), event: 'agent.tick', result: 'skip' };
        // The timer's ticks say something only when the sentence changes.
        const withStandby = first.standby !== undefined;
        const quiet =
          wokenBy.every((w) => w === 'periodic') && glance.reason === this.lastSentences.get(withStandby);
        if (quiet) log.debug(fields);
        else if (repointOf(glance)?.allow === false) log.warn(fields);
        else log.info(fields);
        this.lastSentences.set(withStandby, glance.reason);
        if (repointOf(glance)?.diverged) this.divergedSeen = true;
        return record(glance, 'skip');
      }
      if (this.rejoinJob && glance.target !== undefined) {
        // The demotion applied again (a retry, or rule 7's re-point) would STOP SLAVE / CHANGE
        // MASTER under the copy: it waits. A new transition (MASTER, FAULT after BACKUP) does not
        // wait for a copy that may take an hour: it cancels the rebuild, which resumes or is judged
        // again later.
        if (glance.target !== 'MASTER' && glance.target === first.lastApplied?.state) {
          const reason = `${glance.target} waits: the strict rejoin ${this.rejoinJob.id} is rebuilding this node (a new transition cancels it)`;
          log.info({ ...this.fields(first, glance, wokenBy), event: 'agent.tick', result: 'skip', reason });
          return { ...record(glance, 'skip'), reason };
        }
        const stopped = await this.cancelRejoin(
          `${glance.target} was decided for this node`,
          REJOIN_CANCEL_MS,
        );
        log.warn({
          event: 'agent.rejoin',
          transition_id: transitionId,
          result: 'cancelled',
          stopped,
          reason: `${glance.target} was decided for this node: it does not wait for the rebuild (a promotion is judged by the promotion guard; the lineage still says diverged)`,
        });
        // Never both at once: a demotion beside a RESET MASTER that is still finishing re-pointed a
        // half-rebuilt node in the lab (chaos rj6 rep 4). The next tick looks again.
        if (!stopped) {
          const reason = `${glance.target} waits: the cancelled strict rejoin has not stopped within ${REJOIN_CANCEL_MS / 1000} s`;
          log.warn({ ...this.fields(first, glance, wokenBy), event: 'agent.tick', result: 'skip', reason });
          return { ...record(glance, 'skip'), reason };
        }
      }
      const retry = this.failed;
      if (
        retry &&
        retry.target === glance.target &&
        wokenBy.every((w) => w === 'periodic') &&
        performance.now() < retry.retryAt
      ) {
        const reason = `${glance.target} failed last time; the timer retries in ${Math.round((retry.retryAt - performance.now()) / 1000)} s (an event retries at once)`;
        log.debug({ ...this.fields(first, glance, wokenBy), event: 'agent.tick', result: 'backoff', reason });
        if (retry.diverged) this.divergedSeen = true;
        // The state waits for its retry; the proxies do not (a node whose demotion keeps failing).
        if (glance.proxy.length > 0)
          await apply(
            { ...glance, target: undefined, actions: [] },
            { spec, node, observation: first, intent, log },
          );
        return { ...record(glance, 'backoff'), reason };
      }

      // Something to apply: serialise with an operator's `hactl notify` and, if the first look was
      // taken without the lock, look again under it.
      let observation = first;
      let plan = glance;
      if (!lock) {
        lock = await acquireLock(lockFile, lockWaitSec, AGENT_LOCK);
        observation = await observe(spec, node, request, sources);
        plan = decide(observation, spec, intent);
      }
      plan = await this.withoutRepointDuringRebuild(plan, spec, node);
      const result = resultOf(plan);
      const fields = {
        ...this.fields(observation, plan, wokenBy),
        event: 'agent.tick',
        result,
        lock_wait_ms: lock.waitedMs,
        planned: plan.actions.map(actionLabel),
        ...(plan.proxy.length > 0 ? { proxy_steps: plan.proxy.map((s) => `${s.label} ${stepText(s)}`) } : {}),
      };
      if (result === 'refuse') log.warn(fields);
      else log.info(fields);
      this.lastSentences.clear();
      const outcome = await apply(plan, {
        spec,
        node,
        observation,
        intent,
        log,
        stepEvent: 'agent.action',
        addresses: sources.addresses,
      });
      if (outcome && plan.target !== undefined) {
        log[outcome.ok ? 'info' : 'error']({
          event: 'agent.applied',
          transition_id: transitionId,
          state: plan.target,
          result: outcome.ok ? 'ok' : outcome.diverged ? 'diverged' : outcome.aborted ? 'aborted' : 'partial',
          actions_ok: outcome.steps.filter((s) => s.ok).length,
          actions: outcome.steps.length,
        });
        if (outcome.ok) {
          this.failed = undefined;
          // The proxies follow a transition at once (decide's rule 6), not at the next timer tick.
          if (spec.proxy) this.wake('proxy');
        } else {
          const backoffMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, (retry?.backoffMs ?? 0) * 2));
          const diverged = outcome.diverged;
          this.failed = { target: plan.target, retryAt: performance.now() + backoffMs, backoffMs, diverged };
          if (diverged) this.divergedSeen = true;
        }
      }
      return record(plan, result, outcome);
    } finally {
      lock?.release();
    }
  }
}
