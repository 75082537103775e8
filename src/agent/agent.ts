/**
 * The `hactl agent` process: one per node, in the foreground under systemd. It claims the node
 * (src/agent/single-instance.ts), reads keepalived's notify FIFO, and runs the reconcile loop
 * (src/agent/loop.ts) until SIGTERM or SIGINT; SIGHUP reloads the spec. Work that lives as long
 * as the agent beside the loop (the in-process check runner, the liveness heartbeat) plugs in as
 * a Companion: started with the spec, restarted by a reload, stopped (bounded) on exit.
 */
import { raceDeadline } from '../bounded/deadline.js';
import { ConfigError } from '../errors.js';
import { createLongLivedLogger, type Logger } from '../log.js';
import { RuntimeDirUnusable } from '../notify/lock.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { startAgentApiFor, type RunningApi } from './api/index.js';
import { AgentFacts } from './api/facts.js';
import { startCheckRunner, type CheckRunner } from './checks/index.js';
import { AGENT_PROCESS_TITLE, notifyFifoPath } from './contract.js';
import { startFailbackGate } from './failback.js';
import { startUnpromotableGate } from './unpromotable.js';
import { startWitnessMonitor, type WitnessMonitor } from '../fence/witness-monitor.js';
import { localSources } from '../cluster/observe.js';
import { startLiveness, type Liveness } from './liveness/index.js';
import { openFifo, prepareFifo, type FifoReader } from './fifo.js';
import { ReconcileLoop, type LoopOptions, type WakeReason } from './loop.js';
import { claimNode } from './single-instance.js';
import { SwitchoverDriver } from '../switchover/driver.js';
import { startSyncScheduler, type SyncRunner } from '../sync/schedule.js';
import { AgentSpecProblem, loadAgentSpec, reloadRefusal, type AgentSpec } from './spec-source.js';

/** What a companion gets: the spec it runs under, the agent's logger, and a way to wake the loop. */
export interface CompanionContext {
  spec: Spec;
  node: NodeSpec;
  log: Logger;
  /** Something the decision may depend on changed (e.g. a check's verdict): reconcile now. */
  wake(): void;
  /** What the agent heard from keepalived (the FIFO), for companions that act only on the MASTER. */
  facts: AgentFacts;
}

export interface Companion {
  stop(): void | Promise<void>;
}

export type StartCompanion = (context: CompanionContext) => Companion | Promise<Companion>;

/**
 * The companions every agent runs, in start order (stopped in reverse), restarted by a reload:
 * the in-process checks, the failback gate, the unpromotable gate, the witness monitor (src/fence/)
 * and the file sync (src/sync/); proxy upkeep is no companion but rule 6 of the decision core, run
 * by the loop.
 * The liveness heartbeat is not one of them: it lives exactly as long as the process, since
 * stopping it tells keepalived the node is unhealthy.
 */
export const COMPANIONS: readonly StartCompanion[] = [
  ({ spec, node, log, wake }) =>
    startCheckRunner({ spec, node, runtimeDir: spec.paths.runtime_dir, log, onChange: () => wake() }),
  ({ spec, node, log }) => startFailbackGate({ spec, node, log }),
  ({ spec, node, log }) => startUnpromotableGate({ spec, node, log }),
  ({ spec, node, log }) => startWitnessMonitor({ spec, node, log }),
  ({ spec, node, log, facts }) =>
    startSyncScheduler({ spec, node, log, heard: (instance, group) => facts.vrrpState(instance, group) }),
];

export interface AgentOptions {
  specPath: string;
  nodeName: string | undefined;
  /** Between ticks nobody asked for (default 5 s). */
  periodMs?: number;
  /** How long a shutdown waits for the tick in flight (default 25 s; systemd's stop timeout is 90 s). */
  stopBoundMs?: number;
  companions?: readonly StartCompanion[];
  /** The heartbeat that keepalived's agent track file depends on (default true; tests of the loop alone turn it off). */
  liveness?: boolean;
  /** Test seam: called after every tick. */
  onTick?: LoopOptions['onTick'];
}

const COMPANION_STOP_MS = 5_000;

