/**
 * `hactl notify`: keepalived's notify hook. Runs on keepalived's hot path, so it parses its flags
 * with node:util (no yargs) and loads only the action modules the transition uses.
 * Exit 0: applied, rightly skipped, or superseded while retrying; 1: an aborting action failed, data
 * diverged, or the lock could not be taken in time; 2: usage or spec error.
 */
import { parseArgs } from 'node:util';
import { CommandFailed, ConfigError, UsageError } from '../errors.js';
import { version } from '../version.js';
import { createLogger } from '../log.js';
import { loadSpecForNotify } from '../notify/spec-cache.js';
import { NOTIFY_USAGE, parseEvent } from '../notify/event.js';
import { LockTimeout, RuntimeDirUnusable } from '../notify/lock.js';
import { runNotify, type NotifySummary } from '../notify/run.js';

const HELP = `Usage: ${NOTIFY_USAGE}

Runs the spec's actions for the state this node is in now. keepalived runs notify scripts
concurrently and out of order, so the event is only a trigger: under a per-node lock, hactl looks
at which VIPs this node holds and applies MASTER only when it holds all of them; a state already
applied successfully is skipped. A promotion that could not be carried out because the local
database did not answer (or could not be observed), or a state whose database step failed, is
tried again, lock released in between, while the core still decides that state and no later
transition ran, for at most mysql.catch_up_timeout seconds (not in agent mode: the agent retries
by itself). A retry stops as soon as the node moves on (a later transition applied a state, the
core now decides another state, or another notify holds the lock): the summary says "superseded".

Options:
  --spec FILE          the pair spec (default /etc/hactl/hactl.yaml)
  --node NAME          this node's name in the spec (default: found by hostname)
  --force              run the actions even if this state was already applied
  --dry-run            say which state would be applied and which actions it runs; change nothing
  --accept-stale WHY   promote even though this node cannot show it has every write the last
                       primary acknowledged (diverged, replication stopped, or behind); the
                       missing data is lost. Logged at error level with WHY. Never automatic.
  --lock-timeout SEC   how long to wait for a concurrent notify (default: from the action timeouts)
  --help               this text

Examples:
  hactl notify --dry-run master
  hactl notify --node ha1 GROUP web_vips MASTER 150
  hactl notify --force --accept-stale "ha2 lost for good, ticket 4711" master

Exit 0: applied, rightly skipped, or superseded while retrying; 1: an action failed (the state
stays unapplied, so the next event runs its actions again), data diverged, promotion refused, or
the lock was not free in time; 2: usage or spec error.`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        spec: { type: 'string', default: '/etc/hactl/hactl.yaml' },
        node: { type: 'string' },
        force: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'accept-stale': { type: 'string' },
        'lock-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, 'run `hactl notify --help` for the options');
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const event = parseEvent(positionals);
  let lockWaitSec: number | undefined;
  if (values['lock-timeout'] !== undefined) {
    lockWaitSec = Number(values['lock-timeout']);
    if (!Number.isFinite(lockWaitSec) || lockWaitSec < 0 || lockWaitSec > 3600) {
      throw new UsageError(`--lock-timeout ${values['lock-timeout']} is not a number of seconds (0..3600)`);
    }
  }
  const acceptStale = values['accept-stale'];
  if (acceptStale !== undefined && !/^[\x20-\x7e]{3,200}$/.test(acceptStale)) {
    throw new UsageError(
      '--accept-stale needs a reason of 3 to 200 printable characters (it goes into the log)',
      'e.g. --accept-stale "ha2 lost for good, ticket 4711"',
    );
  }
  const { spec, node } = await loadSpecForNotify(values.spec, values.node, version);
  const log = createLogger({
    file: spec.logging.file,
    level: spec.logging.level,
    base: { command: 'notify', cluster: spec.cluster, node: node.name },
  });
  let summary: NotifySummary;
  try {
    summary = await runNotify(
      spec,
      node,
      event,
      {
        force: values.force,
        dryRun: values['dry-run'],
        ...(acceptStale === undefined ? {} : { acceptStale }),
        ...(lockWaitSec === undefined ? {} : { lockWaitSec }),
        retry: {},
      },
      log,
    );
  } catch (error) {
    // The domain says what happened; exit codes are this command's business.
    if (error instanceof LockTimeout) throw new CommandFailed(error.message);
    if (error instanceof RuntimeDirUnusable) throw new ConfigError(error.message);
    throw error;
  }
  const exitCode = summary.outcome && !['ok', 'superseded'].includes(resultWord(summary)) ? 1 : 0;
  log.info({
    event: 'notify.summary',
    transition_id: summary.transitionId,
    state: summary.applied ?? 'none',
    received: event.state,
    duration_ms: summary.durationMs,
    attempts: summary.attempts,
    result: resultWord(summary),
    reason: summary.reason,
    exit_code: exitCode,
  });
  (exitCode === 0 ? process.stdout : process.stderr).write(
    summaryLine(node.name, event.text, summary) + '\n',
  );
  return exitCode;
}

function resultWord(summary: NotifySummary): string {
  if (summary.superseded !== undefined) return 'superseded';
  if (!summary.outcome) return 'skipped';
  if (summary.outcome.diverged) return 'diverged';
  if (summary.outcome.aborted) return 'aborted';
  return summary.outcome.steps.every((s) => s.ok) ? 'ok' : 'partial';
}

export function summaryLine(node: string, eventText: string, summary: NotifySummary): string {
  const head = `hactl notify ${node} [${eventText}]`;
  if (summary.dryRun) {
    if (summary.applied === undefined) return `${head}: dry run: would skip: ${summary.reason}`;
    const actions = summary.planned.length > 0 ? summary.planned.join(', ') : 'no actions listed';
    return `${head}: dry run: would apply ${summary.applied} (${actions}): ${summary.reason}`;
  }
  if (summary.superseded !== undefined) {
    const failed = summary.outcome?.steps.filter((s) => !s.ok) ?? [];
    const what =
      failed.length > 0 ? `; failed: ${failed.map((s) => `${s.action} (${s.detail})`).join('; ')}` : '';
    return `${head}: not carried out${what}; stopped retrying after ${summary.attempts} attempts in ${summary.durationMs} ms, the node moved on: ${summary.superseded}`;
  }
  if (!summary.outcome) return `${head}: skipped in ${summary.durationMs} ms: ${summary.reason}`;
  const steps = summary.outcome.steps;
  const failed = steps.filter((s) => !s.ok);
  const counts = `${steps.length - failed.length}/${steps.length} actions ok`;
  const tail =
    failed.length > 0 ? `; failed: ${failed.map((s) => `${s.action} (${s.detail})`).join('; ')}` : '';
  const verdict = summary.outcome.diverged
    ? ' — DIVERGED: a human must reconcile the databases'
    : summary.outcome.aborted
      ? ' — aborted'
      : '';
  const tries = summary.attempts > 1 ? ` after ${summary.attempts} attempts` : '';
  return `${head}: ${summary.applied} ${resultWord(summary)} in ${summary.durationMs} ms${tries}, ${counts}${tail}${verdict}`;
}
