/**
 * File sync on the agent (issue 11, item 1), in the lab with real rsync daemons: the lab spec's
 * sync section (src/lab/spec.ts, LAB_SYNC) pushes each node's www directory to the peer's rsync
 * module every `interval` s, with delete and a bandwidth limit. A file, a symlink and a deletion
 * made on the MASTER reach the BACKUP within one interval (plus a bound for the push); a file made
 * on the BACKUP never reaches the MASTER; after a failover the direction reverses; a push slower
 * than one interval is never run twice at once (the agent's log and the rsync processes say so).
 */
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labFail, labPaths } from '../../src/lab/lab.js';
import { namespacesFor, type LabNode } from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { rsyncFiles } from '../../src/lab/rsync.js';
import { LAB_SYNC } from '../../src/lab/spec.js';
import { assertBuilt, runHactl } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { LAB_PROGRAMS, LAB_TEST_TIMEOUT_MS, jsonLines, testLab, waitForHolder } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2esy');
const INTERVAL_MS = LAB_SYNC.interval * 1000;
/** A push of a few small files: an rsync start and a round trip, slow only on a loaded machine. */
const PUSH_BOUND_MS = 8_000;

const www = (node: LabNode) => rsyncFiles(labPaths(lab.dir).node[node].dir).moduleDir;
const agentLog = (node: LabNode) => join(labPaths(lab.dir).node[node].dir, 'agent.log');

interface LogLine {
  time: string;
  event: string;
  push_id?: string;
  result?: string;
  duration_ms?: number;
  reason?: string;
}

function syncEvents(node: LabNode): LogLine[] {
  if (!existsSync(agentLog(node))) return [];
  return readFileSync(agentLog(node), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"sync.'))
    .flatMap((line) => jsonLines<LogLine>(line));
}
const count = (node: LabNode, event: string) => syncEvents(node).filter((e) => e.event === event).length;

/**
 * Process groups of rsync clients pushing `node`'s www (each push runs rsync in its own group):
 * the daemons' processes have another command line.
 */
async function pushingGroups(node: LabNode): Promise<Set<string>> {
  const groups = new Set<string>();
  const source = `${www(node)}/`;
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      if (cmdline[0] !== 'rsync' || !cmdline.includes(source)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      groups.add(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]!);
    } catch {
      // gone meanwhile
    }
  }
  return groups;
}