async function stopAll(companions: Companion[], log: Logger): Promise<void> {
  for (const companion of companions.reverse()) {
    await raceDeadline(async () => companion.stop(), {
      deadlineMs: performance.now() + COMPANION_STOP_MS,
      reason: () => new Error(`a companion did not stop within ${COMPANION_STOP_MS / 1000} s`),
      onTimeout: (why) => log.warn({ event: 'agent.companion_stop', reason: String(why) }),
    }).catch((error: unknown) =>
      log.warn({
        event: 'agent.companion_stop',
        reason: error instanceof Error ? error.message : String(error),
      }),
    );
  }
}

function reloadFields(error: unknown): Record<string, unknown> {
  if (error instanceof AgentSpecProblem) {
    return {
      reason: error.message,
      ...(error.findings.length > 0
        ? {
            fields: error.findings.map((f) => f.path),
            problems: error.findings.map((f) => ({ field: f.path, message: f.message, line: f.line })),
          }
        : {}),
    };
  }
  return { reason: error instanceof Error ? error.message : String(error) };
}

function isSyncRunner(companion: Companion): companion is Companion & SyncRunner {
  return typeof (companion as Partial<SyncRunner>).status === 'function';
}

function isCheckRunner(companion: Companion): companion is Companion & CheckRunner {
  return typeof (companion as Partial<CheckRunner>).snapshot === 'function';
}

function isWitnessMonitor(companion: Companion): companion is Companion & WitnessMonitor {
  return typeof (companion as Partial<WitnessMonitor>).peerSilence === 'function';
}

