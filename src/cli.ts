/**
 * Entry point: argv → command name → lazy import of that command only, so a spawned
 * `hactl check http` never loads yargs, pino or mysql2. One catch decides the exit code.
 */
import { EXIT, UsageError } from './errors.js';
import { runCommand, type CommandMain } from './run.js';
import { version } from './version.js';

interface CommandEntry {
  summary: string;
  load: () => Promise<{ main: CommandMain }>;
}

const commands: Record<string, CommandEntry> = {
  'render-config': {
    summary: 'render keepalived.conf for every node of the spec (no spec: the bundled example)',
    load: () => import('./commands/render-config.js'),
  },
  lint: {
    summary: 'check a spec: schema, priority/weight maths and keepalived traps',
    load: () => import('./commands/lint.js'),
  },
  init: {
    summary: 'write the annotated example spec to start from',
    load: () => import('./commands/init.js'),
  },
  schema: {
    summary: 'print the spec JSON Schema (for editors)',
    load: () => import('./commands/schema.js'),
  },
  check: {
    summary: 'health check for a keepalived vrrp_script (exit 0 healthy, 1 unhealthy, 2 usage)',
    load: () => import('./commands/check.js'),
  },
  notify: {
    summary: 'keepalived notify hook: run the spec actions for MASTER/BACKUP/FAULT/STOP',
    load: () => import('./commands/notify.js'),
  },
  status: {
    summary: 'both nodes side by side and whether the pair is healthy (exit 0 healthy, 1 degraded)',
    load: () => import('./commands/status.js'),
  },
  switchover: {
    summary: 'planned hand-over of the primary role to the other node, through the agents',
    load: () => import('./commands/switchover.js'),
  },
  sync: {
    summary: 'push the spec sync directories to the peer once, from the node holding the VIPs',
    load: () => import('./commands/sync.js'),
  },
  rebuild: {
    summary: 'replace a diverged standby with a copy of the primary, discarding the listed GTIDs',
    load: () => import('./commands/rebuild.js'),
  },
  agent: {
    summary: "the per-node daemon: reads keepalived's notify FIFO and reconciles (foreground, for systemd)",
    load: () => import('./commands/agent.js'),
  },
  import: {
    summary: "turn a pair's existing keepalived.conf files into an hactl spec to review",
    load: () => import('./commands/import.js'),
  },
  lab: {
    summary: 'a real two-node pair in network namespaces (root only)',
    load: () => import('./commands/lab.js'),
  },
};

function topLevelHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return [
    'Usage: hactl <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `hactl <command> --help` for the options of one command.',
    'Global: --debug shows stack traces of unexpected errors.',
    '',
    'Exit status: 0 ok, 1 problems found (lint errors, unhealthy, a failed action),',
    '2 usage or configuration error, 3 unexpected error (a bug).',
  ].join('\n');
}

async function dispatch(argv: string[]): Promise<number> {
  const args = argv.filter((arg) => arg !== '--debug');
  const [name] = args;
  if (name === undefined) {
    // No command is a usage error: the help goes where errors go, so stdout stays empty.
    process.stderr.write(topLevelHelp() + '\n');
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topLevelHelp() + '\n');
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(version + '\n');
    return EXIT.ok;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  const rest = argv.slice(argv.indexOf(name) + 1);
  if (!entry) {
    return runCommand(async () => {
      throw new UsageError(`unknown command "${name}"`, 'run `hactl --help` for the list of commands');
    }, argv);
  }
  return runCommand(entry.load, argv.includes('--debug') ? [...rest, '--debug'] : rest);
}

process.exitCode = await dispatch(process.argv.slice(2));