describe.skipIf(missing)(
  titled('hactl agent: file sync from the MASTER only', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => assertBuilt());
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') {
        for (const node of ['ha1', 'ha2'] as const) {
          const lines = existsSync(agentLog(node)) ? readFileSync(agentLog(node), 'utf8').split('\n') : [];
          console.log(`--- ${node} agent.log (tail) ---\n${lines.slice(-40).join('\n')}`);
        }
      }
      await lab.down();
    });

    it('pushes MASTER → BACKUP within one interval (file, symlink, deletion), never BACKUP → MASTER, reverses after a failover, never twice at once', async () => {
      await lab.up({ mode: 'agent', fast: true });

      // 1. A file, a symlink and a deletion made on the MASTER (ha1) reach ha2.
      writeFileSync(join(www('ha1'), 'gone.txt'), 'to be deleted\n');
      await waitFor('gone.txt on ha2', () => existsSync(join(www('ha2'), 'gone.txt')), {
        timeoutMs: INTERVAL_MS + PUSH_BOUND_MS + 20_000,
        everyMs: 50,
      });
      const madeAt = Date.now();
      writeFileSync(join(www('ha1'), 'page.html'), 'from ha1\n');
      symlinkSync('page.html', join(www('ha1'), 'link.html'));
      rmSync(join(www('ha1'), 'gone.txt'));
      await waitFor(
        'page.html, link.html -> page.html and the deletion of gone.txt on ha2',
        () => {
          const link = join(www('ha2'), 'link.html');
          return (
            existsSync(join(www('ha2'), 'page.html')) &&
            readFileSync(join(www('ha2'), 'page.html'), 'utf8') === 'from ha1\n' &&
            existsSync(link) &&
            lstatSync(link).isSymbolicLink() &&
            readlinkSync(link) === 'page.html' &&
            !existsSync(join(www('ha2'), 'gone.txt'))
          );
        },
        { timeoutMs: INTERVAL_MS + PUSH_BOUND_MS, everyMs: 50 },
      );
      console.log(`sync: ha1's changes on ha2 after ${Date.now() - madeAt} ms (interval ${INTERVAL_MS} ms)`);

      // 2. A file made on the BACKUP never reaches the MASTER: two more pushes of ha1 end, nothing
      // comes back, and ha2's agent never starts a push.
      writeFileSync(join(www('ha2'), 'backup-only.txt'), 'made on the standby\n');
      const finished = count('ha1', 'sync.push_finished');
      await waitFor(
        'two more pushes of ha1 to end',
        () => count('ha1', 'sync.push_finished') >= finished + 2,
        {
          timeoutMs: 2 * (INTERVAL_MS + PUSH_BOUND_MS),
          everyMs: 100,
        },
      );
      expect(existsSync(join(www('ha1'), 'backup-only.txt'))).toBe(false);
      expect(count('ha2', 'sync.push_started')).toBe(0);
      expect(
        syncEvents('ha2').some((e) => e.event === 'sync.skip' && /not pushing/.test(e.reason ?? '')),
      ).toBe(true);
      // By hand on the BACKUP: refused without --force.
      const byHand = await runHactl(['sync', '--spec', labPaths(lab.dir).specPath, '--node', 'ha2'], {
        netns: namespacesFor(lab.prefix).ha2,
        timeoutMs: 30_000,
      });
      expect(byHand.exitCode).toBe(1);
      expect(byHand.stderr).toContain('ha2 is not the node to push from: this node does not hold');

      // 3. Failover: ha2 takes the VIPs and pushes to ha1; ha1 stops pushing.
      await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'nginx' });
      await waitForHolder(lab.prefix, 'ha2', 30_000);
      const ha1Started = count('ha1', 'sync.push_started');
      writeFileSync(join(www('ha2'), 'after.txt'), 'from ha2\n');
      await waitFor('after.txt on ha1', () => existsSync(join(www('ha1'), 'after.txt')), {
        // The promotion must be applied before ha2 pushes (mysql.promote in the lab spec).
        timeoutMs: 30_000 + INTERVAL_MS + PUSH_BOUND_MS,
        everyMs: 50,
      });
      expect(readFileSync(join(www('ha1'), 'after.txt'), 'utf8')).toBe('from ha2\n');
      expect(count('ha1', 'sync.push_started')).toBe(ha1Started);

      // 4. A push slower than one interval (8 MiB at the lab's bwlimit) is never run twice at once.
      const big = randomBytes(8 * 1024 * 1024);
      writeFileSync(join(www('ha2'), 'big.bin'), big);
      let most = 0;
      await waitFor(
        'big.bin on ha1 in full',
        async () => {
          most = Math.max(most, (await pushingGroups('ha2')).size);
          const copy = join(www('ha1'), 'big.bin');
          return existsSync(copy) && statSync(copy).size === big.length;
        },
        { timeoutMs: 60_000, everyMs: 50 },
      );
      expect(most, 'rsync pushes of ha2 at one moment').toBe(1);
      // The file is renamed into place just before rsync exits: let the agent log that push's end.
      await waitFor(
        "ha2's push in flight to be logged as finished",
        () => count('ha2', 'sync.push_finished') === count('ha2', 'sync.push_started'),
        { timeoutMs: PUSH_BOUND_MS, everyMs: 50 },
      );
      const events = syncEvents('ha2').filter(
        (e) => e.event === 'sync.push_started' || e.event === 'sync.push_finished',
      );
      // Started and finished strictly alternate: no push starts before the previous one ended.
      events.forEach((e, i) => {
        expect(e.event, `event ${i} of ha2's pushes`).toBe(
          i % 2 === 0 ? 'sync.push_started' : 'sync.push_finished',
        );
        if (i % 2 === 1) expect(e.push_id).toBe(events[i - 1]!.push_id);
      });
      const slowest = Math.max(...events.map((e) => e.duration_ms ?? 0));
      console.log(`sync: ha2's slowest push took ${slowest} ms (interval ${INTERVAL_MS} ms)`);
      expect(slowest, 'the big push outlived one interval').toBeGreaterThan(INTERVAL_MS);
      expect(
        syncEvents('ha2').some((e) => e.event === 'sync.skip' && /still running/.test(e.reason ?? '')),
      ).toBe(true);

      // hactl status (the agent's node view) shows the last push.
      const status = await runHactl(
        ['status', '--json', '--spec', labPaths(lab.dir).specPath, '--node', 'ha2'],
        {
          netns: namespacesFor(lab.prefix).ha2,
          timeoutMs: 60_000,
        },
      );
      const report = JSON.parse(status.stdout) as {
        nodes: { name: string; sync?: { last: { ok: boolean } | null; interval_s: number } }[];
      };
      const ha2 = report.nodes.find((n) => n.name === 'ha2');
      expect(ha2?.sync?.interval_s).toBe(LAB_SYNC.interval);
      expect(ha2?.sync?.last?.ok).toBe(true);
    });
  },
);
