/**
 * apply(): runs a plan's steps (real `command` actions), tags every line with the transition id,
 * and records the applied state as ok only when every step succeeded.
 */
import { baseSpecYaml } from '../actions/context.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appliedStatePath } from '../../src/cluster/applied-state.js';
import { apply, rejoinHint } from '../../src/cluster/apply.js';
import { decide } from '../../src/cluster/decide.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';
import { applied, NONE, observation, said, TID } from './support.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-apply-'));
  mkdirSync(join(dir, 'run'));
  writeFileSync(
    join(dir, 'record.sh'),
    '#!/bin/sh\necho "$1 $HACTL_STATE $HACTL_TRANSITION_ID" >> "$(dirname "$0")/steps.txt"\n',
    {
      mode: 0o755,
    },
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function spec(master: string, backup = `    - { type: command, argv: [${'DIR'}/record.sh, down] }`): Spec {
  return parseSpecText(
    baseSpecYaml(`paths: { runtime_dir: ${dir}/run, state_dir: ${dir}/state }
actions:
  master:
${master}
  backup:
${backup}
`).replaceAll('DIR', dir),
    't.yaml',
  );
}

const ONE = { held: ['192.0.2.50'], missing: [] };

function logLines(): Record<string, unknown>[] {
  return readFileSync(join(dir, 'log.json'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function recorded(): unknown {
  return JSON.parse(readFileSync(appliedStatePath(join(dir, 'run'), 'ha1'), 'utf8'));
}

async function run(s: Spec, seen = observation({ vips: ONE })) {
  const plan = decide(seen, s, {});
  const log = createLogger({ file: join(dir, 'log.json'), level: 'debug' });
  const outcome = await apply(plan, {
    spec: s,
    node: s.nodes[0]!,
    observation: seen,
    intent: {},
    log,
    stepEvent: 'test.step',
  });
  return { plan, outcome };
}

describe('apply', () => {
  it('runs the steps in order; every line and every hook sees the transition id; ok is recorded', async () => {
    const s = spec(
      [
        `    - { type: command, argv: [DIR/record.sh, one] }`,
        `    - { type: command, argv: [DIR/record.sh, two] }`,
      ].join('\n'),
    );
    const { outcome } = await run(s);
    expect(outcome).toMatchObject({ ok: true, aborted: false, diverged: false });
    expect(outcome!.steps.map((step) => step.ok)).toEqual([true, true]);
    expect(readFileSync(join(dir, 'steps.txt'), 'utf8')).toBe(`one MASTER ${TID}\ntwo MASTER ${TID}\n`);
    const lines = logLines();
    expect(lines).toHaveLength(2);
    for (const line of lines)
      expect(line).toMatchObject({ event: 'test.step', transition_id: TID, state: 'MASTER' });
    expect(recorded()).toMatchObject({
      state: 'MASTER',
      ok: true,
      event: 'INSTANCE inside MASTER 150',
      transition_id: TID,
    });
  });

  it('a failed step, even one that lets the list go on, leaves the state not ok (the next decision retries)', async () => {
    const s = spec(
      [
        `    - { type: command, argv: [/bin/false] }`,
        `    - { type: command, argv: [DIR/record.sh, after] }`,
      ].join('\n'),
    );
    const { outcome } = await run(s);
    expect(outcome).toMatchObject({ ok: false, aborted: false });
    expect(readFileSync(join(dir, 'steps.txt'), 'utf8')).toBe(`after MASTER ${TID}\n`);
    expect(recorded()).toMatchObject({ state: 'MASTER', ok: false });
    const failed = logLines().find((l) => l.result === 'failed');
    expect(failed).toMatchObject({ level: 'error', transition_id: TID, on_failure: 'continue' });
  });

  it('an aborting failure stops the list', async () => {
    const s = spec(
      [
        `    - { type: command, argv: [/bin/false], on_failure: abort }`,
        `    - { type: command, argv: [DIR/record.sh, never] }`,
      ].join('\n'),
    );
    const { outcome } = await run(s);
    expect(outcome).toMatchObject({ ok: false, aborted: true });
    expect(outcome!.steps).toHaveLength(1);
    expect(recorded()).toMatchObject({ ok: false });
  });

  it('a plan without a target runs and records nothing', async () => {
    const s = spec(`    - { type: command, argv: [DIR/record.sh, one] }`);
    const seen = observation({ vips: NONE, keepalived: said('MASTER'), lastApplied: applied('BACKUP') });
    const { plan, outcome } = await run(s, seen);
    expect(plan.target).toBeUndefined();
    expect(outcome).toBeUndefined();
    expect(() => recorded()).toThrow(/ENOENT/);
  });
});

describe("a diverged demotion's log line", () => {
  const spec = (semi: 'strict' | 'expected', agent: boolean): Spec => {
    const base = parseSpecText(baseSpecYaml('mysql: { credentials_file: /etc/hactl/mysql.cnf }\n'), 't.yaml');
    return { ...base, agent: { ...base.agent, enabled: agent }, mysql: { ...base.mysql!, semi_sync: semi } };
  };
  it('says, in notify mode under strict, that the agent would rejoin the node; in agent mode, that it judges it', () => {
    expect(rejoinHint(spec('strict', false)).rejoin).toMatch(
      /the agent \(agent.enabled\) would rejoin this node by itself .* a human runs hactl rebuild/,
    );
    expect(rejoinHint(spec('strict', true)).rejoin).toMatch(/the agent judges a rejoin by rebuild/);
    expect(rejoinHint(spec('expected', false))).toEqual({});
  });
});
