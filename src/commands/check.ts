/**
 * hactl check: the command keepalived's vrrp_script spawns every interval. Hot path: node:util
 * parseArgs instead of yargs and only the one check module is imported; no pino (failures are
 * logged by a small writer), the spec loader (yaml, zod) only with --spec.
 *
 * The budget counts from process start and is enforced in layers: the check's AbortSignal fires a
 * little before the deadline; at the deadline the check is abandoned and reported unhealthy
 * (src/bounded/deadline.ts); an in-loop timer exits if reporting (the log line) has not finished a
 * grace later; and a watchdog process (src/bounded/hard-stop.ts) kills this one shortly after,
 * even when the event loop is stuck. src/check-main.ts exits as soon as the verdict is out,
 * whatever sockets still linger.
 */
import { parseArgs } from 'node:util';
import { raceDeadline } from '../bounded/deadline.js';
import { startHardStop, type HardStop, type HardStopText } from '../bounded/hard-stop.js';
import { CheckFailed, ConfigError, UsageError } from '../errors.js';
import { parseSeconds } from '../checks/options.js';
import type { FailureLogTarget } from '../checks/failure-log.js';
import type { CheckFlags, CheckKind, CheckResult, FlagValues } from '../checks/types.js';

type AnyCheck = CheckKind<unknown>;

const KINDS: Record<string, { summary: string; load: () => Promise<AnyCheck> }> = {
  http: {
    summary: 'HTTP(S) request: expected status (and body), redirects not followed',
    load: async () => (await import('../checks/http.js')).httpCheck as AnyCheck,
  },
  tcp: {
    summary: 'TCP connect to host:port',
    load: async () => (await import('../checks/tcp.js')).tcpCheck as AnyCheck,
  },
  process: {
    summary: 'processes by command name (like ps -C), optional restart with backoff',
    load: async () => (await import('../checks/process.js')).processCheck as AnyCheck,
  },
  mysql: {
    summary: 'MySQL/MariaDB answers SELECT 1, optionally in the expected role (read_only)',
    load: async () => (await import('../checks/mysql.js')).mysqlCheck as AnyCheck,
  },
  replication: {
    summary: 'replica threads running, no errors, lag within bounds, or fully caught up',
    load: async () => (await import('../checks/replication.js')).replicationCheck as AnyCheck,
  },
};

/** Below keepalived's default script timeout (1 s when interval and timeout are left at default). */
export const DEFAULT_BUDGET_SECONDS = 0.8;

/** How long `check --spec` may take to load the spec before the hard stop, unless --timeout says. */
const SPEC_LOAD_CEILING_SECONDS = 5;

const CHECK_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;

const COMMON_FLAGS: CheckFlags = {
  timeout: { type: 'string' },
  quiet: { type: 'boolean' },
  'log-file': { type: 'string' },
  'check-name': { type: 'string' },
  'only-while-master': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const SPEC_FLAGS: CheckFlags = {
  timeout: COMMON_FLAGS.timeout!,
  quiet: COMMON_FLAGS.quiet!,
  'log-file': COMMON_FLAGS['log-file']!,
  help: COMMON_FLAGS.help!,
  spec: { type: 'string' },
  node: { type: 'string' },
  all: { type: 'boolean' },
};

async function helpText(): Promise<string> {
  const [{ exampleBlock }, { EXAMPLE_CHECKS }] = await Promise.all([
    import('../checks/spec-args.js'),
    import('../checks/examples.js'),
  ]);
  const width = Math.max(...Object.keys(KINDS).map((kind) => kind.length));
  return `Usage:
  hactl check <kind> [flags]                          one check, flags on the command line
  hactl check --spec FILE [--node NAME] CHECK         one named check from the spec
  hactl check --spec FILE [--node NAME] --all         all of this node's spec checks, concurrently

Kinds:
${Object.entries(KINDS)
  .map(([kind, entry]) => `  ${kind.padEnd(width)}  ${entry.summary}`)
  .join('\n')}

Common flags:
  --timeout SECONDS   total budget, decimal, counted from process start (default ${DEFAULT_BUDGET_SECONDS});
                      keep it ~0.2 s below the vrrp_script timeout: keepalived counts a timeout
                      as a failure and kills the process group. At the budget the check is given
                      up (exit 1); a process still alive ~0.2 s later is killed by a watchdog.
  --quiet             print nothing when healthy (the reason for "unhealthy" always goes to stderr)
  --log-file PATH     append one JSON line (event "check") per failure to PATH, at most 3 at once
                      and then one a minute per check (the line counts the ones left out)
  --check-name NAME   the check's name in messages and log lines (default: the kind)
  --only-while-master STATE_FILE
                      an application only the MASTER runs: run the check only while STATE_FILE
                      (this node's applied-state record, <runtime_dir>/notify-<node>.state.json)
                      says MASTER; otherwise report healthy without running it (spec:
                      only_on_master: true)
  --help              this text; \`hactl check <kind> --help\` lists a kind's flags

Spec mode: CHECK is a name under \`checks:\`; its params are the kind's flags in snake_case, MySQL
checks get --defaults-file/--host/--port/--socket from the spec's mysql section, the budget is the
check's timeout (or interval) minus a margin unless --timeout is given, failures are logged to the
spec's logging.file. --all is healthy only if every check is. Loading the spec costs ~0.1–0.2 s
more than flags on the command line.

Exit status: 0 healthy, 1 unhealthy (one line on stderr saying why), 2 usage or configuration error;
killed (SIGKILL) by the watchdog when the process outlives its budget.

Examples:
  hactl check http --url http://127.0.0.1/health --expect-body ok
  hactl check --spec /etc/hactl/hactl.yaml --all

Example keepalived.conf block, as \`hactl render-config\` writes it:
${exampleBlock(EXAMPLE_CHECKS.http)}`;
}

function parse(args: string[], options: CheckFlags, hint: string, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    const message = (error as Error).message.split('. ')[0] ?? String(error);
    throw new UsageError(message, hint);
  }
}

