import { describe, expect, it } from 'vitest';
import { lintSpec } from '../../src/keepalived/lint.js';
import { FAST_ADVERT_SEC, fastAdvertProblem, labSpecObject, labSpecText } from '../../src/lab/spec.js';
import { parseSpecText } from '../../src/spec/load.js';

const base = {
  dir: '/tmp/hactl-lab-advert',
  hactl: '/usr/local/bin/hactl',
  specPath: '/tmp/hactl-lab-advert/hactl-lab.yaml',
  failback: 'nopreempt' as const,
  checks: ['nginx' as const, 'mysql' as const],
  mysql: {
    credentialsFile: '/tmp/hactl-lab-advert/mysql.cnf',
    replicationCredentialsFile: '/tmp/hactl-lab-advert/repl.cnf',
  },
  syncSource: '/tmp/hactl-lab-advert/sync-source',
};

const electionOf = (options: Parameters<typeof labSpecObject>[0]) =>
  labSpecObject(options).election as { advert_int: number; vrrp_version: number };

describe('the lab fast profile advert interval', () => {
  it('is FAST_ADVERT_SEC unless asked, the asked value with fast, and unused without fast', () => {
    expect(electionOf({ ...base, fast: true })).toMatchObject({
      advert_int: FAST_ADVERT_SEC,
      vrrp_version: 3,
    });
    expect(electionOf({ ...base, fast: true, fastAdvertSec: 0.05 })).toMatchObject({
      advert_int: 0.05,
      vrrp_version: 3,
    });
    expect(electionOf({ ...base, fast: false, fastAdvertSec: 0.05 })).toMatchObject({
      advert_int: 1,
      vrrp_version: 2,
    });
  });

  it('a lab spec with 0.05 s adverts lints clean (lab up refuses lint errors)', () => {
    const text = labSpecText({ ...base, fast: true, fastAdvertSec: 0.05 });
    const spec = parseSpecText(text, 'lab.yaml');
    expect(spec.election.advert_int).toBe(0.05);
    expect(lintSpec(spec)).toEqual([]);
  });

  it('refuses what VRRPv3 cannot carry and what would not be fast', () => {
    expect(fastAdvertProblem(0.05)).toBeUndefined();
    expect(fastAdvertProblem(0.01)).toBeUndefined();
    expect(fastAdvertProblem(0.015)).toMatch(/multiple of 0\.01/);
    expect(fastAdvertProblem(0)).toMatch(/0\.01–1 s/);
    expect(fastAdvertProblem(2)).toMatch(/0\.01–1 s/);
    expect(fastAdvertProblem(Number.NaN)).toMatch(/0\.01–1 s/);
  });
});
