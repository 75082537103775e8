/**
 * One exit-code table for every command, read from the README and held to it through the built
 * CLI: each case names the class of outcome it provokes, the README says which code that class
 * is, and the binary must agree. Exit 3 (a bug) cannot be provoked on purpose through the CLI;
 * runCommand's handling of it is tested in-process at the end.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HactlError } from '../../src/errors.js';
import { runCommand } from '../../src/run.js';
import { runHactl, type RunResult } from '../support/cli.js';
import { runInProcess } from './in-process.js';

type Outcome = 'ok' | 'problems' | 'usage' | 'unexpected';

/** The README's table: `| 2 | \`usage\` | …`. */
function readmeTable(): Map<Outcome, number> {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## Exit codes'));
  const table = new Map<Outcome, number>();
  for (const match of section.matchAll(/^\| (\d) \| `(ok|problems|usage|unexpected)` \|/gm)) {
    table.set(match[2] as Outcome, Number(match[1]));
  }
  return table;
}

let dir: string;
let listener: Server;
let openPort = 0;
let closedPort = 0;

const spec = (name: string) => join(dir, name);

/** A spec notify can run without root: its own runtime dir and log, no VIPs held, one action. */
function notifySpec(name: string, command: string[]): string {
  const base = readFileSync('test/render/specs/seed001.yaml', 'utf8');
  return `${base}
paths: { runtime_dir: ${dir}/run-${name} }
logging: { file: ${dir}/log/hactl.log }
actions:
  backup:
    - { type: command, argv: [${command.join(', ')}], on_failure: abort, timeout: 5 }
`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), `hactl-exit-${process.pid}-`));
  writeFileSync(spec('valid.yaml'), readFileSync('test/render/specs/seed001.yaml', 'utf8'));
  writeFileSync(
    spec('bomb.yaml'),
    `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from(
      { length: 8 },
      (_, i) =>
        `b${i}: &b${i} [${Array(10)
          .fill(i === 0 ? '*a' : `*b${i - 1}`)
          .join(', ')}]`,
    ).join('\n')}\n`,
  );
  writeFileSync(spec('existing.yaml'), 'x\n');
  writeFileSync(spec('a-file'), '');
  writeFileSync(spec('notify-ok.yaml'), notifySpec('ok', ['/bin/true']));
  writeFileSync(spec('notify-fails.yaml'), notifySpec('fails', ['/bin/false']));
  mkdirSync(join(dir, 'blocked', 'ha1', 'keepalived.conf'), { recursive: true });
  execFileSync('mkfifo', [spec('fifo')]);
  writeFileSync(spec('status.cnf'), '[client]\nuser=hactl\npassword="not-printed"\n', { mode: 0o600 });
  listener = createServer((socket) => socket.end());
  await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done));
  openPort = (listener.address() as { port: number }).port;
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((done) => probe.close(done));
  // A pair on loopback addresses whose databases all refuse: status probes nothing off this host.
  writeFileSync(
    spec('status-down.yaml'),
    `version: 1
cluster: t
nodes:
  - { name: a, priority: 150, networks: { lo: { interface: lo, address: 127.0.0.21 } } }
  - { name: b, priority: 120, networks: { lo: { interface: lo, address: 127.0.0.22 } } }
vips: [{ name: v, address: 127.0.0.60/8, network: lo, virtual_router_id: 51 }]
mysql: { credentials_file: ${spec('status.cnf')}, port: ${closedPort} }
`,
  );
});

