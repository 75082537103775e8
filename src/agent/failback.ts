/**
 * The agent's half of `failback: after-catch-up`: once a second it looks at this node's VIPs and
 * asks its database whether it has caught up (the replication check with --caught-up, in-process),
 * judges with the pure rule in src/cluster/failback-gate.ts, and writes the number of points
 * keepalived must take off this node's priority to the failback track file. keepalived preempts
 * once the value is 0. Opening the gate for a returning node is recorded (state_dir) for the
 * anti-flap cooldown.
 */
import { parseArgs } from 'node:util';
import { raceDeadline } from '../bounded/deadline.js';
import { checkArgs } from '../checks/spec-args.js';
import type { CheckKind, CheckResult, FlagValues } from '../checks/types.js';
import { failbackGate, type FailbackGate } from '../cluster/failback-gate.js';
import { readLastFailback, recordFailback } from '../cluster/failback-record.js';
import { vipHolding } from '../cluster/vips.js';
import type { CheckSpec } from '../spec/checks-schema.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import type { AgentLog } from './checks/index.js';
import { ensureTrackDir, readTrackValue, writeTrackValue } from './checks/track-write.js';
import { failbackTrackFile } from './contract.js';
import { repeatEvery } from '../bounded/repeat.js';

const EVERY_MS = 1_000;
const PROBE_BUDGET_MS = 2_000;

export interface FailbackGateRunner {
  stop(): Promise<void>;
  /** The last judgement (undefined before the first, or when the spec does not ask for the gate). */
  current(): FailbackGate | undefined;
}

/**
 * The replication check that decides "caught up": threads running, lag 0, everything received
 * applied. Of the local database, or of the one at `at` (the proxy upkeep asks it of the standby).
 */
export function caughtUpProbe(
  spec: Spec,
  at?: { host: string; port: number },
): Promise<{ check: CheckKind<unknown>; options: unknown }> {
  const probe = {
    name: 'failback-gate',
    kind: 'replication',
    params: {
      max_lag: 0,
      caught_up: true,
      ...(at ? { defaults_file: spec.mysql?.credentials_file, host: at.host, port: at.port } : {}),
    },
    interval: 1,
    timeout: 1,
    fall: 1,
    rise: 1,
    weight: 0,
  } as unknown as CheckSpec;
  const [, ...flagArgs] = checkArgs(spec, probe);
  return import('../checks/replication.js').then(({ replicationCheck }) => {
    const check = replicationCheck as CheckKind<unknown>;
    const { values } = parseArgs({ args: flagArgs, options: check.flags, strict: true });
    return { check, options: check.fromFlags(values as FlagValues) };
  });
}

export async function startFailbackGate(context: {
  spec: Spec;
  node: NodeSpec;
  log: AgentLog;
}): Promise<FailbackGateRunner> {
  const { spec, node, log } = context;
  if (spec.failback !== 'after-catch-up') {
    return { stop: () => Promise.resolve(), current: () => undefined };
  }
  const file = failbackTrackFile(spec.paths.runtime_dir, node.name);
  await ensureTrackDir(file);
  const { check, options } = await caughtUpProbe(spec);
  const peers = spec.nodes.filter((other) => other.name !== node.name);
  let lastOpenedAt = await readLastFailback(spec.paths.state_dir, node.name, Date.now());
  let written: number | undefined;
  let judged: FailbackGate | undefined;
  let stopped = false;

  const judge = async (): Promise<void> => {
    const vips = vipHolding(spec);
    let caughtUp: CheckResult;
    try {
      caughtUp = await raceDeadline<CheckResult>((signal) => check.run(options, signal), {
        deadlineMs: performance.now() + PROBE_BUDGET_MS,
        reason: () => new Error(`no answer within ${PROBE_BUDGET_MS / 1000} s`),
        onTimeout: () => ({
          healthy: false,
          detail: `its database gave no answer within ${PROBE_BUDGET_MS / 1000} s`,
        }),
      });
    } catch (error) {
      caughtUp = { healthy: false, detail: (error as Error).message };
    }
    const now = Date.now();
    const gate = failbackGate({
      self: { name: node.name, priority: node.priority },
      peers: peers.map((peer) => ({ name: peer.name, priority: peer.priority })),
      holdsEveryVip: vips.missing.length === 0,
      caughtUp: { ok: caughtUp.healthy, detail: caughtUp.detail },
      lastOpenedAt,
      now,
    });
    if (stopped) return;
    // keepalived resets the file to its start value whenever it starts (init_file … overwrite).
    const onDisk = await readTrackValue(file, AbortSignal.timeout(PROBE_BUDGET_MS));
    if (gate.value === written && onDisk !== gate.value) {
      await writeTrackValue(file, gate.value);
      log.info({ event: 'agent.failback_rewritten', value: gate.value, found: onDisk });
    }
    if (gate.value !== written) {
      const handingBack = gate.open && written !== undefined && written > 0 && vips.missing.length > 0;
      if (handingBack) {
        lastOpenedAt = now;
        await recordFailback(spec.paths.state_dir, node.name, now).catch((error: unknown) =>
          log.error({ event: 'agent.failback_record', reason: (error as Error).message }),
        );
      }
      await writeTrackValue(file, gate.value);
      log.info({
        event: gate.open ? 'agent.failback_open' : 'agent.failback_shut',
        value: gate.value,
        reason: gate.reason,
      });
      written = gate.value;
    }
    judged = gate;
  };
  const rounds = repeatEvery(judge, {
    everyMs: EVERY_MS,
    onError: (error) => log.error({ event: 'agent.failback_gate', reason: (error as Error).message }),
  });
  return {
    async stop() {
      stopped = true;
      await rounds.stop();
    },
    current: () => judged,
  };
}