/** Runs until SIGTERM or SIGINT; resolves with the exit code. Throws (before it runs) what stops a start. */
export async function runAgent(options: AgentOptions): Promise<number> {
  let running: AgentSpec = await loadAgentSpec(options.specPath, options.nodeName);
  const { spec, node } = running;
  const { log, close: closeLog } = await createLongLivedLogger({
    file: spec.logging.file,
    fileField: 'logging.file',
    level: spec.logging.level,
    base: { command: 'agent', cluster: spec.cluster, node: node.name },
  });

  let instance;
  try {
    instance = await claimNode(spec.paths.runtime_dir, spec.cluster, node.name);
  } catch (error) {
    await closeLog();
    if (error instanceof RuntimeDirUnusable) throw new ConfigError(error.message);
    throw error;
  }
  // Only once the node is ours: keepalived's track_process must not count a refused second agent.
  process.title = AGENT_PROCESS_TITLE;
  const companionsToRun = options.companions ?? COMPANIONS;
  let companions: Companion[] = [];
  const facts = new AgentFacts();
  facts.watchChecks(() => companions.find(isCheckRunner)?.snapshot() ?? []);
  facts.watchSync(() => companions.find(isSyncRunner)?.status());
  let api: RunningApi | undefined;
  let fifo: FifoReader | undefined;
  let loop: ReconcileLoop | undefined;
  let stopRequested: ((signal: NodeJS.Signals) => void) | undefined;
  const stopping = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  const onStop = (signal: NodeJS.Signals) => stopRequested?.(signal);

  let reloading: Promise<void> | undefined;
  let reloadAgain = false;
  const reload = async (): Promise<void> => {
    log.info({ event: 'agent.reload', spec: options.specPath });
    try {
      const next = await loadAgentSpec(options.specPath, running.node.name);
      const refusal = reloadRefusal(running, next);
      if (refusal) throw new AgentSpecProblem(refusal);
      await stopAll(companions, log);
      try {
        companions = await startCompanions(next);
      } catch (error) {
        // The new spec's checks could not start: keep running the old ones rather than none.
        companions = await startCompanions(running);
        throw error;
      }
      running = next;
      log.level = next.spec.logging.level;
      // The API follows the new spec; a token file gone bad keeps the last good token. Never
      // fatal to a reload: the checks and the loop already run under the new spec.
      try {
        api = api ? await api.reload() : await startAgentApiFor(apiContext());
      } catch (error) {
        log.error({
          event: 'agent.api_reload_failed',
          reason: error instanceof Error ? error.message : String(error),
        });
      }
      log.info({ event: 'agent.reloaded', spec: next.path, spec_hash: next.hash });
      loop?.wake('reload');
    } catch (error) {
      // The running spec stays: a typo in a reload must not take the node's HA down.
      log.error({
        event: 'agent.reload_failed',
        spec: options.specPath,
        kept: running.hash,
        ...reloadFields(error),
      });
    }
  };
  const onHup = () => {
    if (reloading) {
      reloadAgain = true;
      return;
    }
    reloading = (async () => {
      // Bounded: a HUP storm reloads at most once more after the reload in progress.
      do {
        reloadAgain = false;
        await reload();
      } while (reloadAgain);
    })().finally(() => (reloading = undefined));
  };
  const startCompanions = async (under: AgentSpec): Promise<Companion[]> => {
    const started: Companion[] = [];
    try {
      for (const start of companionsToRun) {
        started.push(
          await start({
            spec: under.spec,
            node: under.node,
            log,
            facts,
            wake: () => loop?.wake('checks' satisfies WakeReason),
          }),
        );
      }
    } catch (error) {
      await stopAll(started, log);
      throw error;
    }
    return started;
  };
  let liveness: Liveness | undefined;
  let switchover: SwitchoverDriver | undefined;
  let loopStarted = false;
  const apiContext = () => ({
    current: () => running,
    facts,
    log,
    ...(switchover
      ? {
          switchover: {
            status: () => switchover!.status(),
            request: (body: unknown) => switchover!.request(body),
          },
        }
      : {}),
  });

  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    if (!spec.agent.enabled) {
      log.warn({
        event: 'agent.mode',
        reason:
          'agent.enabled is false in the spec: keepalived still runs hactl notify and the checks itself; set agent.enabled: true and render the configs again to hand them to the agent',
      });
    }
    const fifoPath = notifyFifoPath(spec.paths.runtime_dir, node.name);
    const fifoState = await prepareFifo(fifoPath);
    loop = new ReconcileLoop({
      current: () => ({ spec: running.spec, node: running.node }),
      log,
      // The witness monitor's account of the peer: a promotion's fence knocks briefly on a dead peer.
      sources: { ...localSources, peerSilence: () => companions.find(isWitnessMonitor)?.peerSilence() },
      periodMs: options.periodMs ?? 5_000,
      intent: () => switchover?.intent() ?? {},
      onTick: (record) => {
        facts.tick(record);
        options.onTick?.(record);
      },
    });
    const theLoop = loop;
    fifo = await openFifo(fifoPath, {
      line(line) {
        if (line.kind === 'state') {
          facts.heard(line.fact);
          theLoop.heard(line.fact);
        } else if (line.kind === 'event') {
          facts.priorityEvent(line.scope, line.name, line.priority);
          log.debug({ event: 'agent.fifo_event', line: line.text });
        } else log.warn({ event: 'agent.fifo_ignored', line: line.text, reason: line.why });
      },
      gap(why) {
        log.warn({
          event: 'agent.fifo_gap',
          reason: `${why}; judging by the VIPs until keepalived speaks again`,
        });
        facts.gap();
        theLoop.gap();
      },
    });
    if (options.liveness ?? true) {
      liveness = await startLiveness({
        runtimeDir: spec.paths.runtime_dir,
        node: node.name,
        heartbeatTimeoutSec: spec.agent.heartbeat_timeout,
        log,
      });
    }
    companions = await startCompanions(running);
    switchover = await SwitchoverDriver.start({
      current: () => running,
      log,
      wake: () => (loopStarted ? theLoop.wake('switchover') : undefined),
    });
    api = await startAgentApiFor(apiContext());
    log.info({
      event: 'agent.started',
      spec: running.path,
      spec_hash: running.hash,
      fifo: fifoPath,
      fifo_created: fifoState === 'created',
      lock: instance.path,
      ...(spec.logging.file
        ? { log_file: 'not used: the agent logs to stderr (notify and check use logging.file)' }
        : {}),
      period_ms: options.periodMs ?? 5_000,
    });
    loop.start();
    loopStarted = true;
    const signal = await stopping;
    log.info({ event: 'agent.stopping', signal });
    await api?.stop();
    api = undefined;
    await switchover.stop();
    fifo.close();
    const finished = await loop.stop(options.stopBoundMs ?? 25_000);
    if (!finished)
      log.warn({ event: 'agent.stopping', reason: 'the tick in flight did not finish in time; left behind' });
    await reloading;
    await stopAll(companions, log);
    companions = [];
    await liveness?.stop(`agent stopped by ${signal}`);
    liveness = undefined;
    log.info({ event: 'agent.stopped', signal });
    return 0;
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    await api?.stop();
    await switchover?.stop();
    fifo?.close();
    void loop?.stop(0);
    // A start that failed half-way (e.g. a check's params) leaves the node unhealthy, never "alive".
    await stopAll(companions, log);
    await liveness?.stop('agent start failed');
    instance.release();
    await closeLog();
  }
}
