/**
 * Spec fields whose effect no other test shows: each is set in a spec (or an action as the spec
 * carries it) and the test asserts what changes because of it — in the rendered keepalived.conf,
 * the argv of a check, the check's request, the action's effect, or what `hactl notify` runs and
 * logs. test/lint/fields.test.ts names this file as the evidence for these fields.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerAddresses } from '../../src/actions/addresses.js';
import { run as runAtlas } from '../../src/actions/atlas.js';
import { actionTimeoutSec, failurePolicy } from '../../src/actions/index.js';
import { localTarget } from '../../src/actions/mysql-common.js';
import { run as runProxysql } from '../../src/actions/proxysql.js';
import { run as runService } from '../../src/actions/service.js';
import { run as runSignal } from '../../src/actions/signal.js';
import type { ActionContext, ActionOf } from '../../src/actions/types.js';
import { httpCheck } from '../../src/checks/http.js';
import { checkArgs } from '../../src/checks/spec-args.js';
import type { FlagValues } from '../../src/checks/types.js';
import { renderAll } from '../../src/keepalived/render.js';
import { isAlive, waitFor } from '../../src/lab/processes.js';
import { createLogger } from '../../src/log.js';
import { findNode, parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { baseSpecYaml, never } from '../actions/context.js';
import { startFakeAdmin } from '../actions/fake-admin.js';
import { runHactl } from '../support/cli.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-field-effects-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const spec = (extra = ''): Spec => parseSpecText(baseSpecYaml(extra), 'effects.yaml');

function rendered(extra: string, node = 'ha1'): string {
  const [one] = renderAll({ spec: spec(extra), path: 'effects.yaml', hash: '000000000000' }, node);
  return one!.text;
}

describe('keepalived.conf fields', () => {
  it('election.unicast: true sends adverts to the peer only, false leaves multicast', () => {
    expect(rendered('election: { unicast: true }')).toMatch(
      /unicast_src_ip 192\.0\.2\.11\n\s*unicast_peer \{\n\s*192\.0\.2\.12\n/,
    );
    expect(rendered('election: { unicast: false }')).not.toMatch(/unicast/);
  });

  it('election.garp_lower_prio_repeat reaches global_defs', () => {
    expect(rendered('election: { garp_lower_prio_repeat: 3 }')).toMatch(
      /global_defs \{[^}]*vrrp_garp_lower_prio_repeat 3\n/,
    );
  });

  it('election.garp_master_refresh and its repeat reach global_defs; 0 (the default) renders neither', () => {
    const refreshing = rendered('election: { garp_master_refresh: 30, garp_master_refresh_repeat: 4 }');
    expect(refreshing).toMatch(
      /global_defs \{[^}]*vrrp_garp_master_refresh 30\n\s*vrrp_garp_master_refresh_repeat 4\n/,
    );
    expect(rendered('election: { garp_master_refresh: 30 }')).toMatch(/vrrp_garp_master_refresh_repeat 1\n/);
    expect(rendered('')).not.toMatch(/garp_master_refresh/);
  });

  it('keepalived.script_user (root) and keepalived.notify: script are rendered', () => {
    const text = rendered('keepalived: { notify: script, script_user: root }');
    expect(text).toMatch(/global_defs \{[^}]*script_user root\n/);
    expect(text).toMatch(
      /notify "\/usr\/local\/bin\/hactl notify --spec \/etc\/hactl\/hactl\.yaml --node ha1"/,
    );
  });

  it('keepalived.template replaces the bundled template', () => {
    const template = join(dir, 'own.mustache');
    writeFileSync(template, 'own template for {{node}}:{{#instances}} {{name}}@{{priority}}{{/instances}}\n');
    expect(rendered(`keepalived: { template: ${template} }`, 'ha2')).toBe(
      'own template for ha2: inside@120\n',
    );
  });
});

describe('node and check fields', () => {
  it("nodes[].hostname finds this node by the machine's hostname", () => {
    const short = hostname().split('.')[0]!;
    const text = baseSpecYaml()
      .replace('  - name: ha1\n', '  - name: ha1\n    hostname: not-this-machine.invalid\n')
      .replace('  - name: ha2\n', `  - name: ha2\n    hostname: ${short}\n`);
    expect(findNode(parseSpecText(text, 'effects.yaml')).name).toBe('ha2');
  });

  it('http params host_header and method (GET, HEAD) reach the request the check sends', async () => {
    const seen: IncomingMessage[] = [];
    const server = createServer((request, response) => {
      seen.push(request);
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const [method, header] of [
        ['GET', 'vhost.example'],
        ['HEAD', 'other.example'],
      ] as const) {
        const check = spec(
          `checks:\n  - { name: web, kind: http, params: { url: "http://127.0.0.1:${port}/", method: ${method}, host_header: ${header} } }\n`,
        ).checks[0]!;
        const [, ...args] = checkArgs(spec(), check);
        const { values } = parseArgs({ args, options: httpCheck.flags, strict: true });
        const result = await httpCheck.run(
          httpCheck.fromFlags(values as FlagValues),
          AbortSignal.timeout(10_000),
        );
        expect(result.healthy, result.detail).toBe(true);
        expect(seen.at(-1)!.method).toBe(method);
        expect(seen.at(-1)!.headers.host).toBe(header);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("a mysql check's own defaults_file replaces the spec's connection", () => {
    const withOwn = spec(
      'mysql: { credentials_file: /etc/hactl/mysql.cnf }\nchecks:\n  - { name: db, kind: mysql, params: { defaults_file: /etc/own.cnf } }\n',
    );
    expect(checkArgs(withOwn, withOwn.checks[0]!)).toEqual(['mysql', '--defaults-file', '/etc/own.cnf']);
  });

  it('mysql.host, mysql.port and mysql.socket choose the local server for checks and actions', () => {
    const tcp = spec(
      'mysql: { credentials_file: /etc/hactl/mysql.cnf, host: 127.0.0.2, port: 3307 }\nchecks:\n  - { name: db, kind: mysql }\n',
    );
    expect(checkArgs(tcp, tcp.checks[0]!)).toEqual([
      'mysql',
      '--defaults-file',
      '/etc/hactl/mysql.cnf',
      '--host',
      '127.0.0.2',
      '--port',
      '3307',
    ]);
    expect(localTarget(tcp.mysql!)).toEqual({
      host: '127.0.0.2',
      port: 3307,
      defaultsFile: '/etc/hactl/mysql.cnf',
    });
    const socket = spec(
      'mysql: { credentials_file: /etc/hactl/mysql.cnf, socket: /run/mysqld/mysqld.sock }\nchecks:\n  - { name: db, kind: replication }\n',
    );
    expect(checkArgs(socket, socket.checks[0]!)).toEqual([
      'replication',
      '--defaults-file',
      '/etc/hactl/mysql.cnf',
      '--socket',
      '/run/mysqld/mysqld.sock',
    ]);
    expect(localTarget(socket.mysql!)).toEqual({
      socket: '/run/mysqld/mysqld.sock',
      defaultsFile: '/etc/hactl/mysql.cnf',
    });
  });
});

const TWO_NETWORKS = `version: 1
cluster: t
nodes:
  - name: ha1
    priority: 150
    networks: { inside: { interface: eth1, address: 192.0.2.11 }, db: { interface: eth2, address: 198.51.100.11 } }
  - name: ha2
    priority: 120
    networks: { inside: { interface: eth1, address: 192.0.2.12 }, db: { interface: eth2, address: 198.51.100.12 } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
mysql: { credentials_file: /etc/hactl/mysql.cnf }
`;

function masterContext(text: string): ActionContext {
  const parsed = parseSpecText(text, 'effects.yaml');
  return {
    spec: parsed,
    node: parsed.nodes[0]!,
    state: 'MASTER',
    previous: 'BACKUP',
    runtimeDir: dir,
    log: createLogger({ level: 'silent' }),
  };
}

describe('mysql and action fields', () => {
  it('mysql.replication_network picks the address peers and proxies use (default: the first VIP network)', () => {
    const plain = parseSpecText(TWO_NETWORKS, 'effects.yaml');
    expect(peerAddresses(plain, plain.nodes[0]!).map((p) => p.host)).toEqual(['192.0.2.12']);
    const routed = parseSpecText(
      TWO_NETWORKS.replace(
        'mysql: { credentials_file: /etc/hactl/mysql.cnf }',
        'mysql: { credentials_file: /etc/hactl/mysql.cnf, replication_network: db }',
      ),
      'effects.yaml',
    );
    expect(peerAddresses(routed, routed.nodes[0]!).map((p) => p.host)).toEqual(['198.51.100.12']);
  });

  it('mysql.catch_up_timeout, mysql.repoint_wait and an action timeout bound the actions', () => {
    const timed = spec(
      'mysql: { credentials_file: /etc/hactl/mysql.cnf, catch_up_timeout: 12, repoint_wait: 7 }\nactions:\n  master: [ { type: mysql.promote }, { type: command, argv: [/bin/true], timeout: 3 } ]\n  backup: [ { type: mysql.demote } ]\n',
    );
    expect(actionTimeoutSec(timed.actions.master[0]!, timed)).toBe(12 + 15);
    expect(actionTimeoutSec(timed.actions.backup[0]!, timed)).toBe(7 + 30);
    expect(actionTimeoutSec(timed.actions.master[1]!, timed)).toBe(3);
  });

  it('on_failure: continue and abort override the per-type default', () => {
    const listed = spec(
      'mysql: { credentials_file: /etc/hactl/mysql.cnf }\nactions:\n  master: [ { type: mysql.promote, on_failure: continue }, { type: command, argv: [/bin/true], on_failure: abort }, { type: mysql.promote } ]\n',
    );
    expect(listed.actions.master.map(failurePolicy)).toEqual(['continue', 'abort', 'abort']);
  });

  it('service op restart and reload run commands.restart and commands.reload', async () => {
    const log = join(dir, 'service-ops.txt');
    const record = (word: string) => ['/bin/sh', '-c', `echo ${word} >> "$1"`, 'sh', log];
    const context = masterContext(TWO_NETWORKS);
    for (const op of ['restart', 'reload'] as const) {
      const action: ActionOf<'service'> = {
        type: 'service',
        name: 'app',
        op,
        commands: { start: record('start'), restart: record('restart'), reload: record('reload') },
      };
      const result = await runService(action, context, AbortSignal.timeout(20_000));
      expect(result.ok, result.detail).toBe(true);
    }
    expect(readFileSync(log, 'utf8')).toBe('restart\nreload\n');
  });

  it('every signal of the signal action reaches the process', async () => {
    const signals = ['HUP', 'USR1', 'USR2', 'TERM', 'INT', 'QUIT', 'WINCH'] as const;
    const got = join(dir, 'signals.txt');
    const pidfile = join(dir, 'trap.pid');
    const traps = signals.map((name) => `trap 'echo ${name} >> "$1"' ${name}`).join('; ');
    const child = spawn(
      '/bin/sh',
      ['-c', `${traps}; echo $$ > "$2"; while :; do sleep 0.1; done`, 'sh', got, pidfile],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    try {
      await waitFor(
        'the trapping shell to write its pid',
        () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').endsWith('\n'),
        {
          timeoutMs: 10_000,
        },
      );
      const context = masterContext(TWO_NETWORKS);
      for (const name of signals) {
        const result = await runSignal({ type: 'signal', pidfile, signal: name }, context, never);
        expect(result.ok, result.detail).toBe(true);
        await waitFor(
          `the shell to trap SIG${name}`,
          () => existsSync(got) && readFileSync(got, 'utf8').includes(`${name}\n`),
          {
            timeoutMs: 10_000,
          },
        );
      }
      expect(readFileSync(got, 'utf8').trim().split('\n')).toEqual([...signals]);
    } finally {
      if (child.pid !== undefined && isAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    }
  });

  it("the proxysql and atlas actions' network chooses the addresses they write", async () => {
    const credentials = join(dir, 'admin.cnf');
    writeFileSync(credentials, '[client]\nuser=admin\npassword=adm1n-pw\n', { mode: 0o600 });
    chmodSync(credentials, 0o600);
    const context = masterContext(TWO_NETWORKS);

    const proxysql = await startFakeAdmin('proxysql', { user: 'admin', password: 'adm1n-pw' });
    try {
      const action: ActionOf<'proxysql'> = {
        type: 'proxysql',
        admin_host: '127.0.0.1',
        admin_port: proxysql.port,
        credentials_file: credentials,
        writer_hostgroup: 10,
        network: 'db',
      };
      const result = await runProxysql(action, context, AbortSignal.timeout(20_000));
      expect(result.ok, result.detail).toBe(true);
      expect(proxysql.proxysql.runtime).toEqual([
        { hostgroup_id: 10, hostname: '198.51.100.11', port: 3306 },
      ]);
    } finally {
      await proxysql.close();
    }

    const atlas = await startFakeAdmin('atlas', { user: 'admin', password: 'adm1n-pw' });
    try {
      atlas.atlas.backends.push({ address: '198.51.100.12:3306', type: 'rw' });
      const action: ActionOf<'atlas'> = {
        type: 'atlas',
        admin_host: '127.0.0.1',
        admin_port: atlas.port,
        credentials_file: credentials,
        network: 'db',
      };
      const result = await runAtlas(action, context, AbortSignal.timeout(20_000));
      expect(result.ok, result.detail).toBe(true);
      expect(atlas.atlas.backends).toEqual([{ address: '198.51.100.11:3306', type: 'rw' }]);
    } finally {
      await atlas.close();
    }
  });
});

describe('hactl notify runs the list of the state it applies and logs at logging.level', () => {
  const VIP = '203.0.113.250';

  it('the VIP of this spec is not on this machine (FAULT, STOP and BACKUP then apply as received)', () => {
    const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    expect(local).not.toContain(VIP);
  });

  it('actions.backup, actions.fault and actions.stop; logging.file at levels info, warn and error', async () => {
    const script = join(dir, 'record.sh');
    writeFileSync(script, '#!/bin/sh\necho "$1 $HACTL_STATE" >> "$(dirname "$0")/events.txt"\n', {
      mode: 0o755,
    });
    const specFor = (level: string) => {
      const path = join(dir, `notify-${level}.yaml`);
      writeFileSync(
        path,
        `version: 1
cluster: fx
nodes:
  - { name: ha1, priority: 150, networks: { inside: { interface: lo, address: 203.0.113.241 } } }
  - { name: ha2, priority: 120, networks: { inside: { interface: lo, address: 203.0.113.242 } } }
vips:
  - { name: inside, address: ${VIP}/24, network: inside, virtual_router_id: 51 }
paths: { runtime_dir: ${dir}/run-${level} }
logging: { file: ${dir}/notify-${level}.log, level: ${level} }
actions:
  backup: [ { type: command, argv: [${script}, backup] } ]
  fault: [ { type: command, argv: [${script}, fault] }, { type: command, argv: [/bin/false] } ]
  stop: [ { type: command, argv: [${script}, stop] } ]
`,
      );
      return path;
    };
    const levelsLogged = (level: string) =>
      new Set(
        readFileSync(join(dir, `notify-${level}.log`), 'utf8')
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { level: string }).level),
      );
    for (const level of ['info', 'warn', 'error']) {
      await runHactl(['notify', '--spec', specFor(level), '--node', 'ha1', 'fault'], { timeoutMs: 60_000 });
      expect(existsSync(join(dir, `notify-${level}.log`))).toBe(true);
    }
    expect(levelsLogged('info')).toContain('info');
    expect(levelsLogged('info')).toContain('error'); // the failed /bin/false
    expect(levelsLogged('warn')).not.toContain('info');
    expect(levelsLogged('error')).toEqual(new Set(['error']));

    for (const state of ['backup', 'stop']) {
      const result = await runHactl(['notify', '--spec', specFor('info'), '--node', 'ha1', state], {
        timeoutMs: 60_000,
      });
      expect(result.exitCode, result.stderr).toBe(0);
    }
    expect(readFileSync(join(dir, 'events.txt'), 'utf8').trim().split('\n')).toEqual([
      'fault FAULT',
      'fault FAULT',
      'fault FAULT',
      'backup BACKUP',
      'stop STOP',
    ]);
  });
});

describe('fencing fields', () => {
  const db = `mysql: { credentials_file: /etc/hactl/mysql.cnf }
agent: { enabled: true }
`;
  it('fencing.witness renders the isolation track file (weight 0: 1 is FAULT) the witness monitor writes', () => {
    const text = rendered(
      `${db}fencing: { unreachable: wait-for-witness, witness: [192.0.2.1], witness_port: 53 }`,
    );
    expect(text).toMatch(/track_file hactl_isolation \{[^}]*\/agent-ha1\/track\/isolation[^}]*weight 0/);
    expect(text).toMatch(/track_file \{[^}]*hactl_isolation/);
    expect(rendered(`${db}fencing: { unreachable: promote-anyway }`)).not.toMatch(/hactl_isolation/);
  });
});
