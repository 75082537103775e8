/**
 * The agent's file sync (spec sync): once a second it looks at what the agent knows — the VIPs on
 * this node's interfaces, keepalived's latest word from the FIFO, the last applied state — asks
 * the pure rule (decide.ts) whether to push, and runs the push off the tick (run.ts). One push at
 * a time: the next is decided only once the one in flight has ended; a push in flight on a node
 * that stops being active is stopped. The last result is kept for the agent's node view and
 * metrics. Log events: sync.push_started, sync.push_finished, sync.skip (when the reason changes).
 */
import { appliedStatePath, readAppliedState } from '../cluster/applied-state.js';
import { vipHolding } from '../cluster/vips.js';
import type { NodeSpec, Spec, SyncSpec } from '../spec/schema.js';
import type { SyncStatus } from '../status/types.js';
import { decidePush, type SyncSituation } from './decide.js';
import { runPush, type PushResult } from './run.js';
import { repeatEvery } from '../bounded/repeat.js';

const EVERY_MS = 1_000;
const READ_BUDGET_MS = 1_000;

export interface SyncLog {
  info(fields: Record<string, unknown>): void;
  warn(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

/** keepalived's latest word for this node's instances, as the agent heard it. */
export type HeardWord = (
  instance: string,
  group: string | undefined,
) => { state: string; at: string } | undefined;

export interface SyncRunner {
  stop(): Promise<void>;
  /** undefined when the spec has no sync section. */
  status(): SyncStatus | undefined;
}

/** The word of every VIP instance: undefined when none was heard, 'mixed' when they disagree. */
export function keepalivedWord(spec: Spec, heard: HeardWord): SyncSituation['keepalived'] {
  const group = spec.vips.length > 1 ? `${spec.cluster}_vips` : undefined;
  const words = spec.vips.map((vip) => heard(vip.name, group)).filter((w) => w !== undefined);
  if (words.length === 0) return undefined;
  const states = new Set(words.map((w) => w.state));
  const heardAt = Math.max(...words.map((w) => Date.parse(w.at)));
  return { state: states.size === 1 ? words[0]!.state : 'mixed', heardAt };
}

/** A sentence's kind, without its numbers: the log says a skip again only when the kind changes. */
const kindOf = (reason: string) => reason.replace(/\d+/g, 'N');

export function startSyncScheduler(context: {
  spec: Spec;
  node: NodeSpec;
  log: SyncLog;
  heard: HeardWord;
  everyMs?: number;
}): SyncRunner {
  const { spec, node, log, heard } = context;
  const sync = spec.sync;
  if (!sync) return { stop: () => Promise.resolve(), status: () => undefined };
  const withSync = spec as Spec & { sync: SyncSpec };
  let stopped = false;
  let running: { startedAt: number; controller: AbortController; done: Promise<void> } | undefined;
  let lastStartedAt: number | undefined;
  let last: PushResult | undefined;
  let lastSuccessAt: string | undefined;
  let pushes = 0;
  let sentence = 'not judged yet';
  let loggedKind: string | undefined;
  let pushSeq = 0;

  const startPush = (now: number) => {
    const id = `${node.name}-sync-${++pushSeq}`;
    const controller = new AbortController();
    lastStartedAt = now;
    log.info({ event: 'sync.push_started', push_id: id, paths: sync.paths.length, interval: sync.interval });
    const done = runPush(withSync, node, { signal: controller.signal })
      .then((result) => {
        last = result;
        pushes++;
        if (result.ok) lastSuccessAt = result.finishedAt;
        log[result.ok ? 'info' : 'error']({
          event: 'sync.push_finished',
          push_id: id,
          result: result.ok ? 'ok' : 'failed',
          duration_ms: result.durationMs,
          detail: result.detail,
        });
      })
      .catch((error: unknown) =>
        log.error({
          event: 'sync.push_finished',
          push_id: id,
          result: 'error',
          detail: (error as Error).message,
        }),
      )
      .finally(() => {
        running = undefined;
      });
    running = { startedAt: now, controller, done };
  };

  const judge = async (): Promise<void> => {
    const applied = await readAppliedState(
      appliedStatePath(spec.paths.runtime_dir, node.name),
      AbortSignal.timeout(READ_BUDGET_MS),
    );
    if (stopped) return;
    const now = Date.now();
    const decision = decidePush({
      now,
      intervalMs: sync.interval * 1000,
      vipsMissing: vipHolding(spec).missing,
      keepalived: keepalivedWord(spec, heard),
      applied: applied && { state: applied.state, ok: applied.ok, at: Date.parse(applied.at) },
      running: running && { startedAt: running.startedAt },
      lastStartedAt,
    });
    // A due time or a push within its interval is the normal rhythm; anything else is said once
    // per push (a push that outlives its interval) or once per change (not the active node).
    const normal =
      decision.push ||
      /^next push due/.test(decision.reason) ||
      (running !== undefined && !decision.abort && now - running.startedAt < sync.interval * 1000);
    if (!normal && kindOf(decision.reason) !== loggedKind) {
      log.info({ event: 'sync.skip', reason: decision.reason });
      loggedKind = kindOf(decision.reason);
    }
    sentence = decision.reason;
    if (decision.push) {
      loggedKind = undefined;
      startPush(now);
    } else if (decision.abort && running) {
      log.warn({ event: 'sync.push_stopping', reason: decision.reason });
      running.controller.abort();
    }
  };
  const rounds = repeatEvery(judge, {
    everyMs: context.everyMs ?? EVERY_MS,
    onError: (error) => log.error({ event: 'sync.judge', reason: (error as Error).message }),
  });

  return {
    async stop() {
      stopped = true;
      await rounds.stop();
      const inFlight = running;
      if (inFlight) {
        inFlight.controller.abort();
        await inFlight.done;
      }
    },
    status: () => ({
      interval_s: sync.interval,
      running_since: running ? new Date(running.startedAt).toISOString() : null,
      last: last
        ? {
            ok: last.ok,
            started_at: last.startedAt,
            finished_at: last.finishedAt,
            duration_ms: last.durationMs,
            detail: last.detail,
          }
        : null,
      last_success_at: lastSuccessAt ?? null,
      age_s: last ? Math.max(0, Math.round((Date.now() - Date.parse(last.finishedAt)) / 1000)) : null,
      pushes,
      decision: sentence,
    }),
  };
}
