/**
 * hactl check: the command keepalived's vrrp_script spawns every interval. Hot path: node:util
 * parseArgs instead of yargs and only the one check module is imported; pino only with
 * --log-file, the spec loader (yaml, zod) only with --spec. The budget counts from process start
 * and is enforced twice: an AbortSignal the check honours, then a hard timer that exits anyway.
 */
import { parseArgs } from 'node:util';
import { CheckFailed, ConfigError, UsageError } from '../errors.js';
import { parseSeconds } from '../checks/options.js';
import type { CheckFlags, CheckKind, CheckResult, FlagValues } from '../checks/types.js';
import type { Logger } from '../log.js';

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

const COMMON_FLAGS: CheckFlags = {
  timeout: { type: 'string' },
  quiet: { type: 'boolean' },
  'log-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const SPEC_FLAGS: CheckFlags = {
  ...COMMON_FLAGS,
  spec: { type: 'string' },
  node: { type: 'string' },
  all: { type: 'boolean' },
};

function helpText(): string {
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
                      as a failure and kills the process group
  --quiet             print nothing when healthy (the reason for "unhealthy" always goes to stderr)
  --log-file PATH     append one JSON line per run (event "check") to PATH
  --help              this text; \`hactl check <kind> --help\` lists a kind's flags

Spec mode: CHECK is a name under \`checks:\`; its params are the kind's flags in snake_case, MySQL
checks get --defaults-file/--host/--port/--socket from the spec's mysql section, the budget is the
check's timeout (or interval) minus a margin unless --timeout is given. --all is healthy only if
every check is. Loading the spec costs ~0.1–0.2 s more than flags on the command line.

Exit status: 0 healthy, 1 unhealthy (one line on stderr saying why), 2 usage or configuration error.

Example keepalived.conf block (what \`hactl render-config\` emits):
  vrrp_script chk_nginx {
      script "/usr/local/bin/hactl check http --url http://127.0.0.1/ --expect-status 200 --timeout 1.75 --quiet"
      interval 2
      timeout 2
      fall 2
      rise 2
      weight 0
  }`;
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
  check: AnyCheck;
  options: unknown;
  deadlineMs: number;
}

/**
 * Runs the checks, each with its own AbortSignal at its deadline (ms since process start). A
 * hard timer at the last deadline ends the process even if a check ignores its signal.
 */
async function runAll(runs: Run[], onHardTimeout: () => void): Promise<CheckResult[]> {
  const timers: NodeJS.Timeout[] = [];
  const last = Math.max(...runs.map((run) => run.deadlineMs));
  const hard = setTimeout(onHardTimeout, Math.max(0, last - performance.now()));
  try {
    return await Promise.all(
      runs.map((run) => {
        const controller = new AbortController();
        // Leave the check a little time to close its sockets and say why before the hard stop.
        const grace = Math.min(100, (run.deadlineMs - performance.now()) / 8);
        const remaining = Math.max(0, run.deadlineMs - grace - performance.now());
        const seconds = Math.round(run.deadlineMs) / 1000;
        timers.push(
          setTimeout(() => controller.abort(new Error(`check budget of ${seconds} s used up`)), remaining),
        );
        return run.check.run(run.options, controller.signal);
      }),
    );
  } finally {
    clearTimeout(hard);
    for (const timer of timers) clearTimeout(timer);
  }
}

interface Common {
  quiet: boolean;
  logFile: string | undefined;
}

async function report(
  labels: string[],
  results: CheckResult[],
  common: Common,
  logger: Promise<Logger> | undefined,
): Promise<number> {
  if (logger) {
    const log = await logger;
    results.forEach((result, i) =>
      log.info({
        event: 'check',
        check: labels[i],
        healthy: result.healthy,
        detail: result.detail,
        elapsed_ms: Math.round(performance.now()),
      }),
    );
  }
  const failed = results.flatMap((result, i) =>
    result.healthy ? [] : [`${labels[i]}: ${oneLine(result.detail)}`],
  );
  if (failed.length === 1) throw new CheckFailed(failed[0]!);
  if (failed.length > 1)
    throw new CheckFailed(`${failed.length} of ${results.length} checks unhealthy: ${failed.join('; ')}`);
  if (!common.quiet) {
    for (const [i, result] of results.entries())
      process.stdout.write(`ok ${labels[i]}: ${oneLine(result.detail)}\n`);
  }
  return 0;
}

function startLogger(file: string | undefined): Promise<Logger> | undefined {
  if (file === undefined) return undefined;
  return import('../log.js').then(({ createLogger }) => createLogger({ file, base: { command: 'check' } }));
}

function hardTimeout(labels: string[], logger: Promise<Logger> | undefined): () => void {
  let log: Logger | undefined;
  void logger?.then(
    (loaded) => (log = loaded),
    () => undefined,
  );
  return () => {
    const line = `${labels.join(', ')}: no result within the budget (${Math.round(performance.now())} ms since start); giving up`;
    log?.warn({ event: 'check', check: labels.join(','), healthy: false, detail: line });
    process.stderr.write(`hactl: ${line}\n`);
    process.exit(1);
  };
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
  const options = check.fromFlags(flags);
  const common: Common = { quiet: flags.quiet === true, logFile: flags['log-file'] as string | undefined };
  const logger = startLogger(common.logFile);
  const deadlineMs = budgetMs(flags.timeout as string | undefined, DEFAULT_BUDGET_SECONDS);
  const results = await runAll([{ label: kind, check, options, deadlineMs }], hardTimeout([kind], logger));
  return report([kind], results, common, logger);
}

async function specMode(args: string[]): Promise<number> {
  const hint = 'usage: hactl check --spec FILE [--node NAME] (CHECK | --all); see `hactl check --help`';
  const { values, positionals } = parse(args, SPEC_FLAGS, hint, true);
  if (values.help) {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  if (typeof values.spec !== 'string') {
    throw new UsageError('which check? give a kind, or --spec FILE with a check name or --all', hint);
  }
  if (values.all ? positionals.length > 0 : positionals.length !== 1) {
    throw new UsageError('give exactly one check name, or --all (not both)', hint);
  }
  const [{ loadSpec, findNode }, { checksForNode, checkBudgetSeconds }, { checkArgs }] = await Promise.all([
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
  const timeout = values.timeout as string | undefined;
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
      return {
        label: specCheck.name,
        check,
        options,
        deadlineMs: budgetMs(timeout, checkBudgetSeconds(specCheck)),
      };
    }),
  );
  const common: Common = {
    quiet: values.quiet === true,
    logFile: (values['log-file'] as string | undefined) ?? spec.logging.file,
  };
  const labels = runs.map((run) => run.label);
  const logger = startLogger(common.logFile);
  const results = await runAll(runs, hardTimeout(labels, logger));
  return report(labels, results, common, logger);
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    throw new UsageError('which check? give a kind or --spec FILE', 'see `hactl check --help`');
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  return first.startsWith('-') ? specMode(argv) : kindMode(first, rest);
}
