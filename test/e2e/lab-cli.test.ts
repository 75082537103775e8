/**
 * Issue 3's "done when", through the built launcher: `hactl lab up && status && fail ha1 && status
 * && down` shows the VIPs moving, leaves no namespace or process behind, and works twice in a row.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONVERGE_TIMEOUT_MS, defaultDir, type LabStatus } from '../../src/lab/lab.js';
import { existingNamespaces } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { assertBuilt, runHactl, runProgram } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { LAB_PROGRAMS, LAB_TEST_TIMEOUT_MS, SETTLE_MS } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: [...LAB_PROGRAMS, 'setpriv'] });
// PID-unique (as testLab's prefixes): a CI run in another clone may run this suite at the same time.
const PREFIX = `e2ecl${process.pid}`;
const DIR = defaultDir(PREFIX);
// `up` waits for convergence (up to CONVERGE_TIMEOUT_MS) after building the lab.
const lab = (...args: string[]) =>
  runHactl(['lab', ...args, '--prefix', PREFIX], { timeoutMs: CONVERGE_TIMEOUT_MS + 120_000 });

/** PIDs whose command line mentions the lab directory (every daemon the lab starts does). */
function processesOfLab(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(DIR)) found.push(`${entry}: ${cmdline}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

async function statusJson(): Promise<LabStatus> {
  const result = await lab('status', '--json');
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as LabStatus;
}

describe.skipIf(missing)(
  titled('hactl lab through bin/hactl', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterAll(async () => {
      await lab('down');
    });

    for (const round of [1, 2]) {
      it(`round ${round}: up returns a converged pair, status, fail ha1, status shows the VIPs on ha2, down leaves nothing`, async () => {
        const up = await lab('up');
        expect(up.exitCode, up.stderr + up.stdout).toBe(0);
        expect(up.stdout).toMatch(
          /both VIPs on ha1 \(writable primary\); ha2 BACKUP, read-only, replicating from ha1/,
        );

        // Right after `up`, without waiting: the pair has converged.
        const table = await lab('status');
        expect(table.exitCode, table.stderr).toBe(0);
        expect(table.stdout).toMatch(/^ha1\s+up\s+HOLDS MASTER\s+HOLDS MASTER\s+up\s+up\s+primary\b/m);
        expect(table.stdout).toMatch(/^ha2\s+up\s+BACKUP\s+BACKUP\s+up\s+up\s+replica\b/m);
        expect(table.stdout).toMatch(/^pair: converged \(ha1 primary, ha2 its replica\)$/m);
        expect(table.stdout).toMatch(
          /client: HTTP http:\/\/198\.51\.100\.50\/ → ha1; SQL 192\.0\.2\.50:3306 → ha1/,
        );

        const fail = await lab('fail', 'ha1');
        expect(fail.exitCode, fail.stderr).toBe(0);
        await waitFor(
          'status to show both VIPs on ha2',
          async () => {
            const s = await statusJson();
            return (
              s.holders.inside.join() === 'ha2' &&
              s.holders.outside.join() === 'ha2' &&
              s.client.http === 'ha2'
            );
          },
          { timeoutMs: SETTLE_MS, everyMs: 500 },
        );
        const after = await lab('status');
        expect(after.stdout).toMatch(/^ha1\s+DOWN/m);
        expect(after.stdout).toMatch(/^ha2\s+up\s+HOLDS MASTER\s+HOLDS MASTER/m);

        const down = await lab('down');
        expect(down.exitCode, down.stderr).toBe(0);
        expect(existingNamespaces(PREFIX)).toEqual([]);
        expect(existsSync(DIR)).toBe(false);
        // Processes exit asynchronously after their namespace is gone; bounded wait.
        await waitFor('no lab process left', () => processesOfLab().length === 0, {
          timeoutMs: 15_000,
        }).catch(() => {
          throw new Error(`left behind:\n${processesOfLab().join('\n')}`);
        });
        const again = await lab('down');
        expect(again.exitCode, 'down is safe to run twice').toBe(0);
      });
    }

    it('refuses without root, with a message that says why', async () => {
      // The checkout may sit in a 0700 directory (CI clones into mktemp -d): give the unprivileged
      // user a hard-linked copy under a world-readable directory.
      const copy = mkdtempSync(join(tmpdir(), 'hactl-nonroot-'));
      try {
        chmodSync(copy, 0o755);
        try {
          execFileSync('cp', ['-al', resolve('.'), join(copy, 'hactl')], { timeout: 60_000, stdio: 'pipe' });
        } catch {
          // Another filesystem: hard links are impossible, copy instead.
          rmSync(join(copy, 'hactl'), { recursive: true, force: true });
          execFileSync('cp', ['-a', resolve('.'), join(copy, 'hactl')], { timeout: 120_000 });
        }
        const result = await runProgram(
          [
            'setpriv',
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            join(copy, 'hactl', 'bin', 'hactl'),
            'lab',
            'status',
            '--prefix',
            PREFIX,
          ],
          { timeoutMs: 15_000 },
        );
        expect(result.stderr).toMatch(/needs root/);
        expect(result.exitCode).toBe(1);
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });

    it('rejects an unknown action or a missing node with exit 2', async () => {
      expect((await lab('explode')).exitCode).toBe(2);
      const noNode = await lab('fail');
      expect(noNode.exitCode).toBe(2);
      expect(noNode.stderr).toMatch(/fail needs a node: ha1 or ha2/);
    });
  },
);
