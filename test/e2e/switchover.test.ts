/**
 * `hactl switchover` on the real lab pair in agent mode (fast profile), one lab for the file:
 * 1. refused while ha2's SQL thread is stopped (it lags), and nothing changes;
 * 2. asked directly (past the command's checks) while ha2 applies nothing: ha1's agent rolls back
 *    and ha1 is writable again;
 * 3. ha1 → ha2 under a steady writer through the inside VIP: no acknowledged write lost, no 100 ms
 *    sample with both databases writable, each step and the write-unavailability window printed;
 * 4. ha2 → ha1 with the command SIGKILLed once the target is being promoted: the agent carries
 *    on, and the next run finds the pair converged on ha1 and reports the finished switchover;
 * 5. the driving agent SIGKILLed at each step (frozen first, so the step it dies at is read from
 *    its record, not guessed), alternating the direction, and restarted as the lab does: under a
 *    writer, the pair converges on the target, the record ends done, every acknowledged write is
 *    there, no 100 ms sample has two writable databases, and the next run reports it. A try whose
 *    freeze came a step late (a busy machine) is checked the same way and the step tried again,
 *    at most three times.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentFiles, agentPid, signalAgent } from '../../src/lab/agent.js';
import { keepalivedFiles, signalVrrp } from '../../src/lab/keepalived.js';
import { labHeal, labPaths } from '../../src/lab/lab.js';
import { namespacesFor, vipOf, type LabNode } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { connectWith, type MysqlSession } from '../../src/mysql/connection.js';
import { parseSpecText } from '../../src/spec/load.js';
import { STEP_NAMES, type StepName, type SwitchoverRecord } from '../../src/switchover/record.js';
import { assertBuilt, hactlBin, runHactl, runProgram, type RunResult } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  testLab,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2eso');
const RUN_MS = 60_000;

function rootSession(node: LabNode): Promise<MysqlSession> {
  return connectWith(
    { user: 'root', socket: join(labPaths(lab.dir).node[node].dbDir, 'mariadb.sock') },
    { timeoutMs: 2_000 },
  );
}

async function rootQuery(node: LabNode, sql: string): Promise<Record<string, unknown>[]> {
  const session = await rootSession(node);
  try {
    return await session.query(sql);
  } finally {
    await session.close();
  }
}

const vrrpOf = (node: LabNode) => keepalivedFiles(labPaths(lab.dir).node[node].dir);

function switchover(args: string[], from: LabNode = 'ha1'): Promise<RunResult> {
  return runHactl(['switchover', '--spec', labPaths(lab.dir).specPath, ...args], {
    netns: namespacesFor(lab.prefix)[from],
    timeoutMs: RUN_MS,
  });
}

/** Every 100 ms, read_only of both servers (root over the socket, reconnecting: demotion ends sessions). */
function sampleReadOnly(): { stop(): Promise<{ t: number; ha1: string; ha2: string }[]> } {
  const samples: { t: number; ha1: string; ha2: string }[] = [];
  const sessions: Partial<Record<LabNode, MysqlSession>> = {};
  let stopped = false;
  const readOne = async (node: LabNode): Promise<string> => {
    try {
      sessions[node] ??= await rootSession(node);
      const row = (await sessions[node].query('SELECT @@GLOBAL.read_only AS ro'))[0];
      return String(row?.ro);
    } catch {
      await sessions[node]?.close().catch(() => undefined);
      delete sessions[node];
      return 'unknown';
    }
  };
  const loop = (async () => {
    for (let i = 0; i < 1_200 && !stopped; i++) {
      const t = Date.now();
      const [ha1, ha2] = await Promise.all([readOne('ha1'), readOne('ha2')]);
      samples.push({ t, ha1, ha2 });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - t))));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(Object.values(sessions).map((s) => s.close().catch(() => undefined)));
      return samples;
    },
  };
}