async function loadKind(kind: string): Promise<AnyCheck> {
  const entry = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (!entry) {
    throw new UsageError(
      `unknown check kind "${kind}"`,
      `kinds: ${Object.keys(KINDS).join(', ')}; see \`hactl check --help\``,
    );
  }
  return entry.load();
}

function budgetMs(text: string | undefined, fallbackSeconds: number): number {
  return text === undefined
    ? Math.round(fallbackSeconds * 1000)
    : parseSeconds(text, 'timeout', { min: 0.05, max: 3600 });
}

/** One line, whatever the check or the OS put in the message. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

interface Run {
  label: string;
  kind: string;
  check: AnyCheck;
  options: unknown;
  /** On the performance.now() clock: ms since process start. */
  deadlineMs: number;
}

/** Time the check keeps after its signal aborted, to close and say why (≤ 0.1 s). */
function graceMs(deadlineMs: number): number {
  return Math.max(0, Math.min(100, deadlineMs / 8));
}

function budgetText(deadlineMs: number): string {
  return `check budget of ${Math.round(deadlineMs) / 1000} s used up`;
}

/**
 * Runs the checks concurrently, each raced against its own deadline: its signal aborts `grace`
 * before it, and half a grace before it the check is abandoned and counted unhealthy.
 */
function runChecks(runs: Run[]): Promise<CheckResult[]> {
  return Promise.all(
    runs.map((run) => {
      const grace = graceMs(run.deadlineMs);
      return raceDeadline((signal) => run.check.run(run.options, signal, run.deadlineMs - grace), {
        deadlineMs: run.deadlineMs - grace / 2,
        graceMs: grace / 2,
        reason: () => new Error(budgetText(run.deadlineMs)),
        onTimeout: (why) => ({
          healthy: false,
          detail: `no result: ${why instanceof Error ? why.message : budgetText(run.deadlineMs)}`,
        }),
      });
    }),
  );
}

interface Common {
  quiet: boolean;
  logFile: string | undefined;
  /** What names the log file in messages: --log-file, or the spec field. */
  logFileField: string;
  base: Record<string, unknown> | undefined;
}

async function logFailures(runs: Run[], results: CheckResult[], common: Common): Promise<void> {
  const file = common.logFile;
  if (file === undefined || results.every((result) => result.healthy)) return;
  const { logFailure } = await import('../checks/failure-log.js');
  const durationMs = performance.now();
  // A check given up at its deadline still gets its line: writing goes on until the in-loop exit.
  const deadlineMs = lastExitMs(runs) - 5;
  const problems = await raceDeadline(
    () =>
      Promise.all(
        results.map((result, i) =>
          result.healthy
            ? undefined
            : logFailure(
                { file, check: runs[i]!.label, ...(common.base ? { base: common.base } : {}) },
                {
                  kind: runs[i]!.kind,
                  detail: oneLine(result.detail),
                  durationMs,
                  budgetMs: Math.round(runs[i]!.deadlineMs),
                },
                common.logFileField,
              ),
        ),
      ),
    {
      deadlineMs,
      reason: () => new Error('budget used up'),
      onTimeout: () => [`not logged to ${common.logFileField}: the budget was used up first`],
    },
  );
  // Never changes the verdict: say it on stderr (for whoever reads it) and carry on.
  for (const problem of new Set(problems)) if (problem) process.stderr.write(`hactl: warning: ${problem}\n`);
}

