/**
 * The agent-mode fail-safe, judged by the real keepalived 2.2.7: render-config's output for one node
 * runs in a network namespace, and keepalived's own log and the VIP on the interface show what each
 * track file and the agent's process do. A fake agent (a Node process whose process.title is the
 * contract's AGENT_PROCESS_TITLE) stands in for hactl agent.
 *
 * keepalived and the fake agent share a private PID namespace (unshare --pid --mount-proc), so no
 * other hactl-agent on this machine can satisfy the track_process. In a network namespace other than
 * the initial one, keepalived 2.2.7 cannot subscribe to the kernel's process events ("Failed to
 * set/clear process event listen - errno 111"): it then never scans /proc at start (the process
 * counts as absent: FAULT) and scans it on each reload (SIGHUP). The test therefore reloads after
 * starting or stopping the fake agent; on a real node (initial namespace) keepalived sees the agent
 * come and go by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_PROCESS_TITLE,
  agentTrackFile,
  checkTrackFile,
  failbackTrackFile,
  notifyFifoPath,
} from '../../src/agent/contract.js';
import { renderAll } from '../../src/keepalived/render.js';
import { loadSpec } from '../../src/spec/load.js';
import { createNamespace, deleteNamespace } from '../support/netns.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['keepalived', 'ip', 'unshare', 'nsenter'] });
const NS = `hactl-ag-${process.pid}`;
const VIP = '192.0.2.50';

function specYaml(runtimeDir: string): string {
  return `version: 1
cluster: agentka
nodes:
  - name: ha1
    priority: 150
    networks:
      lan: { interface: eth0, address: 192.0.2.11 }
  - name: ha2
    priority: 100
    networks:
      lan: { interface: eth0, address: 192.0.2.12 }
vips:
  - { name: VI_1, address: ${VIP}/24, network: lan, virtual_router_id: 51 }
failback: after-catch-up
checks:
  - { name: web, kind: tcp, params: { host: 127.0.0.1, port: 80 }, interval: 0.25, weight: 0 }
  - { name: db, kind: tcp, params: { host: 127.0.0.1, port: 3306 }, interval: 0.5, weight: -60 }
paths:
  runtime_dir: ${runtimeDir}
agent:
  enabled: true
`;
}

/** Polls `probe` until it returns a value (not undefined); bounded in time and count. */
async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 2_000; i++) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The one child of `pid` (the process unshare/nsenter forked into the new PID namespace). */
function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    const first = Number(children[0]);
    return Number.isInteger(first) && first > 0 ? first : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(missing)(titled('agent mode under the real keepalived: the fail-safe', missing), () => {
  let dir: string;
  let runtimeDir: string;
  let log: string;
  let unshare: ChildProcess | undefined;
  let keepalived: number;
  let agent: ChildProcess | undefined;
  let agentPid: number | undefined;

  const logText = (): string => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  };
  /** Log lines written after `from` characters. */
  const logSince = (from: number): string => logText().slice(from);
  const hasVip = (): boolean =>
    execFileSync('ip', ['-n', NS, '-4', 'addr', 'show', 'dev', 'eth0'], { timeout: 10_000 })
      .toString()
      .includes(`inet ${VIP}/`);
  const write = (file: string, value: number): void => writeFileSync(file, `${value}\n`);

  /** Waits for keepalived to log `pattern` after `from`, then returns the log position after it. */
  const logged = async (pattern: RegExp, from: number): Promise<number> => {
    await waitFor(`keepalived to log ${pattern}; log since:\n${logSince(from)}`, () =>
      pattern.test(logSince(from)) ? true : undefined,
    );
    return logText().length;
  };
  const master = async (from: number): Promise<number> => {
    const at = await logged(/\(VI_1\) Entering MASTER STATE/, from);
    await waitFor('the VIP on eth0', () => (hasVip() ? true : undefined));
    return at;
  };
  const fault = async (from: number, why: RegExp): Promise<number> => {
    const at = await logged(why, from);
    await waitFor('the VIP to leave eth0', () => (hasVip() ? undefined : true));
    return at;
  };
  const reload = async (from: number): Promise<number> => {
    process.kill(keepalived, 'SIGHUP');
    return logged(/Reload complete/, from);
  };

  beforeAll(async () => {
    createNamespace(NS, ['eth0']);
    const ip = (args: string[]) => execFileSync('ip', ['-n', NS, ...args], { timeout: 10_000 });
    ip(['link', 'set', 'peer0', 'up']);
    ip(['addr', 'add', '192.0.2.11/24', 'dev', 'eth0']);
    dir = mkdtempSync(join(tmpdir(), 'hactl-agent-ka-'));
    runtimeDir = join(dir, 'run');
    // What hactl-agent.service's ExecStartPre creates before keepalived starts.
    mkdirSync(join(runtimeDir, 'agent-ha1', 'track', 'checks'), { recursive: true });
    const specFile = join(dir, 'hactl.yaml');
    writeFileSync(specFile, specYaml(runtimeDir));
    const [ha1] = renderAll(loadSpec(specFile), 'ha1');
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, ha1!.text);
    log = join(dir, 'keepalived.log');
    const out = openSync(log, 'a');
    unshare = spawn(
      'unshare',
      [
        ...['--pid', '--fork', '--mount-proc', '--kill-child', '--'],
        ...['ip', 'netns', 'exec', NS, 'keepalived', '-n', '-l', '-D', '-f', conf],
        ...['-p', join(dir, 'k.pid'), '-r', join(dir, 'kv.pid'), '-c', join(dir, 'kc.pid')],
      ],
      { stdio: ['ignore', out, out] },
    );
    closeSync(out);
    keepalived = await waitFor('keepalived inside the PID namespace', () => childOf(unshare!.pid!));
    await logged(/Startup complete/, 0);
  }, 60_000);

  afterAll(async () => {
    if (agent?.pid !== undefined && alive(agent.pid)) agent.kill('SIGKILL');
    if (agentPid !== undefined && alive(agentPid)) process.kill(agentPid, 'SIGKILL');
    if (unshare?.pid !== undefined && alive(unshare.pid)) {
      if (keepalived !== undefined && alive(keepalived)) process.kill(keepalived, 'SIGTERM');
      const exited = await waitFor('keepalived to stop', () =>
        unshare!.exitCode !== null || unshare!.signalCode !== null ? true : undefined,
      ).catch(() => false);
      // --kill-child: the namespace's init (keepalived) and everything in it die with unshare.
      if (!exited && unshare.pid !== undefined) unshare.kill('SIGKILL');
    }
    deleteNamespace(NS);
    if (process.env.HACTL_KEEP_LOG) console.log(logText());
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('no agent → FAULT; agent running but silent → FAULT; agent alive → MASTER; then each track file as the contract says', async () => {
    const agentFile = agentTrackFile(runtimeDir, 'ha1');
    const web = checkTrackFile(runtimeDir, 'ha1', 'web');
    const db = checkTrackFile(runtimeDir, 'ha1', 'db');
    const gate = failbackTrackFile(runtimeDir, 'ha1');

    // 1. Fresh start, no agent: init_file wrote "agent gone", a KO weight-0 check and the closed
    //    gate (111 points: ha1's 150 → 39, below the 40 ha2 has even with its weighted check KO),
    //    and the node is FAULT.
    let at = await fault(0, /\(VI_1\) entering FAULT state/);
    expect(readFileSync(agentFile, 'utf8').trim()).toBe('1');
    expect(readFileSync(web, 'utf8').trim()).toBe('1');
    expect(readFileSync(gate, 'utf8').trim()).toBe('111');
    expect(logText()).toMatch(/tracked process hactl_agent_process quorum not achieved/);
    expect(statSync(notifyFifoPath(runtimeDir, 'ha1')).isFIFO()).toBe(true);

    // 2. The agent's process runs and the checks are OK, but the agent has not said it is alive:
    //    still FAULT after keepalived has seen the process (reload), until the agent writes 0.
    write(web, 0);
    write(db, 0);
    write(gate, 0);
    const nsenter = spawn(
      'nsenter',
      [
        ...['--target', String(keepalived), '--pid', '--mount', '--'],
        ...[process.execPath, '-e', `process.title = '${AGENT_PROCESS_TITLE}'; setInterval(() => {}, 1000);`],
      ],
      { stdio: 'ignore' },
    );
    agent = nsenter;
    agentPid = await waitFor('the fake agent', () => {
      const pid = childOf(nsenter.pid!);
      if (pid === undefined) return undefined;
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === AGENT_PROCESS_TITLE ? pid : undefined;
      } catch {
        return undefined;
      }
    });
    const beforeReload = at;
    at = await reload(at);
    expect(logSince(beforeReload)).toMatch(/tracked file hactl_agent has status -254/);
    expect(logSince(beforeReload)).not.toMatch(/Entering (MASTER|BACKUP) STATE/);
    expect(hasVip()).toBe(false);
    write(agentFile, 0);
    at = await master(at);

    // 3. The agent says it is gone (or froze): FAULT; alive again: MASTER.
    write(agentFile, 1);
    at = await fault(at, /\(VI_1\): tracked file hactl_agent now FAULT state/);
    write(agentFile, 0);
    at = await master(at);

    // 4. The weighted check (-60) KO: 150 → 90; OK again: 150.
    write(db, 1);
    at = await logged(/\(VI_1\) Changing effective priority from 150 to 90/, at);
    write(db, 0);
    at = await logged(/\(VI_1\) Changing effective priority from 90 to 150/, at);

    // 5. The weight-0 check KO: FAULT; OK again: MASTER.
    write(web, 1);
    at = await fault(at, /\(VI_1\): tracked file chk_web now FAULT state/);
    write(web, 0);
    at = await master(at);

    // 6. The failback gate, closed again by the agent: 150 − 111 = 39.
    write(gate, 111);
    at = await logged(/\(VI_1\) Changing effective priority from 150 to 39/, at);
    write(gate, 0);
    at = await logged(/\(VI_1\) Changing effective priority from 39 to 150/, at);

    // 7. The agent's process dies while its liveness file still says 0: FAULT.
    process.kill(agentPid, 'SIGKILL');
    await waitFor('the fake agent to die', () => (alive(agentPid!) ? undefined : true));
    const beforeLastReload = at;
    await reload(at);
    await fault(beforeLastReload, /tracked process hactl_agent_process quorum not achieved/);
    expect(readFileSync(agentFile, 'utf8').trim()).toBe('0');
  }, 180_000);
});
