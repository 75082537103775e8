/**
 * Proxy upkeep in the lab (issue 11 item 2, seed 004): agent mode, fast profile, real keepalived,
 * MariaDB and HAProxy, and an Atlas admin stand-in on each node. Atlas has the inside VIP as its
 * read-write backend (seed 004); HAProxy has the node layout (the VIP holder's address). ha1's
 * MariaDB is stopped: the VIPs move to ha2, the read-only backend ha2 goes (it is the primary
 * now) and ha1 is not listed while it has not caught up; once healed and caught up it comes back
 * as the read-only backend on both nodes' proxies. Both nodes' four proxies are sampled every
 * 100 ms throughout: none may ever list zero writable backends. The upkeep is rule 6 of the
 * decision core: each change is an `apply.proxy` line of the agent's log with its transition id,
 * and Atlas's SAVE CONFIG copy ends equal to what it runs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, labFail, labHeal, labPaths } from '../../src/lab/lab.js';
import {
  LAB_PROXY_VIP,
  labProxyBlock,
  labProxyFiles,
  readLabProxies,
  startLabProxies,
  stopLabProxies,
  type ProxySample,
} from '../../src/lab/proxy.js';
import { waitFor } from '../../src/lab/processes.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { LAB_PROGRAMS, printNodeLogTails, testLab, waitForHolder } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: [...LAB_PROGRAMS, 'haproxy'] });
const lab = testLab('e2epx');
const HA1 = `${addressOf('ha1', 'inside')}:3306`;
const HA2 = `${addressOf('ha2', 'inside')}:3306`;

let bundleDir = '';
let standin = '';

/** Samples every proxy every 80 ms (start to start; bounded) until stopped. */
function sampleProxies(maxMs: number) {
  const samples: ProxySample[] = [];
  const errors: string[] = [];
  let stopped = false;
  const done = (async () => {
    const until = Date.now() + maxMs;
    for (let i = 0; i < maxMs / 80 + 1 && !stopped && Date.now() < until; i++) {
      const started = Date.now();
      try {
        samples.push(...(await readLabProxies(lab.dir, AbortSignal.timeout(1_000))));
      } catch (error) {
        errors.push((error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 80 - (Date.now() - started))));
    }
  })();
  return {
    samples,
    errors,
    latest: (node: 'ha1' | 'ha2', proxy: 'atlas' | 'haproxy') =>
      samples.findLast((s) => s.node === node && s.proxy === proxy)?.backends,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

describe.skipIf(missing)(
  titled('proxy upkeep in the lab (HAProxy + Atlas stand-in)', missing),
  { timeout: 240_000 },
  () => {
    beforeAll(async () => {
      assertBuilt();
      bundleDir = mkdtempSync(join(tmpdir(), 'hactl-atlas-standin-'));
      standin = join(bundleDir, 'atlas-standin.cjs');
      await build({
        entryPoints: ['test/proxy/atlas-standin.ts'],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        outfile: standin,
        logLevel: 'warning',
      });
    });
    afterAll(() => {
      if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
    });
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') printNodeLogTails(lab, 40);
      await stopLabProxies(lab.dir, standin);
      await lab.down();
    });

    it('failover drops the failed read-only backend, the caught-up standby comes back, and no proxy is ever without a writer', async () => {
      await lab.up({ mode: 'agent', fast: true, proxy: labProxyBlock(lab.dir) });
      await startLabProxies(
        lab.prefix,
        lab.dir,
        { user: 'atlas', password: randomBytes(12).toString('hex') },
        ({ port, credentials, stateFile, initial }) => [
          process.execPath,
          standin,
          String(port),
          credentials,
          stateFile,
          initial,
        ],
      );
      const sampler = sampleProxies(150_000);
      try {
        let failedAt = Infinity;
        let healedAt = Infinity;
        // The safety claims, checked on every wait as the samples come in (a break fails with their words).
        const invariants = () => {
          const withoutWriter = sampler.samples.filter((s) => s.backends.rw.length === 0);
          expect(withoutWriter.slice(0, 3), 'a proxy without a writable backend').toEqual([]);
          // ha1's database is down from failedAt until healedAt: no proxy may list it read-only then.
          const staleReads = sampler.samples.filter(
            (s) => s.t >= failedAt && s.t <= healedAt && s.backends.ro.includes(HA1),
          );
          expect(staleReads.slice(0, 3), 'ha1 listed read-only while its database was down').toEqual([]);
          // Atlas (the VIP layout) lists exactly the VIP as writer all along.
          const atlasElse = sampler.samples.filter(
            (s) => s.proxy === 'atlas' && s.backends.rw.join() !== LAB_PROXY_VIP,
          );
          expect(atlasElse.slice(0, 3), 'Atlas with another writer than the VIP').toEqual([]);
        };
        const settled = (want: Record<'atlas' | 'haproxy', { rw: string[]; ro: string[] }>) => () => {
          invariants();
          return (['ha1', 'ha2'] as const).every((node) =>
            (['atlas', 'haproxy'] as const).every(
              (proxy) => JSON.stringify(sampler.latest(node, proxy)) === JSON.stringify(want[proxy]),
            ),
          );
        };
        // Before: ha1 primary, ha2 its caught-up replica.
        await waitFor(
          "both nodes' proxies: rw VIP (Atlas) / ha1 (HAProxy), ro ha2",
          settled({ atlas: { rw: [LAB_PROXY_VIP], ro: [HA2] }, haproxy: { rw: [HA1], ro: [HA2] } }),
          { timeoutMs: 30_000, everyMs: 100 },
        );

        failedAt = await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha1', how: 'mysql' });
        await waitForHolder(lab.prefix, 'ha2', 30_000);
        await waitFor(
          "both nodes' proxies: rw VIP / ha2, no read-only backend",
          settled({ atlas: { rw: [LAB_PROXY_VIP], ro: [] }, haproxy: { rw: [HA2], ro: [] } }),
          { timeoutMs: 20_000, everyMs: 100 },
        );
        const removedAt = Date.now();
        healedAt = Date.now();
        await labHeal({ prefix: lab.prefix, dir: lab.dir, node: 'ha1' });
        await waitFor(
          "ha1 back as the read-only backend on both nodes' proxies",
          settled({ atlas: { rw: [LAB_PROXY_VIP], ro: [HA1] }, haproxy: { rw: [HA2], ro: [HA1] } }),
          { timeoutMs: 60_000, everyMs: 100 },
        );
        const readdedAt = Date.now();
        await sampler.stop();
        invariants();
        expect(sampler.errors, 'every sample read every proxy').toEqual([]);
        for (const node of ['ha1', 'ha2'] as const) {
          // Persisted: Atlas's config-file copy (SAVE CONFIG) is what it runs.
          const atlas = JSON.parse(readFileSync(labProxyFiles(lab.dir, node).atlasState, 'utf8')) as {
            backends: unknown;
            saved: unknown;
          };
          expect(atlas.saved, `${node}'s Atlas saved its config`).toEqual(atlas.backends);
          // Through the core: every proxy change is an apply.proxy line with the tick's transition id.
          const changes = readFileSync(join(labPaths(lab.dir).node[node].dir, 'agent.log'), 'utf8')
            .split('\n')
            .filter((line) => line.includes('"apply.proxy"') && line.includes('"changed"'))
            .map((line) => JSON.parse(line) as { transition_id?: string; step?: string });
          expect(changes.length, `${node}'s agent logged its proxy changes`).toBeGreaterThan(0);
          expect(changes.filter((c) => !c.transition_id?.startsWith(`${node}-`))).toEqual([]);
        }
        // The sampler really watched: every 100 ms at most on average, across the whole scenario.
        const times = [...new Set(sampler.samples.map((s) => s.t))];
        const gaps = times.slice(1).map((t, i) => t - times[i]!);
        const spanMs = times.at(-1)! - times[0]!;
        expect(spanMs / gaps.length).toBeLessThanOrEqual(100);
        console.log(
          `proxy samples: ${times.length} over ${(spanMs / 1000).toFixed(1)} s (mean gap ${(spanMs / gaps.length).toFixed(0)} ms, max ${Math.max(...gaps)} ms); ` +
            `fault→proxies settled ${removedAt - failedAt} ms; heal→ha1 re-added ${readdedAt - healedAt} ms`,
        );
      } finally {
        await sampler.stop();
      }
    });
  },
);