afterAll(async () => {
  await new Promise((done) => listener.close(done));
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

interface Case {
  what: string;
  args: () => string[];
  outcome: Outcome;
  /** Extra checks on the run (where the output goes, what it says). */
  also?: (result: RunResult) => void;
}

const broken = 'test/lint/broken';
const cases: Case[] = [
  // ok
  { what: 'hactl --help', args: () => ['--help'], outcome: 'ok' },
  { what: 'hactl --version', args: () => ['--version'], outcome: 'ok' },
  { what: 'lint, the bundled example', args: () => ['lint'], outcome: 'ok' },
  {
    what: 'lint --json, a valid spec',
    args: () => ['lint', '--json', '--spec', spec('valid.yaml')],
    outcome: 'ok',
  },
  { what: 'render-config, the bundled example', args: () => ['render-config'], outcome: 'ok' },
  { what: 'init --out NEW', args: () => ['init', '--out', spec('new.yaml')], outcome: 'ok' },
  { what: 'schema', args: () => ['schema'], outcome: 'ok' },
  {
    what: 'check tcp, a listening port',
    args: () => ['check', 'tcp', '--host', '127.0.0.1', '--port', String(openPort)],
    outcome: 'ok',
  },
  {
    what: 'notify backup, actions succeed',
    args: () => ['notify', '--spec', spec('notify-ok.yaml'), '--node', 'web1', 'backup'],
    outcome: 'ok',
  },
  {
    what: 'status, no mysql and no VIP here (the peer is unknown without its agent: a note)',
    args: () => ['status', '--spec', spec('valid.yaml'), '--node', 'web1'],
    outcome: 'ok',
  },
  // problems found
  {
    what: 'lint, schema errors',
    args: () => ['lint', '--spec', `${broken}/priority-300.yaml`],
    outcome: 'problems',
  },
  {
    what: 'lint, lint errors',
    args: () => ['lint', '--spec', `${broken}/weight-too-small.yaml`],
    outcome: 'problems',
  },
  {
    what: 'lint, an alias bomb (a YAML problem)',
    args: () => ['lint', '--spec', spec('bomb.yaml')],
    outcome: 'problems',
  },
  {
    what: 'render-config, a spec that lints with errors',
    args: () => ['render-config', '--spec', `${broken}/weight-too-small.yaml`],
    outcome: 'problems',
  },
  {
    what: 'check tcp, a closed port',
    args: () => ['check', 'tcp', '--host', '127.0.0.1', '--port', String(closedPort)],
    outcome: 'problems',
  },
  {
    what: 'notify backup, an aborting action fails',
    args: () => ['notify', '--spec', spec('notify-fails.yaml'), '--node', 'web1', 'backup'],
    outcome: 'problems',
  },
  {
    what: 'status, no database answers (degraded)',
    args: () => ['status', '--spec', spec('status-down.yaml'), '--node', 'a', '--timeout', '3'],
    outcome: 'problems',
    also: (r) => expect(r.stdout).not.toContain('not-printed'),
  },
  // usage or configuration error
  {
    what: 'bare hactl',
    args: () => [],
    outcome: 'usage',
    also: (r) => {
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^Usage: hactl <command>/);
    },
  },
  { what: 'an unknown command', args: () => ['frobnicate'], outcome: 'usage' },
  { what: 'lint, an unknown flag', args: () => ['lint', '--bogus'], outcome: 'usage' },
  {
    what: 'lint, a missing spec',
    args: () => ['lint', '--spec', spec('missing.yaml')],
    outcome: 'usage',
    also: (r) => expect(r.stderr).toMatch(/does not exist; pass --spec FILE/),
  },
  { what: 'lint, a directory as spec', args: () => ['lint', '--spec', dir], outcome: 'usage' },
  { what: 'lint, a FIFO as spec', args: () => ['lint', '--spec', spec('fifo')], outcome: 'usage' },
  {
    what: 'render-config, a missing spec',
    args: () => ['render-config', '--spec', spec('missing.yaml')],
    outcome: 'usage',
  },
  {
    what: 'render-config, an invalid spec',
    args: () => ['render-config', '--spec', `${broken}/priority-300.yaml`],
    outcome: 'usage',
  },
  {
    what: 'render-config, an alias bomb',
    args: () => ['render-config', '--spec', spec('bomb.yaml')],
    outcome: 'usage',
  },
  {
    what: 'render-config, an unknown node',
    args: () => ['render-config', '--node', 'ha9'],
    outcome: 'usage',
  },
  {
    what: 'render-config, --out-dir under a file (ENOTDIR)',
    args: () => ['render-config', '--out-dir', join(spec('a-file'), 'out')],
    outcome: 'usage',
  },
  {
    what: 'render-config, a directory where the file goes (EISDIR)',
    args: () => ['render-config', '--out-dir', join(dir, 'blocked')],
    outcome: 'usage',
  },
  {
    what: 'init over an existing file',
    args: () => ['init', '--out', spec('existing.yaml')],
    outcome: 'usage',
    also: (r) => expect(r.stderr).toMatch(/already exists; pass --force/),
  },
  { what: 'init --out a directory', args: () => ['init', '--out', dir, '--force'], outcome: 'usage' },
  { what: 'schema, an unknown flag', args: () => ['schema', '--bogus'], outcome: 'usage' },
  { what: 'check, no kind', args: () => ['check'], outcome: 'usage' },
  { what: 'check, an unknown kind', args: () => ['check', 'bogus'], outcome: 'usage' },
  {
    what: 'check --spec, a missing spec',
    args: () => ['check', '--spec', spec('missing.yaml'), '--all'],
    outcome: 'usage',
  },
  { what: 'check --spec, a FIFO', args: () => ['check', '--spec', spec('fifo'), '--all'], outcome: 'usage' },
  { what: 'notify, no event', args: () => ['notify'], outcome: 'usage' },
  {
    what: 'notify, an invalid spec',
    args: () => ['notify', '--spec', `${broken}/priority-300.yaml`, '--node', 'ha1', 'backup'],
    outcome: 'usage',
  },
  {
    what: 'notify, a FIFO as spec',
    args: () => ['notify', '--spec', spec('fifo'), '--node', 'ha1', 'backup'],
    outcome: 'usage',
  },
  {
    what: 'status, --timeout out of range',
    args: () => ['status', '--spec', spec('valid.yaml'), '--node', 'web1', '--timeout', '0'],
    outcome: 'usage',
  },
  {
    what: 'status, a missing spec',
    args: () => ['status', '--spec', spec('missing.yaml')],
    outcome: 'usage',
  },
  { what: 'lab, an unknown flag', args: () => ['lab', 'status', '--bogus'], outcome: 'usage' },
  {
    what: 'sync, a spec without a sync section',
    args: () => ['sync', '--spec', spec('valid.yaml'), '--node', 'web1'],
    outcome: 'usage',
    also: (r) => expect(r.stderr).toContain('the spec has no sync section'),
  },
  { what: 'sync, an unknown flag', args: () => ['sync', '--bogus'], outcome: 'usage' },
];

describe('the exit-code table', () => {
  it('the README has one row per class, and they are 0, 1, 2, 3', () => {
    expect(Object.fromEntries(readmeTable())).toEqual({ ok: 0, problems: 1, usage: 2, unexpected: 3 });
  });

  it('every command and error class, through the built CLI', async () => {
    const table = readmeTable();
    const results: { c: Case; result: RunResult }[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      const batch = cases.slice(i, i + 2);
      results.push(
        ...(await Promise.all(
          batch.map(async (c) => ({ c, result: await runHactl(c.args(), { timeoutMs: 20_000 }) })),
        )),
      );
    }
    const wrong = results
      .filter(({ c, result }) => result.exitCode !== table.get(c.outcome))
      .map(
        ({ c, result }) =>
          `${c.what}: exit ${result.exitCode}, README says ${table.get(c.outcome)} (${c.outcome})\n${result.stderr}`,
      );
    expect(wrong).toEqual([]);
    for (const { c, result } of results) c.also?.(result);
    // Every command appears, and every class but "unexpected" (tested below).
    const commands = new Set(cases.map((c) => c.args()[0]));
    for (const command of ['lint', 'render-config', 'init', 'schema', 'check', 'notify', 'status', 'lab'])
      expect(commands).toContain(command);
    expect(new Set(cases.map((c) => c.outcome))).toEqual(new Set(['ok', 'problems', 'usage']));
  }, 240_000);

  it('notify logs to a file created 0640', () => {
    const mode = statSync(join(dir, 'log', 'hactl.log')).mode & 0o777;
    expect(mode).toBe(0o640 & ~process.umask());
  });

  it('an unexpected error exits 3 (README: unexpected) and shows the stack only with --debug', async () => {
    const table = readmeTable();
    const crash = async () => ({
      main: async (): Promise<number> => {
        throw new TypeError('boom');
      },
    });
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      expect(await runCommand(crash, [])).toBe(table.get('unexpected'));
      expect(errors.join('')).toMatch(/^hactl: unexpected error: boom\nhint: run again with --debug/);
      expect(errors.join('')).not.toMatch(/\n\s+at /);
      errors.length = 0;
      expect(await runCommand(crash, ['--debug'])).toBe(table.get('unexpected'));
      expect(errors.join('')).toMatch(/\n\s+at /);
      errors.length = 0;
      // Typed errors keep their own code.
      const typed = async () => ({
        main: async (): Promise<number> => {
          throw new HactlError('typed', 1);
        },
      });
      expect(await runCommand(typed, [])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
  });

  it('lint --json: machine-readable findings with positions, same exit code', async () => {
    const result = await runInProcess('lint', ['--json', '--spec', `${broken}/priority-300.yaml`]);
    expect(result.exitCode).toBe(1);
    const report = JSON.parse(result.stdout) as {
      spec: string;
      errors: number;
      warnings: number;
      findings: {
        severity: string;
        path: string;
        line: number | null;
        column: number | null;
        message: string;
      }[];
    };
    expect(report).toEqual({
      spec: `${broken}/priority-300.yaml`,
      errors: 1,
      warnings: 0,
      findings: [
        {
          severity: 'error',
          path: 'nodes[1].priority',
          line: 11,
          column: 15,
          message: '300 is out of range 1..254 (255 would make keepalived ignore every check weight)',
        },
      ],
    });
  });
});
