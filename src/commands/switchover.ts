/**
 * `hactl switchover`: a planned hand-over of the primary role (orchestrator's graceful takeover,
 * Patroni's switchover) through the agents: it asks both agents how their nodes are, refuses with
 * the reason when the target is unfit, and otherwise writes the intent to the current primary's
 * agent (POST /v1/switchover), which carries it out (src/switchover/driver.ts) while this command
 * follows and prints each step. Killing this command stops nothing: the agent finishes or rolls
 * back, and running it again shows where the switchover stands.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandFailed, ConfigError } from '../errors.js';
import { commandFlags, secondsFlag, SPEC_AND_NODE } from './flags.js';

const HELP = `Usage: hactl switchover [--spec FILE] [--to NODE] [--max-lag S] [--catch-up S] [--dry-run] [--json]

Hands the primary role to the other node while both are healthy (for maintenance of the
primary). Needs agent mode with agent.api: both agents are asked how their nodes are, and the
switchover is refused, with the reason, when the target is unhealthy, has diverged, does not
replicate, has a stopped replication thread, or lags more than --max-lag. Otherwise the current
primary's agent carries it out, and each step is printed with its duration:

  read-only  the primary applies BACKUP through the decision core: read-only, sessions ended
  catch-up   the target applies everything the primary wrote (GTID wait, --catch-up bound);
             if it cannot, the switchover is rolled back and the primary is writable again
  move-vips  keepalived moves the VIPs (the primary's switchover track file puts it in FAULT)
  promote    the target's agent promotes it through its normal MASTER path
  repoint    the old primary becomes BACKUP and replicates from the target

and then the write-unavailability window (primary read-only → target writable). Safe to run
again after an interruption: the intent lives with the agent, which completes or rolls it back;
a rerun follows the switchover in progress or says that the target is the primary already.

Options:
  --spec FILE     the pair spec (default /etc/hactl/hactl.yaml)
  --to NODE       the node to hand over to (default: the other node of the pair)
  --max-lag S     refuse when the target lags more than S seconds (default: as hactl status)
  --catch-up S    how long the target may take to apply everything (default 10, 1..600)
  --dry-run       check and print the plan; change nothing
  --json          the result as JSON
  --help          this text

Examples:
  hactl switchover --dry-run
  hactl switchover --to ha2 --max-lag 5

Exit 0: done (or nothing to do); 1: refused, rolled back or failed (the reason is printed);
2: usage or spec error.`;

const AGENT_TIMEOUT_MS = 3_000;
const FOLLOW_POLL_MS = 100;
const FOLLOW_BOUND_MS = 150_000;

export async function main(argv: string[]): Promise<number> {
  const values = commandFlags('switchover', HELP, argv, {
    spec: SPEC_AND_NODE.spec,
    to: { type: 'string' },
    'max-lag': { type: 'string' },
    'catch-up': { type: 'string', default: '10' },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (!values) return 0;
  const catchUpSec = secondsFlag('catch-up', values['catch-up'], 1, 600, 5);
  const { loadSpec } = await import('../spec/load.js');
  const { spec } = loadSpec(values.spec);
  const { maxLagOf } = await import('../status/collect.js');
  const maxLagSec =
    values['max-lag'] === undefined
      ? maxLagOf(spec)
      : secondsFlag('max-lag', values['max-lag'], 0, 86_400, 5);
  const api = spec.agent.api;
  if (!spec.agent.enabled || !api)
    throw new ConfigError(
      'agent.api: a switchover is carried out by the agents, and this spec has no agent API; set agent.enabled: true and agent.api (network, token_file), render the configs again and start hactl agent on every node',
    );
  const { readTokenFile, TokenFileProblem } = await import('../agent/api/token.js');
  let token: string;
  try {
    token = await readTokenFile(api.token_file, AbortSignal.timeout(2_000));
  } catch (error) {
    if (error instanceof TokenFileProblem)
      throw new ConfigError(`${error.message}; hactl switchover needs it`);
    throw error;
  }
  const { askAgent } = await import('../status/agent-client.js');
  const { callSwitchover } = await import('../switchover/client.js');
  const { preflight, stepPlan } = await import('../switchover/plan.js');
  const { isFinished, isSettled } = await import('../switchover/record.js');
  const { stepLine, summaryLine } = await import('../switchover/format.js');
  const out = (text: string) => {
    if (!values.json) process.stdout.write(text + '\n');
  };
  const where = (name: string) => {
    const node = spec.nodes.find((n) => n.name === name)!;
    return { host: node.networks[api.network]!.address, port: api.port };
  };

  const asked = await Promise.all(
    spec.nodes.map(async (node) => {
      const { host, port } = where(node.name);
      const [status, switchover] = await Promise.all([
        askAgent(host, port, token, node.name, AGENT_TIMEOUT_MS),
        callSwitchover(host, port, token, AGENT_TIMEOUT_MS),
      ]);
      return { name: node.name, status, switchover };
    }),
  );

  const follow = async (from: string, resumed: boolean): Promise<number> => {
    const { host, port } = where(from);
    const printed = new Set<string>();
    const deadline = performance.now() + FOLLOW_BOUND_MS;
    let last: import('../switchover/record.js').SwitchoverRecord | undefined;
    let problem: string | undefined;
    for (let i = 0; i < 10_000 && performance.now() < deadline; i++) {
      const answer = await callSwitchover(host, port, token, AGENT_TIMEOUT_MS);
      if (answer.ok && answer.record) {
        last = answer.record;
        if (i === 0)
          out(
            `${resumed ? 'following switchover in progress' : 'switchover'} ${last.id}: ${last.from} → ${last.to}`,
          );
        for (const step of last.steps) {
          if (step.endedAt && !printed.has(step.name)) {
            printed.add(step.name);
            out(stepLine(step));
          }
        }
        // A roll-back is followed until its database is writable again or the agent says it will
        // not be, with 30 s kept for the last answer should neither come.
        if (isSettled(last) || (isFinished(last) && performance.now() > deadline - 30_000)) break;
      } else if (!answer.ok) problem = answer.problem;
      await sleep(FOLLOW_POLL_MS);
    }
    if (!last)
      throw new CommandFailed(
        `${from}'s agent could not be asked how the switchover goes: ${problem ?? 'no record'}`,
      );
    out(summaryLine(last));
    if (values.json) {
      const { windowMs } = await import('../switchover/record.js');
      process.stdout.write(
        JSON.stringify({ result: last.phase, window_ms: windowMs(last) ?? null, switchover: last }) + '\n',
      );
    }
    if (last.phase === 'done') return 0;
    if (!isFinished(last))
      throw new CommandFailed(
        `switchover ${last.id} is still at step ${last.phase} after ${FOLLOW_BOUND_MS / 1000} s; ${from}'s agent carries on: run hactl switchover again to follow it`,
      );
    return 1;
  };

  // A switchover in progress (this command was interrupted, or another operator's): follow it.
  const inProgress = asked.find(
    (a) => a.switchover.ok && a.switchover.record && !isFinished(a.switchover.record),
  );
  if (inProgress && inProgress.switchover.ok && inProgress.switchover.record) {
    if (values['dry-run']) {
      out(
        `switchover ${inProgress.switchover.record.id} is in progress (step ${inProgress.switchover.record.phase}); --dry-run changes nothing`,
      );
      return 0;
    }
    return follow(inProgress.switchover.record.from, true);
  }

  const verdict = preflight({
    spec,
    nodes: Object.fromEntries(
      asked.map((a) => [
        a.name,
        a.status.ok ? { status: a.status.node } : { status: null, problem: a.status.problem },
      ]),
    ),
    to: values.to,
    maxLagSec,
  });
  if (verdict.kind === 'refuse') {
    if (values.json)
      process.stdout.write(
        JSON.stringify({ result: 'refused', reason: verdict.reason, fix: verdict.fix }) + '\n',
      );
    throw new CommandFailed(`switchover refused: ${verdict.reason}; ${verdict.fix}`);
  }
  if (verdict.kind === 'nothing') {
    const lastRun = asked
      .map((a) => (a.switchover.ok ? a.switchover.record : null))
      .find((r) => r?.to === verdict.from);
    out(`nothing to do: ${verdict.reason}`);
    // A switchover driven by an agent that is down (SIGKILLed, restarting) resumes when it is back.
    for (const a of asked)
      if (!a.switchover.ok)
        out(
          `note: ${a.name}'s agent could not be asked (${a.switchover.problem}): a switchover it drives is not shown; run again once it answers`,
        );
    if (lastRun) {
      out(`last switchover ${lastRun.id} (${lastRun.from} → ${lastRun.to}):`);
      for (const step of lastRun.steps) out(stepLine(step));
      out(summaryLine(lastRun));
    }
    if (values.json)
      process.stdout.write(
        JSON.stringify({ result: 'nothing', reason: verdict.reason, switchover: lastRun ?? null }) + '\n',
      );
    return 0;
  }
  out(`${verdict.from} → ${verdict.to}: ${verdict.reason}`);
  if (values['dry-run']) {
    for (const step of stepPlan(verdict.from, verdict.to)) out(`  ${step.name.padEnd(10)} ${step.what}`);
    out('dry run: nothing changed');
    if (values.json)
      process.stdout.write(
        JSON.stringify({
          result: 'dry-run',
          from: verdict.from,
          to: verdict.to,
          steps: stepPlan(verdict.from, verdict.to),
        }) + '\n',
      );
    return 0;
  }
  const id = `so-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
  const { host, port } = where(verdict.from);
  const posted = await callSwitchover(host, port, token, AGENT_TIMEOUT_MS, {
    id,
    from: verdict.from,
    to: verdict.to,
    catch_up_timeout: catchUpSec,
  });
  if (!posted.ok)
    throw new CommandFailed(`${verdict.from}'s agent did not take the switchover: ${posted.problem}`);
  if (posted.status !== 202 && posted.status !== 200)
    throw new CommandFailed(
      `${verdict.from}'s agent refused the switchover (HTTP ${posted.status}): ${posted.problem ?? ''}`,
    );
  return follow(verdict.from, false);
}