async function report(runs: Run[], results: CheckResult[], common: Common): Promise<number> {
  await logFailures(runs, results, common);
  const failed = results.flatMap((result, i) =>
    result.healthy ? [] : [`${runs[i]!.label}: ${oneLine(result.detail)}`],
  );
  if (failed.length === 1) throw new CheckFailed(failed[0]!);
  if (failed.length > 1)
    throw new CheckFailed(`${failed.length} of ${results.length} checks unhealthy: ${failed.join('; ')}`);
  if (!common.quiet) {
    for (const [i, result] of results.entries())
      process.stdout.write(`ok ${runs[i]!.label}: ${oneLine(result.detail)}\n`);
  }
  return 0;
}

let hardStop: HardStop | undefined;

/**
 * The watchdog fires a little after the last deadline, so the in-loop paths get the first word on
 * a merely slow machine, and before keepalived's own kill (its timeout is the budget + 0.25 s).
 */
function hardStopAt(deadlineMs: number): number {
  return deadlineMs + Math.min(200, deadlineMs / 4);
}

function armHardStop(deadlineMs: number, text: HardStopText): void {
  const at = hardStopAt(deadlineMs);
  if (hardStop) hardStop.update(at, text);
  else hardStop = startHardStop(at, text);
}

async function hardStopText(runs: Run[], common: Common): Promise<HardStopText> {
  const label = runs.map((run) => run.label).join(', ');
  const deadlineMs = Math.max(...runs.map((run) => run.deadlineMs));
  const detail = `still running {elapsed} ms after start, past the ${budgetText(deadlineMs).replace(' used up', '')} (event loop or exit blocked); killed by the hard stop`;
  const text: HardStopText = { stderr: `hactl: ${label}: ${detail}\n` };
  if (common.logFile !== undefined) {
    const { failureLine } = await import('../checks/failure-log.js');
    const target: FailureLogTarget = {
      file: common.logFile,
      check: runs.length === 1 ? runs[0]!.label : label,
      ...(common.base ? { base: common.base } : {}),
    };
    text.logFile = common.logFile;
    text.logLine = failureLine(
      target,
      { kind: runs.map((run) => run.kind).join(','), detail, budgetMs: Math.round(deadlineMs) },
      { time: '{time}', durationMs: '{elapsed}', suppressed: 0 },
    );
  }
  return text;
}

/** When the process exits from inside the loop at the latest: a grace after the last deadline. */
function lastExitMs(runs: Run[]): number {
  const deadlineMs = Math.max(...runs.map((run) => run.deadlineMs));
  return deadlineMs + graceMs(deadlineMs);
}

/** Exits from inside the loop if reporting (the log line included) has not finished in time. */
function exitAtDeadline(runs: Run[]): NodeJS.Timeout {
  const exitMs = lastExitMs(runs);
  return setTimeout(
    () => {
      const label = runs.map((run) => run.label).join(', ');
      process.stderr.write(
        `hactl: ${label}: no verdict within the budget (${Math.round(performance.now())} ms since start); giving up\n`,
      );
      process.exit(1);
    },
    Math.max(0, exitMs - performance.now()),
  );
}

async function execute(runs: Run[], common: Common): Promise<number> {
  armHardStop(Math.max(...runs.map((run) => run.deadlineMs)), await hardStopText(runs, common));
  const timer = exitAtDeadline(runs);
  try {
    return await report(runs, await runChecks(runs), common);
  } finally {
    clearTimeout(timer);
  }
}

/** Loaded only for checks that ask for it: a spawned check's path stays lean. */
async function masterOnly(check: AnyCheck, stateFile: string): Promise<AnyCheck> {
  const { onlyWhileMaster } = await import('../checks/master-only.js');
  return onlyWhileMaster(check, stateFile);
}

function checkName(text: string | undefined, fallback: string): string {
  if (text === undefined) return fallback;
  if (!CHECK_NAME.test(text)) {
    throw new UsageError(
      `--check-name ${JSON.stringify(text)} is not a check name`,
      'a letter, then up to 31 letters, digits, "_", "-" or "." (it also names the log state file)',
    );
  }
  return text;
}

