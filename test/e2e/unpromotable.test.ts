/**
 * Agent mode: a node whose rebuild stopped half-way (its marker in paths.state_dir) and that gets
 * the VIPs hands them back to a peer that can be promoted (strict chaos, notify-burst: a rejoin
 * cancelled mid-copy by the VIPs moving to it left the pair without a writable database). The
 * promotion guard refuses the half-rebuilt node, the unpromotable gate makes keepalived FAULT it,
 * the peer takes the VIPs and promotes; once the marker is gone the node is a standby again.
 * Real keepalived, MariaDB and agents in the lab; the marker is written by the test, as a rebuild
 * that stopped after RESET MASTER leaves it.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { switchoverTrackFile, unpromotableTrackFile } from '../../src/agent/contract.js';
import { holderOfBoth, labPaths, vipHolders } from '../../src/lab/lab.js';
import { labDatabase } from '../../src/lab/lab-db.js';
import { namespacesFor, vipOf } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { markerPath } from '../../src/mysql/rebuild-marker.js';
import { assertBuilt, runHactl } from '../support/cli.js';
import { readValue } from '../support/files.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  expectHolderStays,
  jsonLines,
  logSince,
  logSize,
  printNodeLogTails,
  rootSession,
  testLab,
  waitForConverged,
  waitForHolder,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2eup');
/**
 * Each hand-over: keepalived's election (0.1 s adverts) and, for ha2, its refused promotion, a gate
 * round (1 s) and keepalived's FAULT; for ha1 its promotion. With room for CI load.
 */
const HAND_BACK_BOUND_MS = 15_000;

interface LogLine {
  event?: string;
  node?: string;
  reason?: string;
  promotion?: string;
  vips_held?: string[];
}

async function readOnly(node: 'ha1' | 'ha2'): Promise<string> {
  const session = await rootSession(lab, node);
  try {
    return String(Object.values((await session.query('SELECT @@GLOBAL.read_only AS r'))[0] ?? {})[0]);
  } finally {
    await session.close();
  }
}

describe.skipIf(missing)(
  titled('hactl lab --mode agent: a half-rebuilt node hands the VIPs to its peer', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') printNodeLogTails(lab);
      await lab.downForGood();
    });

    it('refused, FAULTed by its gate, the peer promotes; a standby again once the rebuild is done; no write lost', async () => {
      await lab.up({ mode: 'agent', fast: true });
      const paths = labPaths(lab.dir);
      const ns = namespacesFor(lab.prefix);
      const database = labDatabase({ dir: lab.dir, netns: (node) => ns[node] });
      const acked: string[] = [];
      const write = async () => {
        const id = await database.clientInsert(ns.client, vipOf('inside'));
        if (id !== null) acked.push(id);
      };
      for (let i = 0; i < 10; i++) await write();
      expect(acked.length).toBeGreaterThan(0);

      const stateDir = join(lab.dir, 'state');
      await mkdir(stateDir, { recursive: true });
      const marker = markerPath(stateDir, 'ha2');
      const gate = unpromotableTrackFile(paths.runtimeDir, 'ha2');
      const handOver = switchoverTrackFile(paths.runtimeDir, 'ha1');
      writeFileSync(
        marker,
        JSON.stringify({
          discarded: [],
          savedBinlogDir: join(stateDir, 'saved'),
          peer: 'ha1',
          at: new Date().toISOString(),
        }) + '\n',
      );
      // A standby rebuilding is left alone: its gate stays down and the pair does not move.
      await expectHolderStays(lab.prefix, 'ha1', 3_000);
      expect(await readValue(gate)).toBe('0\n');

      // The VIPs reach the half-rebuilt node: ha1 hands over through its switchover track file (a
      // switchover's FAULT). ha1's agent puts that file back to 0 within a moment, so ha1 may be
      // back in line by the time ha2 gives the VIPs up.
      const from = logSize(paths.log);
      writeFileSync(handOver, '1\n');
      const handedAt = Date.now();
      // ha2 takes them, refuses to promote, raises its gate, and keepalived FAULTs it.
      await waitFor(
        'ha2 took the VIPs, raised its gate and gave them up',
        async () => {
          if ((await readValue(gate)) !== '1\n') return false;
          const holders = await vipHolders(lab.prefix);
          return !holders.inside.includes('ha2') && !holders.outside.includes('ha2');
        },
        { timeoutMs: HAND_BACK_BOUND_MS, everyMs: 50 },
      );
      console.log(
        `half-rebuilt ha2 took the VIPs and gave them up ${Date.now() - handedAt} ms after ha1 handed over`,
      );
      const seen = jsonLines<LogLine>(logSince(paths.log, from)).filter((l) => l.node === 'ha2');
      expect(
        seen.some(
          (l) =>
            l.event === 'agent.tick' &&
            l.promotion === 'refused' &&
            /a rebuild stopped half-way here/.test(l.reason ?? ''),
        ),
        "ha2's agent refused the promotion, naming the unfinished rebuild",
      ).toBe(true);
      const raised = seen.find((l) => l.event === 'agent.unpromotable_raised');
      expect(raised?.reason).toMatch(/hands the VIPs to its peer/);
      expect(raised?.vips_held?.length, 'ha2 held VIPs when it raised its gate').toBeGreaterThan(0);
      expect(await readOnly('ha2')).toBe('1');

      // ha1 may be primary again: it takes the VIPs and promotes; ha2 stays out while the marker is there.
      const backAt = Date.now();
      writeFileSync(handOver, '0\n');
      await waitForHolder(lab.prefix, 'ha1', HAND_BACK_BOUND_MS);
      await waitFor('ha1 writable', async () => (await readOnly('ha1').catch(() => '')) === '0', {
        timeoutMs: HAND_BACK_BOUND_MS,
        everyMs: 100,
      });
      console.log(`ha1 primary again ${Date.now() - backAt} ms after its hand-over ended`);
      await expectHolderStays(lab.prefix, 'ha1', 3_000);
      expect(await readOnly('ha2')).toBe('1');
      expect(await readValue(gate)).toBe('1\n');
      const shown = await runHactl(['status', '--json', '--spec', paths.specPath, '--node', 'ha2'], {
        netns: ns.ha2,
        timeoutMs: 60_000,
      });
      expect(shown.exitCode).toBe(1);
      expect((JSON.parse(shown.stdout) as { problems: string[] }).problems).toContain(
        "ha2: a rebuild stopped half-way here, so its unpromotable gate keeps keepalived in FAULT: finish it with hactl rebuild (under strict semi-sync the agent's rejoin resumes it)",
      );
      for (let i = 0; i < 10; i++) await write();

      // The rebuild is done (the marker goes): ha2's gate lowers and it is ha1's standby again.
      rmSync(marker);
      await waitFor('ha2 gate lowered', async () => (await readValue(gate)) === '0\n', {
        timeoutMs: 15_000,
        everyMs: 100,
      });
      await waitForConverged(lab, 'ha1', 'ha2');
      expect(await holderOfBoth(lab.prefix)).toBe('ha1');
      const session = await rootSession(lab, 'ha1');
      try {
        const rows = await session.query(
          `SELECT COUNT(*) AS n FROM app.probe WHERE id IN (${acked.join(',')})`,
        );
        expect(Number(rows[0]?.n)).toBe(acked.length);
      } finally {
        await session.close();
      }
    });
  },
);