/** The writer (switchover-writer.mjs) in the client namespace; the ids the server acknowledged. */
function startWriter(firstId = 1): {
  acked: () => number[];
  errors: () => number;
  stop(): Promise<number[]>;
} {
  const creds = join(lab.dir, 'db', 'app.cnf');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      namespacesFor(lab.prefix).client,
      process.execPath,
      new URL('./switchover-writer.mjs', import.meta.url).pathname,
      vipOf('inside'),
      creds,
      '120000',
      String(firstId),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const acked: number[] = [];
  let errors = 0;
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      else if (line.startsWith('err ')) errors++;
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    acked: () => acked,
    errors: () => errors,
    async stop() {
      child.kill('SIGTERM');
      const bound = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(bound);
      return acked;
    },
  };
}

/** POST /v1/switchover straight to `node`'s agent (127.0.0.1 in its namespace), the token read from its file. */
async function postSwitchover(node: LabNode, body: Record<string, unknown>): Promise<{ status: number }> {
  const spec = parseSpecText(readFileSync(labPaths(lab.dir).specPath, 'utf8'), 'lab.yaml');
  const script = `const t=require('node:fs').readFileSync(process.argv[1],'utf8').trim();fetch('http://127.0.0.1:'+process.argv[2]+'/v1/switchover',{method:'POST',headers:{authorization:'Bearer '+t,'content-type':'application/json'},body:process.argv[3],signal:AbortSignal.timeout(5000)}).then(r=>{console.log(r.status)},e=>{console.log('error '+e.message)})`;
  const run = await runProgram(
    [
      'ip',
      'netns',
      'exec',
      namespacesFor(lab.prefix)[node],
      process.execPath,
      '-e',
      script,
      spec.agent.api!.token_file,
      String(spec.agent.api!.port),
      JSON.stringify(body),
    ],
    { timeoutMs: 15_000 },
  );
  return { status: Number(run.stdout.trim()) };
}

function record(node: LabNode): SwitchoverRecord | undefined {
  const spec = parseSpecText(readFileSync(labPaths(lab.dir).specPath, 'utf8'), 'lab.yaml');
  try {
    return JSON.parse(
      readFileSync(join(spec.paths.state_dir, `${node}.switchover.json`), 'utf8'),
    ) as SwitchoverRecord;
  } catch {
    return undefined;
  }
}