async function kindMode(kind: string, args: string[]): Promise<number> {
  const check = await loadKind(kind);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(check.usage + '\n');
    return 0;
  }
  const hint = `run \`hactl check ${kind} --help\` for the flags`;
  const { values } = parse(args, { ...check.flags, ...COMMON_FLAGS }, hint);
  const flags = values as FlagValues;
  const deadlineMs = budgetMs(flags.timeout as string | undefined, DEFAULT_BUDGET_SECONDS);
  const label = checkName(flags['check-name'] as string | undefined, kind);
  const options = check.fromFlags(flags);
  const stateFile = flags['only-while-master'] as string | undefined;
  const gated = stateFile === undefined ? check : await masterOnly(check, stateFile);
  const common: Common = {
    quiet: flags.quiet === true,
    logFile: flags['log-file'] as string | undefined,
    logFileField: '--log-file',
    base: undefined,
  };
  return execute([{ label, kind, check: gated, options, deadlineMs }], common);
}

async function specMode(args: string[]): Promise<number> {
  const hint = 'usage: hactl check --spec FILE [--node NAME] (CHECK | --all); see `hactl check --help`';
  const { values, positionals } = parse(args, SPEC_FLAGS, hint, true);
  if (values.help) {
    process.stdout.write((await helpText()) + '\n');
    return 0;
  }
  if (typeof values.spec !== 'string') {
    throw new UsageError('which check? give a kind, or --spec FILE with a check name or --all', hint);
  }
  if (values.all ? positionals.length > 0 : positionals.length !== 1) {
    throw new UsageError('give exactly one check name, or --all (not both)', hint);
  }
  const timeout = values.timeout as string | undefined;
  // Loading the spec is bounded too: until the checks' own deadlines are known, by a ceiling.
  const ceilingMs = budgetMs(timeout, SPEC_LOAD_CEILING_SECONDS);
  hardStop = startHardStop(hardStopAt(ceilingMs), {
    stderr: `hactl: check --spec ${values.spec}: still running {elapsed} ms after start, before its checks began; killed by the hard stop\n`,
  });
  const [{ loadSpec, findNode }, { checksForNode }, { checkArgs, checkBudgetSeconds }] = await Promise.all([
    import('../spec/load.js'),
    import('../keepalived/model.js'),
    import('../checks/spec-args.js'),
  ]);
  const { spec } = loadSpec(values.spec);
  const node = findNode(spec, values.node as string | undefined);
  const mine = checksForNode(spec, node.name);
  const wanted = values.all ? mine : mine.filter((check) => check.name === positionals[0]);
  if (wanted.length === 0) {
    const known = mine.map((check) => check.name).join(', ') || 'none';
    throw new ConfigError(
      values.all
        ? `node ${node.name} has no checks in ${values.spec}`
        : `node ${node.name} has no check named ${JSON.stringify(positionals[0])} in ${values.spec} (its checks: ${known})`,
    );
  }
  const runs: Run[] = await Promise.all(
    wanted.map(async (specCheck) => {
      const [kind, ...flagArgs] = checkArgs(spec, specCheck);
      const check = await loadKind(kind!);
      const parsed = parse(
        flagArgs,
        check.flags,
        `check "${specCheck.name}" in ${values.spec} has params that \`hactl check ${kind}\` does not take`,
      );
      let options: unknown;
      try {
        options = check.fromFlags(parsed.values as FlagValues);
      } catch (error) {
        throw new ConfigError(`check "${specCheck.name}" in ${values.spec}: ${(error as Error).message}`);
      }
      const gated = specCheck.only_on_master
        ? await masterOnly(
            check,
            (await import('../cluster/applied-state.js')).appliedStatePath(spec.paths.runtime_dir, node.name),
          )
        : check;
      return {
        label: specCheck.name,
        kind: kind!,
        check: gated,
        options,
        deadlineMs: budgetMs(timeout, checkBudgetSeconds(specCheck)),
      };
    }),
  );
  const flagLog = values['log-file'] as string | undefined;
  const common: Common = {
    quiet: values.quiet === true,
    logFile: flagLog ?? spec.logging.file,
    logFileField: flagLog === undefined ? `logging.file in ${values.spec}` : '--log-file',
    base: { cluster: spec.cluster, node: node.name },
  };
  return execute(runs, common);
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    throw new UsageError('which check? give a kind or --spec FILE', 'see `hactl check --help`');
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write((await helpText()) + '\n');
    return 0;
  }
  return first.startsWith('-') ? specMode(argv) : kindMode(first, rest);
}
