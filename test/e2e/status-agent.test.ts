/**
 * `hactl status` asking the agents (agent.api) on the real lab pair in agent mode: both nodes'
 * facts come from their agents over the inside network (VRRP state, effective priority, VIPs);
 * the API refuses a request without the token from another host; with ha2's agent killed, status
 * from ha1 says it could not be asked and probes ha2 instead (exit 1). One lab for the file; the
 * agent kill comes last.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labFail, labPaths } from '../../src/lab/lab.js';
import { addressOf, namespacesFor, vipOf } from '../../src/lab/network.js';
import { parseSpecText } from '../../src/spec/load.js';
import { LAB_PRIORITY } from '../../src/lab/spec.js';
import { assertBuilt, runProgram } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import { LAB_PROGRAMS, LAB_TEST_TIMEOUT_MS, statusFrom, statusUntil, testLab } from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2esa');

/** The HTTP status code of GET url from the lab's client namespace (curl, bounded). */
async function codeFromClient(url: string, headers: string[] = []): Promise<string> {
  const run = await runProgram(
    [
      'ip',
      'netns',
      'exec',
      namespacesFor(lab.prefix).client,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '5',
      ...headers.flatMap((h) => ['-H', h]),
      url,
    ],
    { timeoutMs: 15_000 },
  );
  return run.stdout.trim();
}

describe.skipIf(missing)(
  titled('hactl status asks the agents (agent.api) on the lab pair', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    let port = 0;
    let tokenFile = '';
    beforeAll(async () => {
      assertBuilt();
      await lab.up({ mode: 'agent', fast: true });
      const spec = parseSpecText(readFileSync(labPaths(lab.dir).specPath, 'utf8'), 'lab.yaml');
      port = spec.agent.api!.port;
      tokenFile = spec.agent.api!.token_file;
    }, LAB_TEST_TIMEOUT_MS);
    afterAll(async () => {
      await lab.down();
      // The token is a secret the lab wrote: down takes it (and so the whole lab dir) away.
      expect(existsSync(tokenFile)).toBe(false);
      expect(existsSync(lab.dir)).toBe(false);
    }, LAB_TEST_TIMEOUT_MS);

    it('from ha1: both nodes through their agents, ha1 MASTER and ha2 BACKUP with effective priorities, both VIPs on ha1, exit 0', async () => {
      // Converged already; the agents' word on VRRP comes with keepalived's next FIFO line.
      const last = await statusUntil(
        lab,
        'ha1',
        'status healthy with both VRRP states known',
        ({ run, report }) => {
          const states = report.nodes.map((n) => n.vrrp?.map((v) => v.state).join(','));
          return run.exitCode === 0 && states.join(' ') === 'MASTER,MASTER BACKUP,BACKUP';
        },
        45_000,
      );
      const report = last.report;
      expect(report.verdict).toBe('healthy');
      expect(report.nodes.map((n) => [n.name, n.source, n.agent_api?.answered])).toEqual([
        ['ha1', 'agent', true],
        ['ha2', 'agent', true],
      ]);
      expect(report.nodes[1]!.agent_api!.address).toBe(`${addressOf('ha2', 'inside')}:${port}`);
      // The lab's checks weigh 0: the effective priority is the base one while every track file is 0.
      expect(report.nodes.map((n) => n.vrrp!.map((v) => v.effective_priority))).toEqual([
        [LAB_PRIORITY.ha1, LAB_PRIORITY.ha1],
        [LAB_PRIORITY.ha2, LAB_PRIORITY.ha2],
      ]);
      expect(report.vips.map((v) => [v.address, v.held_by, v.source])).toEqual([
        [vipOf('inside'), ['ha1'], 'agent'],
        [vipOf('outside'), ['ha1'], 'agent'],
      ]);
      expect(report.nodes[0]!.checks!.map((c) => c.name).sort()).toEqual(['mariadb', 'nginx']);
      expect(report.nodes[0]!.checks!.every((c) => c.ok === true && c.latency_ms !== null)).toBe(true);
      expect(last.run.stdout).not.toContain(readFileSync(tokenFile, 'utf8').trim());
    });

    it("ha2's agent, asked from the client namespace: 401 without the token or with a wrong one, 200 with it", async () => {
      const url = `http://${addressOf('ha2', 'inside')}:${port}/v1/node`;
      expect(await codeFromClient(url)).toBe('401');
      expect(await codeFromClient(url, ['Authorization: Bearer wrong-token-0123456789abcdef'])).toBe('401');
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect(await codeFromClient(url, [`Authorization: Bearer ${token}`])).toBe('200');
    });

    it("ha2's agent SIGKILLed: status from ha1 exits 1, says ha2's agent could not be asked, and probes ha2 instead", async () => {
      await labFail({ prefix: lab.prefix, dir: lab.dir, node: 'ha2', how: 'agent-kill' });
      const { run, report } = await statusFrom(lab, 'ha1');
      expect(run.exitCode).toBe(1);
      const ha2 = report.nodes.find((n) => n.name === 'ha2')!;
      expect(ha2.source).toBe('probe');
      expect(ha2.agent_api).toMatchObject({ answered: false });
      expect(report.problems).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^ha2's agent at ${addressOf('ha2', 'inside').replaceAll('.', '\\.')}:${port} could not be asked \\(connection refused.*\\); ha2 was probed directly instead$`,
          ),
        ),
      );
      // ha2's database is still probed directly.
      expect(ha2.database).toMatchObject({ reachable: true, read_only: true });
      expect(report.nodes[0]!.source).toBe('agent');
    });
  },
);