describe.skipIf(missing)(
  titled('hactl switchover on the lab pair (agent mode)', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(async () => {
      assertBuilt();
      // Fencing on: an agent SIGKILLed before its step-down made the database read-only leaves it
      // writable, and without a fence the target's promotion does not wait for that (seen: 0.4 s
      // with both writable when killed at read-only).
      await lab.up({ mode: 'agent', fast: true, fencing: true });
      await waitForConverged(lab, 'ha1', 'ha2');
      await rootQuery('ha1', 'CREATE TABLE IF NOT EXISTS app.sw (id INT PRIMARY KEY)');
    }, LAB_TEST_TIMEOUT_MS);
    afterAll(async () => {
      await lab.down();
    }, LAB_TEST_TIMEOUT_MS);

    it('refuses while ha2 lags (its SQL thread stopped), and changes nothing', async () => {
      await rootQuery('ha2', 'STOP SLAVE SQL_THREAD');
      try {
        // The agent's status of ha2 must show the stopped thread before the refusal can name it.
        let run: RunResult | undefined;
        await waitFor(
          'switchover refused for the stopped SQL thread',
          async () => {
            run = await switchover(['--to', 'ha2']);
            return run.exitCode === 1 && /SQL thread is stopped/.test(run.stderr);
          },
          { timeoutMs: 20_000, everyMs: 500 },
        );
        expect(run!.stderr).toMatch(
          /switchover refused: ha2 may not take over: ha2's replication SQL thread is stopped/,
        );
        expect(record('ha1')).toBeUndefined();
        await waitForHolder(lab.prefix, 'ha1', 5_000);
        expect(String((await rootQuery('ha1', 'SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe('0');
      } finally {
        await rootQuery('ha2', 'START SLAVE SQL_THREAD');
      }
    });

    it("the agent itself rolls back when the target cannot apply everything (asked directly, past the command's checks)", async () => {
      await rootQuery('ha2', 'STOP SLAVE SQL_THREAD');
      try {
        await rootQuery('ha1', 'INSERT INTO app.sw (id) VALUES (1000000)');
        const answer = await postSwitchover('ha1', {
          id: 'so-rollback',
          from: 'ha1',
          to: 'ha2',
          catch_up_timeout: 2,
        });
        expect(answer.status).toBe(202);
        await waitFor('the switchover rolled back', () => record('ha1')?.phase === 'rolled-back', {
          timeoutMs: 30_000,
          everyMs: 50,
        });
        expect(record('ha1')!.reason).toMatch(/ha2 did not apply .* within --catch-up 2 s/);
        await waitFor(
          'ha1 writable again',
          async () => String((await rootQuery('ha1', 'SELECT @@GLOBAL.read_only AS ro'))[0]?.ro) === '0',
          { timeoutMs: 30_000, everyMs: 100 },
        );
        await waitForHolder(lab.prefix, 'ha1', 5_000);
        expect(String((await rootQuery('ha2', 'SELECT @@GLOBAL.read_only AS ro'))[0]?.ro)).toBe('1');
      } finally {
        await rootQuery('ha2', 'START SLAVE SQL_THREAD');
      }
      await waitForConverged(lab, 'ha1', 'ha2');
    });

    it('ha1 → ha2 under a steady writer: no acknowledged write lost, never two writable databases, window reported', async () => {
      const writer = startWriter();
      const sampler = sampleReadOnly();
      let run: RunResult;
      let acked: number[];
      let samples: { t: number; ha1: string; ha2: string }[];
      try {
        await waitFor('the writer writes through the VIP', () => writer.acked().length >= 20, {
          timeoutMs: 15_000,
          everyMs: 50,
        });
        run = await switchover(['--to', 'ha2', '--max-lag', '5']);
        const before = writer.acked().length;
        await waitFor('the writer writes to ha2', () => writer.acked().length >= before + 20, {
          timeoutMs: 20_000,
          everyMs: 50,
        });
      } finally {
        acked = await writer.stop();
        samples = await sampler.stop();
      }
      expect(run.exitCode, run.stdout + run.stderr).toBe(0);
      for (const step of ['read-only', 'catch-up', 'move-vips', 'promote', 'repoint'])
        expect(run.stdout).toMatch(new RegExp(`^  ${step} +\\d+\\.\\d{3} s`, 'm'));
      const window = /write-unavailability window: (\d+\.\d{3}) s/.exec(run.stdout);
      expect(window, run.stdout).not.toBeNull();
      expect(Number(window![1])).toBeLessThan(15);
      console.log(`switchover window ${window![1]} s; ${acked.length} writes acknowledged`);

      await waitForConverged(lab, 'ha2', 'ha1');
      const onHa2 = new Set((await rootQuery('ha2', 'SELECT id FROM app.sw')).map((r) => Number(r.id)));
      const lost = acked.filter((id) => !onHa2.has(id));
      expect(lost, `acknowledged writes missing on the new primary ha2`).toEqual([]);
      expect(acked.length).toBeGreaterThan(40);

      const both = samples.filter((s) => s.ha1 === '0' && s.ha2 === '0');
      expect(both, 'samples with both databases writable').toEqual([]);
      expect(samples.some((s) => s.ha1 === '1' && s.ha2 === '0')).toBe(true);
      expect(samples.length).toBeGreaterThan(10);
    });

    it('ha2 → ha1 with the command SIGKILLed while ha1 is promoted: the agent carries on, the next run reports it done', async () => {
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          namespacesFor(lab.prefix).ha2,
          process.execPath,
          hactlBin,
          'switchover',
          '--spec',
          labPaths(lab.dir).specPath,
          '--to',
          'ha1',
        ],
        { stdio: 'ignore', detached: true },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await waitFor(
          'the switchover ha2 → ha1 at its promote step',
          () => {
            const r = record('ha2');
            return r !== undefined && r.to === 'ha1' && ['promote', 'repoint', 'done'].includes(r.phase);
          },
          { timeoutMs: 30_000, everyMs: 20 },
        );
        process.kill(-child.pid!, 'SIGKILL');
        expect(await exited).toBeNull();
      } finally {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      const killedAt = record('ha2')!.phase;
      console.log(`switchover command SIGKILLed at step ${killedAt}`);
      expect(['promote', 'repoint', 'done']).toContain(killedAt);
      const rerun = await switchover(['--to', 'ha1'], 'ha1');
      expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
      expect(rerun.stdout).toMatch(
        /following switchover in progress|nothing to do: ha1 is the primary already/,
      );
      expect(rerun.stdout).toMatch(/write-unavailability window: \d+\.\d{3} s/);
      await waitForConverged(lab, 'ha1', 'ha2');
      expect(record('ha2')!.phase).toBe('done');
    });

    // Alternating direction, so each case starts from the pair the previous one left.
    const KILL_TRIES = 3;
    const IDS_PER_TRY = 100_000;
    const AGENT_KILLS: { step: StepName; from: LabNode; to: LabNode }[] = [
      { step: 'read-only', from: 'ha1', to: 'ha2' },
      { step: 'catch-up', from: 'ha2', to: 'ha1' },
      { step: 'move-vips', from: 'ha1', to: 'ha2' },
      { step: 'promote', from: 'ha2', to: 'ha1' },
      { step: 'repoint', from: 'ha1', to: 'ha2' },
    ];
    /**
     * One try: `from`'s agent drives a switchover to `to` under a writer, is frozen the moment its
     * record shows `step` or a later one, SIGKILLed and restarted; whatever step it died at, the
     * pair must converge on `to` with the record done, nothing lost and never two writable.
     * Returns the step it was frozen at.
     */
    async function killAgentDuringSwitchover(
      { step, from, to }: { step: StepName; from: LabNode; to: LabNode },
      id: string,
      firstId: number,
    ): Promise<string | undefined> {
      const agent = agentFiles(labPaths(lab.dir).node[from].dir);
      const logFrom = readFileSync(agent.log, 'utf8').length;
      await waitForConverged(lab, from, to);
      const writer = startWriter(firstId);
      const sampler = sampleReadOnly();
      let acked: number[];
      let samples: { t: number; ha1: string; ha2: string }[];
      let killedAt: string | undefined;
      let vrrpFrozen = false;
      try {
        await waitFor('the writer writes through the VIP', () => writer.acked().length >= 10, {
          timeoutMs: 15_000,
          everyMs: 50,
        });
        // catch-up lasts milliseconds; with the target's SQL thread stopped it lasts until the kill
        // (the target's own promotion starts the thread again to drain its relay log).
        // move-vips lasts until keepalived removes the VIPs, ~0.1 s in the fast profile: a watcher on
        // a loaded machine can miss it (CI run v32 froze the agent at promote). So catch-up is held
        // the same way, the primary's VRRP process is frozen once the record shows it, and catch-up
        // is let go: move-vips then lasts until the thaw after the kill (meanwhile the target, hearing
        // no advert, takes over and promotes itself, fencing the primary first).
        if (step === 'catch-up' || step === 'move-vips') await rootQuery(to, 'STOP SLAVE SQL_THREAD');
        // Asking takes a node start in the namespace, longer than most steps: the record is
        // watched meanwhile, and the agent frozen the moment it shows the step (so the step it
        // dies at is the one its record shows), before the answer to the POST if need be.
        let frozen = false;
        const watch = waitFor(
          `${from}'s switchover at step ${step} or later`,
          () => {
            const r = record(from);
            if (r?.id !== id) return false;
            // Finished before the watcher looked (a missed try too): frozen and killed all the same.
            const finished = !STEP_NAMES.includes(r.phase as StepName);
            if (!finished && STEP_NAMES.indexOf(r.phase as StepName) < STEP_NAMES.indexOf(step)) return false;
            frozen = signalAgent(agent, 'SIGSTOP');
            killedAt = record(from)?.phase;
            return true;
          },
          { timeoutMs: 30_000, everyMs: 2 },
        );
        const posted = postSwitchover(from, { id, from, to, catch_up_timeout: 30 });
        if (step === 'move-vips') {
          await waitFor(`${from}'s switchover at catch-up`, () => record(from)?.phase === 'catch-up', {
            timeoutMs: 30_000,
            everyMs: 5,
          });
          vrrpFrozen = signalVrrp(vrrpOf(from), 'SIGSTOP');
          expect(vrrpFrozen, `${from}'s keepalived VRRP process`).toBe(true);
          await rootQuery(to, 'START SLAVE SQL_THREAD');
        }
        await watch;
        expect(frozen).toBe(true);
        expect(signalAgent(agent, 'SIGKILL')).toBe(true);
        if (vrrpFrozen) vrrpFrozen = !signalVrrp(vrrpOf(from), 'SIGCONT');
        await posted; // answered 202, or cut off by the kill: the record above shows it was taken
        if (step === 'catch-up' || step === 'move-vips')
          await rootQuery(to, 'START SLAVE SQL_THREAD').catch(() => undefined);
        await waitFor(`${from}'s agent gone`, () => agentPid(agent) === undefined, {
          timeoutMs: 10_000,
          everyMs: 20,
        });
        await labHeal({ prefix: lab.prefix, dir: lab.dir, node: from });
        await waitFor(
          `switchover ${id} finished`,
          () => /^(done|rolled-back|failed)$/.test(record(from)?.phase ?? ''),
          {
            timeoutMs: 60_000,
            everyMs: 100,
          },
        );
        await waitForConverged(lab, to, from);
        const before = writer.acked().length;
        await waitFor(`the writer writes to ${to}`, () => writer.acked().length >= before + 10, {
          timeoutMs: 20_000,
          everyMs: 50,
        });
      } finally {
        if (vrrpFrozen) signalVrrp(vrrpOf(from), 'SIGCONT');
        if (step === 'catch-up' || step === 'move-vips')
          await rootQuery(to, 'START SLAVE SQL_THREAD').catch(() => undefined);
        acked = await writer.stop();
        samples = await sampler.stop();
      }
      const log = readFileSync(agent.log, 'utf8').slice(logFrom);
      const final = record(from)!;
      console.log(
        `agent SIGKILLed at ${killedAt} (${from} → ${to}): ${final.phase}; steps ${final.steps.map((s) => s.name).join(' → ')}; ${acked.length} acked`,
      );
      expect(final.phase, JSON.stringify(final)).toBe('done');
      if (STEP_NAMES.includes(killedAt as StepName))
        expect(log).toMatch(new RegExp(`"event":"switchover.resume","id":"${id}","phase":"${killedAt}"`));

      const onTarget = new Set(
        (
          await rootQuery(
            to,
            `SELECT id FROM app.sw WHERE id >= ${firstId} AND id < ${firstId + IDS_PER_TRY}`,
          )
        ).map((r) => Number(r.id)),
      );
      expect(
        acked.filter((n) => !onTarget.has(n)),
        `acknowledged writes missing on the new primary ${to}`,
      ).toEqual([]);
      expect(acked.length).toBeGreaterThan(20);
      expect(
        samples.filter((s) => s.ha1 === '0' && s.ha2 === '0'),
        'samples with both databases writable',
      ).toEqual([]);
      expect(samples.length).toBeGreaterThan(10);

      const rerun = await switchover(['--to', to], to);
      expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
      expect(rerun.stdout).toMatch(new RegExp(`nothing to do: ${to} is the primary already`));
      expect(rerun.stdout).toContain(`last switchover ${id} (${from} → ${to})`);
      return killedAt;
    }

    it.each(AGENT_KILLS)(
      "$from's agent SIGKILLed at step $step ($from → $to), restarted: the pair converges on $to, done, nothing lost, never two writable",
      async ({ step, from, to }) => {
        // The freeze follows the record from outside the agent: on a busy machine a short step can
        // be over before the watcher sees it (CI v67: frozen at move-vips, not read-only). Such a
        // try still checks convergence, then the pair is switched back and the step tried again.
        const frozenAt: (string | undefined)[] = [];
        for (let attempt = 1; attempt <= KILL_TRIES && frozenAt.at(-1) !== step; attempt++) {
          if (attempt > 1) {
            const back = await switchover(['--to', from], to);
            expect(back.exitCode, back.stdout + back.stderr).toBe(0);
            await waitForConverged(lab, from, to);
          }
          const firstId = (STEP_NAMES.indexOf(step) + 2) * 1_000_000 + attempt * IDS_PER_TRY;
          frozenAt.push(
            await killAgentDuringSwitchover({ step, from, to }, `so-kill-${step}-${attempt}`, firstId),
          );
        }
        expect(
          frozenAt.at(-1),
          `the steps the agent was frozen at, one per try: ${frozenAt.join(', ')}`,
        ).toBe(step);
      },
    );
  },
);
