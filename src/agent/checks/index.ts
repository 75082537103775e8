/**
 * The agent's health checks, in-process: every spec check that applies to this node runs on its
 * own timer (fixed rate, like keepalived's vrrp_script; sub-second intervals work) through the same
 * check modules `hactl check` uses, is judged by keepalived's fall/rise rule, and feeds keepalived
 * through its track file (src/agent/contract.ts), written atomically and only when the value
 * changes (and once, for the first result, whatever the file held before).
 *
 * Time budget: a run gets the check's timeout. Its AbortSignal fires a little before; at the
 * timeout the run is abandoned and counted as a failure, and a late result is ignored. A run that
 * ignores its signal is never joined by a second one: each tick while it is still out counts as one
 * more failure (so `fall` still turns a stuck check KO), and the next run starts only once it has
 * returned.
 */
import { appliedStatePath } from '../../cluster/applied-state.js';
import { onlyWhileMaster } from '../../checks/master-only.js';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { raceDeadline } from '../../bounded/deadline.js';
import { checkArgs, scriptTimeout } from '../../checks/spec-args.js';
import { REFILL_MS, takeToken } from '../../checks/failure-log.js';
import type { CheckKind, CheckResult, FlagValues } from '../../checks/types.js';
import { ConfigError } from '../../errors.js';
import { problemWithUserPath } from '../../fs/user-path.js';
import type { CheckSpec } from '../../spec/checks-schema.js';
import type { Spec } from '../../spec/schema.js';
import { checkTrackFile, checkTrackValue, trackFileText } from '../contract.js';
import { INITIAL, nextState, type FallRiseState } from './fall-rise.js';
import { ensureTrackDir, writeTrackValue } from './track-write.js';

type AnyCheck = CheckKind<unknown>;

/** What the runner logs through: pino's Logger fits. */
export interface AgentLog {
  info(fields: Record<string, unknown>, message?: string): void;
  warn(fields: Record<string, unknown>, message?: string): void;
  error(fields: Record<string, unknown>, message?: string): void;
}

export type KindLoaders = Record<string, () => Promise<AnyCheck>>;

/** The five kinds of src/checks/, each loaded only if a check of that kind runs here. */
export const CHECK_KINDS: KindLoaders = {
  http: async () => (await import('../../checks/http.js')).httpCheck as AnyCheck,
  tcp: async () => (await import('../../checks/tcp.js')).tcpCheck as AnyCheck,
  process: async () => (await import('../../checks/process.js')).processCheck as AnyCheck,
  mysql: async () => (await import('../../checks/mysql.js')).mysqlCheck as AnyCheck,
  replication: async () => (await import('../../checks/replication.js')).replicationCheck as AnyCheck,
};

/** One check as `hactl status` shows it. */
export interface CheckStatus {
  name: string;
  kind: string;
  /** After fall/rise: what keepalived is told. null until the first result. */
  ok: boolean | null;
  /** The last run's own verdict, before fall/rise. */
  lastHealthy: boolean | null;
  /** The last run's one-line detail (why it failed, or what it saw). */
  reason: string;
  latencyMs: number | null;
  /** Successes / failures in a row. */
  successes: number;
  failures: number;
  /** When the last result came in (ISO 8601), null before the first. */
  lastRunAt: string | null;
  runs: number;
  intervalMs: number;
  timeoutMs: number;
  trackFile: string;
  /** The value last written to the track file, null before the first write. */
  trackValue: number | null;
}

export interface CheckRunnerOptions {
  spec: Pick<Spec, 'checks' | 'mysql' | 'paths'>;
  /** This node (its name, or the node object): only the checks that apply to it run. */
  node: string | { name: string };
  /** Where the track files go (normally spec.paths.runtime_dir). */
  runtimeDir: string;
  log: AgentLog;
  /** Called when a check's OK/KO (after fall/rise) changes, the first result included. */
  onChange?: (status: CheckStatus) => void;
  /** Check kinds by name (default CHECK_KINDS); tests add kinds that misbehave on purpose. */
  kinds?: KindLoaders;
}

