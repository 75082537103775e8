/** hactl lab: a real two-node pair in network namespaces (root only). */
import { CommandFailed, HactlError, UsageError } from '../errors.js';
import {
  FAULTS,
  LAB_NODES,
  checkPrerequisites,
  defaultDir,
  formatStatus,
  installDeps,
  labDown,
  labFail,
  labHeal,
  labStatus,
  labUp,
  missingPrograms,
  validatePrefix,
  type Fault,
  type LabNode,
} from '../lab/lab.js';
import { startProbe } from '../lab/probe.js';
import { DEFAULT_LAB_CHECKS, LAB_CHECKS, type LabCheck } from '../lab/spec.js';
import { commandParser } from './parse.js';

const USAGE = `hactl lab <up|down|status|fail NODE|heal NODE|probe> [options]

A real pair in network namespaces <prefix>-ha1, <prefix>-ha2, <prefix>-client and a switch
<prefix>-sw (inside 192.0.2.0/24, outside 198.51.100.0/24, VIPs .50): keepalived with a config
rendered from a lab spec, nginx, MariaDB (ha2 replicates from ha1) and rsync on each node.

- up: build it and wait until the pair has converged (ha1 writable primary holding both VIPs,
  ha2 read-only replicating from it); exit 1 naming what did not
- status: who holds the VIPs, VRRP states, nginx, MySQL role/lag, what the client sees, whether
  the pair has converged
- fail NODE --how H: kill (node loss) | stop (keepalived) | link | partition | nginx | mysql |
  agent-kill | agent-stop
- heal NODE: undo any fault on NODE (links up, daemons started again)
- down: stop what the lab started (by PID), delete its namespaces and state
- probe: the client's view: GET the outside VIP every --every ms, one JSON line each

Examples (as root):
  hactl lab up --mode agent --fast      the pair on the agent, 0.1 s adverts
  hactl lab fail ha1 --how kill         node loss of ha1; then: hactl lab status
  hactl lab heal ha1 && hactl lab down`;

const ACTIONS = ['up', 'down', 'status', 'fail', 'heal', 'probe'] as const;
type Action = (typeof ACTIONS)[number];

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    // Positional action and node are checked below; unknown --flags stay errors.
    .strict(false)
    .strictOptions()
    .option('prefix', {
      type: 'string',
      default: 'hactl',
      describe: 'namespace prefix; two labs need two prefixes',
    })
    .option('dir', { type: 'string', describe: 'state directory (default /tmp/hactl-lab-<prefix>)' })
    .option('install-deps', {
      type: 'boolean',
      default: false,
      describe: 'up: install the Debian packages first (apt-get)',
    })
    .option('failback', {
      choices: ['nopreempt', 'preempt', 'after-catch-up'] as const,
      default: 'nopreempt' as const,
      describe: 'up: failback policy of the lab spec (after-catch-up needs --mode agent)',
    })
    .option('fast', {
      type: 'boolean',
      default: false,
      describe: 'up: VRRPv3 with 0.1 s adverts',
    })
    .option('mode', {
      choices: ['scripts', 'agent'] as const,
      default: 'scripts' as const,
      describe: 'up: scripts (keepalived spawns hactl check/notify) or agent (one hactl agent per node)',
    })
    .option('semi-sync', {
      choices: ['off', 'strict'] as const,
      default: 'off' as const,
      describe:
        'up: strict: both MariaDB servers start as strict semi-sync replicas (AFTER_SYNC, no async fallback) and the spec says mysql.semi_sync: strict',
    })
    .option('template', {
      type: 'string',
      describe: 'up: own keepalived template (absolute path) for the lab spec',
    })
    .option('checks', {
      type: 'array',
      choices: LAB_CHECKS,
      default: [...DEFAULT_LAB_CHECKS],
      describe:
        'up: health checks in the lab spec (weight 0: a failure puts the node in FAULT); app: a single-active application only the MASTER runs (only_on_master)',
    })
    .option('how', { choices: FAULTS, default: 'kill' as Fault, describe: 'fail: which fault to inject' })
    .option('json', { type: 'boolean', default: false, describe: 'status, fail: JSON instead of text' })
    .option('every', { type: 'number', default: 50, describe: 'probe: milliseconds between requests' })
    .option('duration', { type: 'number', default: 10, describe: 'probe: seconds to run (at most 600)' })
    .parseAsync();

  const [action, node, ...extra] = args._.map(String);
  if (!ACTIONS.includes(action as Action)) {
    throw new UsageError(
      action === undefined
        ? 'which lab action? (up, down, status, fail, heal)'
        : `unknown lab action "${action}"`,
      'run `hactl lab --help`',
    );
  }
  const needsNode = action === 'fail' || action === 'heal';
  if (needsNode && !LAB_NODES.includes(node as LabNode)) {
    throw new UsageError(`${action} needs a node: ${LAB_NODES.join(' or ')}`, `e.g. hactl lab ${action} ha1`);
  }
  if ((needsNode ? extra : [node, ...extra]).some((value) => value !== undefined)) {
    throw new UsageError(
      `unexpected argument(s) after "${action}${needsNode ? ` ${node}` : ''}"`,
      'run `hactl lab --help`',
    );
  }
  const prefix = args.prefix;
  try {
    validatePrefix(prefix);
  } catch (error) {
    throw new UsageError((error as Error).message, 'e.g. --prefix lab2');
  }
  const dir = args.dir ?? defaultDir(prefix);
  const say = (line: string) => process.stdout.write(line + '\n');

  try {
    switch (action as Action) {
      case 'up':
        if (args.installDeps && process.getuid?.() === 0 && missingPrograms().length > 0)
          await installDeps(say);
        checkPrerequisites();
        if (args.template !== undefined && !args.template.startsWith('/')) {
          throw new UsageError('--template must be an absolute path (the spec stores it as is)');
        }
        await labUp({
          prefix,
          dir,
          failback: args.failback,
          fast: args.fast,
          mode: args.mode,
          template: args.template,
          checks: args.checks as LabCheck[],
          semiSync: args.semiSync,
          say,
        });
        say(`next: hactl lab status${prefix === 'hactl' ? '' : ` --prefix ${prefix}`}`);
        return 0;
      case 'down':
        await labDown({ prefix, dir, say });
        return 0;
      case 'status': {
        const status = await labStatus({ prefix, dir });
        process.stdout.write((args.json ? JSON.stringify(status, null, 2) : formatStatus(status)) + '\n');
        return 0;
      }
      case 'fail': {
        const injectedAt = await labFail({ prefix, dir, node: node as LabNode, how: args.how });
        if (args.json) {
          say(JSON.stringify({ node, how: args.how, injectedAt }));
          return 0;
        }
        say(
          `${node}: injected fault "${args.how}"; watch it with \`hactl lab status${prefix === 'hactl' ? '' : ` --prefix ${prefix}`}\``,
        );
        return 0;
      }
      case 'heal':
        await labHeal({ prefix, dir, node: node as LabNode });
        say(`${node}: healed (links up, daemons running)`);
        return 0;
      case 'probe': {
        if (!(args.every >= 10 && args.every <= 10_000) || !(args.duration > 0 && args.duration <= 600)) {
          throw new UsageError('--every must be 10..10000 ms and --duration 0..600 s');
        }
        const probe = startProbe(prefix, {
          everyMs: args.every,
          maxDurationMs: args.duration * 1000,
          onSample: (sample) => say(JSON.stringify(sample)),
        });
        const stop = () => void probe.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await probe.finished;
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof HactlError) throw error;
    throw new CommandFailed(`lab ${action}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return 0;
}