export interface CheckRunner {
  /** Stops every timer, abandons runs in flight and waits for pending track writes. */
  stop(): Promise<void>;
  snapshot(): CheckStatus[];
}

interface Entry {
  spec: CheckSpec;
  check: AnyCheck;
  options: unknown;
  file: string;
  intervalMs: number;
  timeoutMs: number;
  state: FallRiseState;
  lastHealthy: boolean | null;
  reason: string;
  latencyMs: number | null;
  lastRunAt: number | null;
  runs: number;
  /** Waiting for raceDeadline's verdict (the result or the timeout). */
  inFlight: boolean;
  /** The check's own promise has not settled (may outlive inFlight when it ignores its signal). */
  running: boolean;
  abandonedAt: number;
  /** A look at the file (is it still what we wrote?) is queued. */
  verifying: boolean;
  written: number | null;
  writing: Promise<void>;
  logBucket: { tokens: number; at: number; suppressed: number } | undefined;
  writeErrorLoggedAt: number;
  timer: NodeJS.Timeout | undefined;
}

function nodeName(node: CheckRunnerOptions['node']): string {
  return typeof node === 'string' ? node : node.name;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function seconds(ms: number): string {
  return `${Math.round(ms) / 1000} s`;
}

async function prepare(
  options: CheckRunnerOptions,
  specCheck: CheckSpec,
  index: number,
): Promise<Pick<Entry, 'check' | 'options'>> {
  const where = `checks[${index}] (${JSON.stringify(specCheck.name)})`;
  const [kind, ...flagArgs] = checkArgs(options.spec, specCheck);
  const loaders = options.kinds ?? CHECK_KINDS;
  const load = kind !== undefined && Object.hasOwn(loaders, kind) ? loaders[kind] : undefined;
  if (!load) {
    throw new ConfigError(
      `${where}: unknown check kind ${JSON.stringify(kind)}; kinds: ${Object.keys(loaders).join(', ')}`,
    );
  }
  const check = await load();
  try {
    const { values } = parseArgs({ args: flagArgs, options: check.flags, strict: true });
    const gated = specCheck.only_on_master
      ? onlyWhileMaster(
          check,
          appliedStatePath(
            options.spec.paths.runtime_dir,
            typeof options.node === 'string' ? options.node : options.node.name,
          ),
        )
      : check;
    return { check: gated, options: gated.fromFlags(values as FlagValues) };
  } catch (error) {
    const message = (error as Error).message.split('. ')[0] ?? String(error);
    throw new ConfigError(
      `${where}.params: ${message}; fix the check in the spec (see hactl check ${kind} --help)`,
    );
  }
}

function statusOf(entry: Entry): CheckStatus {
  return {
    name: entry.spec.name,
    kind: entry.check.kind,
    ok: entry.state.ok,
    lastHealthy: entry.lastHealthy,
    reason: entry.reason,
    latencyMs: entry.latencyMs,
    successes: entry.state.successes,
    failures: entry.state.failures,
    lastRunAt: entry.lastRunAt === null ? null : new Date(entry.lastRunAt).toISOString(),
    runs: entry.runs,
    intervalMs: entry.intervalMs,
    timeoutMs: entry.timeoutMs,
    trackFile: entry.file,
    trackValue: entry.written,
  };
}

/**
 * Starts every check of `spec` that applies to `node`. Throws ConfigError (naming the check) when
 * a check's params do not make valid options or the runtime directory is unusable; nothing runs then.
 */
export async function startCheckRunner(options: CheckRunnerOptions): Promise<CheckRunner> {
  const name = nodeName(options.node);
  const problem = await problemWithUserPath(options.runtimeDir, 'paths.runtime_dir');
  if (problem) throw new ConfigError(`${problem}; the agent writes its track files below it`);
  const mine = options.spec.checks
    .map((check, index) => ({ check, index }))
    .filter(({ check }) => check.nodes === undefined || check.nodes.includes(name));
  const entries: Entry[] = await Promise.all(
    mine.map(async ({ check, index }) => ({
      ...(await prepare(options, check, index)),
      spec: check,
      file: checkTrackFile(options.runtimeDir, name, check.name),
      intervalMs: Math.max(10, Math.round(check.interval * 1000)),
      timeoutMs: Math.max(10, Math.round(scriptTimeout(check) * 1000)),
      state: INITIAL,
      lastHealthy: null,
      reason: 'not run yet',
      latencyMs: null,
      lastRunAt: null,
      runs: 0,
      inFlight: false,
      running: false,
      abandonedAt: 0,
      written: null,
      verifying: false,
      writing: Promise.resolve(),
      logBucket: undefined,
      writeErrorLoggedAt: Number.NEGATIVE_INFINITY,
      timer: undefined,
    })),
  );
  if (entries.length > 0) {
    try {
      await ensureTrackDir(entries[0]!.file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ConfigError(
        `paths.runtime_dir ${JSON.stringify(options.runtimeDir)}: cannot create the track directory (${code})`,
      );
    }
  }

  const stopping = new AbortController();
  const { log } = options;

  const writeValue = (entry: Entry, value: number) => {
    entry.written = value;
    entry.writing = entry.writing.then(async () => {
      if (stopping.signal.aborted) return;
      try {
        await writeTrackValue(entry.file, value);
      } catch (error) {
        // Unknown on disk now: the next result writes again.
        entry.written = null;
        const now = performance.now();
        if (now - entry.writeErrorLoggedAt >= REFILL_MS) {
          entry.writeErrorLoggedAt = now;
          log.error(
            {
              event: 'track-write',
              check: entry.spec.name,
              file: entry.file,
              code: (error as NodeJS.ErrnoException).code,
            },
            `cannot write the track file of check ${entry.spec.name}; keepalived keeps the previous value`,
          );
        }
      }
    });
  };

  /**
   * keepalived rewrites every track file to its init_file value whenever it starts (init_file …
   * overwrite: FAULT until the agent speaks). A value the agent wrote before that start would
   * then never come back while the check's verdict stays the same, leaving the node in FAULT (seen
   * in the lab: the agent starts before keepalived). So a run that changes nothing still checks the
   * file and writes the value again if it differs. One small read per run; skipped while a write or
   * an earlier look is pending.
   */
  const reassert = (entry: Entry, value: number) => {
    if (entry.verifying) return;
    entry.verifying = true;
    entry.writing = entry.writing.then(async () => {
      try {
        if (stopping.signal.aborted || entry.written !== value) return;
        let onDisk: string | undefined;
        try {
          onDisk = await readFile(entry.file, { encoding: 'utf8', signal: AbortSignal.timeout(1_000) });
        } catch {
          onDisk = undefined;
        }
        if (onDisk === trackFileText(value) || stopping.signal.aborted) return;
        log.info(
          {
            event: 'track-reset',
            check: entry.spec.name,
            file: entry.file,
            found: onDisk === undefined ? 'missing or unreadable' : onDisk.trim().slice(0, 20),
            value,
          },
          `the track file of check ${entry.spec.name} no longer held ${value} (keepalived restarted?): written again`,
        );
        writeValue(entry, value);
      } finally {
        entry.verifying = false;
      }
    });
  };

  const logFailure = (entry: Entry, detail: string, durationMs: number | null) => {
    const decision = takeToken(entry.logBucket, Date.now());
    entry.logBucket = decision.next;
    if (!decision.log) return;
    log.warn(
      {
        event: 'check',
        check: entry.spec.name,
        kind: entry.check.kind,
        healthy: false,
        detail,
        duration_ms: durationMs === null ? null : Math.round(durationMs),
        timeout_ms: entry.timeoutMs,
        suppressed: decision.suppressed,
      },
      `check ${entry.spec.name} failed: ${detail}`,
    );
  };

  const record = (entry: Entry, healthy: boolean, detail: string, latencyMs: number | null) => {
    if (stopping.signal.aborted) return;
    entry.runs++;
    entry.lastRunAt = Date.now();
    entry.lastHealthy = healthy;
    entry.reason = detail;
    entry.latencyMs = latencyMs === null ? null : Math.round(latencyMs * 10) / 10;
    const before = entry.state.ok;
    entry.state = nextState(entry.state, healthy, entry.spec);
    if (!healthy) logFailure(entry, detail, latencyMs);
    const ok = entry.state.ok!;
    if (before !== ok) {
      log.info(
        {
          event: 'check-state',
          check: entry.spec.name,
          ok,
          was: before,
          successes: entry.state.successes,
          failures: entry.state.failures,
          detail,
        },
        before === null
          ? `check ${entry.spec.name} starts ${ok ? 'OK' : 'KO'}: ${detail}`
          : ok
            ? `check ${entry.spec.name} OK again after ${entry.state.successes} success(es): ${detail}`
            : `check ${entry.spec.name} KO after ${entry.state.failures} failure(s): ${detail}`,
      );
      try {
        options.onChange?.(statusOf(entry));
      } catch (error) {
        log.error({ event: 'check-state', check: entry.spec.name, err: error }, 'onChange threw');
      }
    }
    const value = checkTrackValue(entry.spec.weight, ok);
    if (value !== entry.written) writeValue(entry, value);
    else reassert(entry, value);
  };

  const run = async (entry: Entry) => {
    entry.inFlight = true;
    entry.running = true;
    const start = performance.now();
    const deadline = start + entry.timeoutMs;
    const grace = Math.min(100, entry.timeoutMs / 8);
    const budget = `timeout of ${seconds(entry.timeoutMs)}`;
    let result: CheckResult;
    try {
      result = await raceDeadline(
        (signal) => {
          let work: Promise<CheckResult>;
          try {
            work = entry.check.run(entry.options, signal, deadline - grace);
          } catch (error) {
            work = Promise.reject(error as Error);
          }
          const settled = () => {
            entry.running = false;
          };
          work.then(settled, settled);
          return work;
        },
        {
          deadlineMs: deadline,
          graceMs: grace,
          signal: stopping.signal,
          reason: () => new Error(`${budget} used up`),
          onTimeout: () => {
            entry.abandonedAt = performance.now();
            return { healthy: false, detail: `no result within the ${budget}: abandoned` };
          },
        },
      );
    } catch (error) {
      // A check throws only for a configuration problem (e.g. an unreadable credentials file).
      result = { healthy: false, detail: `cannot run: ${(error as Error).message}` };
    }
    entry.inFlight = false;
    record(entry, result.healthy, oneLine(result.detail), performance.now() - start);
  };

  const tick = (entry: Entry) => {
    if (stopping.signal.aborted || entry.inFlight) return;
    if (entry.running) {
      const ms = performance.now() - entry.abandonedAt;
      record(
        entry,
        false,
        `the run abandoned ${Math.round(ms)} ms ago (${seconds(entry.timeoutMs)} timeout) has still not returned; no new run until it does`,
        null,
      );
      return;
    }
    void run(entry);
  };

  for (const entry of entries) {
    entry.timer = setInterval(() => tick(entry), entry.intervalMs);
    tick(entry);
  }
  log.info(
    {
      event: 'checks-start',
      node: name,
      checks: entries.map((entry) => entry.spec.name),
    },
    entries.length === 0
      ? `no checks for node ${name}`
      : `running ${entries.length} check(s) in-process: ${entries
          .map((entry) => `${entry.spec.name} every ${seconds(entry.intervalMs)}`)
          .join(', ')}`,
  );

  return {
    async stop() {
      stopping.abort(new Error('the agent is stopping'));
      for (const entry of entries) clearInterval(entry.timer);
      await Promise.all(entries.map((entry) => entry.writing));
    },
    snapshot: () => entries.map(statusOf),
  };
}
