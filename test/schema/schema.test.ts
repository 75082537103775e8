/**
 * `hactl schema` is usable by an editor: draft-07 with an $id, a description for every field, and
 * a standard validator (Ajv) accepts the valid specs and refuses the invalid ones wherever JSON
 * Schema can express the rule, while `hactl lint` agrees. Rules that compare fields are listed
 * as such: the schema accepts those specs, and lint refuses them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  compile,
  fullSpec,
  hactlProblems,
  printedSchema,
  walk,
  type JsonSchema,
  type Site,
} from './support.js';

const run = promisify(execFile);
const HACTL = resolve('bin/hactl');

const read = (file: string) => parse(readFileSync(file, 'utf8')) as any;
const example = read('templates/example.yaml');
const full = fullSpec();

let schema: JsonSchema;
let validate: ReturnType<typeof compile>;

beforeAll(() => {
  schema = printedSchema();
  validate = compile(schema);
});

/** Instance paths (JSON pointers) the validator complains about; [] when valid. */
function schemaErrors(data: unknown): string[] {
  return validate(data) ? [] : [...new Set(validate.errors!.map((error) => error.instancePath))];
}

async function lintFile(data: unknown): Promise<{ code: number; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-schema-'));
  try {
    const file = join(dir, 'spec.yaml');
    writeFileSync(file, stringify(data));
    try {
      const { stdout } = await run(HACTL, ['lint', '--spec', file], { timeout: 30_000 });
      return { code: 0, stdout };
    } catch (error) {
      const failure = error as { code: number; stdout: string };
      return { code: failure.code, stdout: failure.stdout };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('hactl schema', () => {
  it('is draft-07 with an $id, a title and a description, and compiles in strict mode', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.$id).toBe('urn:hactl:spec:v1');
    expect(schema.title).toBe('hactl spec');
    expect(schema.description).toMatch(/hactl lint/);
    expect(typeof validate).toBe('function');
  });

  it('has a description for every property', () => {
    const properties: Site[] = [];
    walk(schema, undefined, (site) => {
      if (site.role === 'property') properties.push(site);
    });
    expect(properties.length).toBeGreaterThan(150);
    const bare = properties.filter(
      (site) => typeof site.schema.description !== 'string' || site.schema.description.length < 12,
    );
    expect(bare.map((site) => site.canonical)).toEqual([]);
  });

  it('uses integers, ranges, patterns and enums where hactl does', () => {
    const at = (canonical: string) => {
      let found: JsonSchema | undefined;
      walk(schema, undefined, (site) => {
        if (site.canonical === canonical) found ??= site.schema;
      });
      expect(found, canonical).toBeDefined();
      return found!;
    };
    expect(at('nodes[].priority')).toMatchObject({ type: 'integer', minimum: 1, maximum: 254 });
    expect(at('vips[].virtual_router_id')).toMatchObject({ type: 'integer', minimum: 1, maximum: 255 });
    expect(at('vips[].address').pattern).toEqual(expect.any(String));
    expect(at('nodes[].networks.*.address')).toMatchObject({ format: 'ipv4', pattern: expect.any(String) });
    expect(at('nodes[].networks.*.interface')).toMatchObject({ maxLength: 15, pattern: expect.any(String) });
    expect(at('cluster')).toMatchObject({ minLength: 1, maxLength: 32, pattern: expect.any(String) });
    expect(at('election.vrrp_version').enum).toEqual([2, 3]);
    // Values that need the agent are offered; the spec-level allOf refuses them without agent.enabled.
    expect(at('failback').enum).toEqual(['preempt', 'nopreempt', 'after-catch-up']);
    expect(at('keepalived.notify').enum).toEqual(['script', 'fifo']);
    expect(at('agent.enabled').enum).toBeUndefined();
  });
});

describe('valid specs pass the schema and lint', () => {
  const valid = [
    'templates/example.yaml',
    ...readdirSync('test/render/specs').map((f) => `test/render/specs/${f}`),
  ];

  it('test/schema/full.yaml', () => {
    expect(schemaErrors(full)).toEqual([]);
    expect(hactlProblems(full)).toEqual([]);
  });

  it.each(valid)('%s', (file) => {
    const data = read(file);
    expect(schemaErrors(data)).toEqual([]);
    expect(hactlProblems(data)).toEqual([]);
  });

  it('the built hactl lint agrees on the example and on full.yaml', async () => {
    for (const data of [example, full]) {
      const { code, stdout } = await lintFile(data);
      expect(stdout).toMatch(/: 0 error\(s\)/);
      expect(code).toBe(0);
    }
  });
});

/**
 * test/lint/broken/: each file breaks one rule. Those JSON Schema can say are refused by it; the
 * others compare fields, and the schema accepts them. A new file must be classified here.
 */
const BROKEN: Record<string, { schema: 'refuses'; at: string } | { schema: 'accepts'; why: string }> = {
  'advert-fraction-v2.yaml': { schema: 'refuses', at: '/election/advert_int' },
  'agent-api-network-missing.yaml': { schema: 'accepts', why: 'a network every node has' },
  'agent-api-token-relative.yaml': { schema: 'refuses', at: '/agent/api/token_file' },
  'agent-api-without-agent.yaml': { schema: 'accepts', why: 'agent.api against agent.enabled' },
  'advert-not-10ms.yaml': {
    schema: 'accepts',
    why: 'multipleOf 0.01 is unreliable for decimals in validators',
  },
  'auth-pass-too-long.yaml': { schema: 'refuses', at: '/election/authentication/password' },
  'check-unknown-node.yaml': { schema: 'accepts', why: 'checks[].nodes must name nodes of the spec' },
  'demote-timeout-inside-wait.yaml': {
    schema: 'accepts',
    why: "a mysql step's timeout longer than the wait inside it (mysql.repoint_wait)",
  },
  'duplicate-node-address.yaml': { schema: 'accepts', why: 'addresses unique across nodes' },
  'duplicate-vrid.yaml': { schema: 'accepts', why: 'virtual_router_id unique per interface' },
  'equal-priorities.yaml': { schema: 'accepts', why: 'priority maths across nodes' },
  'fencing-network-missing.yaml': {
    schema: 'accepts',
    why: 'a network every node has; witness_port with a witness',
  },
  'fencing-wait-without-witness.yaml': {
    schema: 'accepts',
    why: 'fencing.unreachable against fencing.witness',
  },
  'fencing-witness-outside-networks.yaml': { schema: 'accepts', why: "a witness inside a VIP's subnet" },
  'misspelled-priority.yaml': { schema: 'refuses', at: '/nodes/0' },
  'mysql-without-credentials.yaml': { schema: 'refuses', at: '' },
  'node-missing-network.yaml': { schema: 'accepts', why: "a VIP's network on every node" },
  'priority-255.yaml': { schema: 'refuses', at: '/nodes/0/priority' },
  'priority-300.yaml': { schema: 'refuses', at: '/nodes/1/priority' },
  'restart-wait-over-budget.yaml': { schema: 'accepts', why: "restart_wait within the check's timeout" },
  'timeout-over-interval.yaml': { schema: 'accepts', why: 'timeout at most interval' },
  'vip-is-node-address.yaml': { schema: 'accepts', why: 'a VIP is no node address' },
  'weight-too-small.yaml': { schema: 'accepts', why: 'priority maths across nodes and checks' },
  'weighted-check-nopreempt.yaml': { schema: 'accepts', why: 'weight against failback' },
  'auth-under-vrrp3.yaml': { schema: 'accepts', why: 'authentication against vrrp_version' },
  'check-params-invalid.yaml': { schema: 'refuses', at: '/checks/0/params/url' },
  'check-params-weighted.yaml': { schema: 'accepts', why: 'a port number inside a URL string' },
  'demote-without-replication-credentials.yaml': {
    schema: 'accepts',
    why: 'mysql.demote in actions against mysql.replication_credentials_file',
  },
  'duplicate-vip-address.yaml': { schema: 'accepts', why: 'VIP addresses unique across vips' },
  'example-password.yaml': { schema: 'accepts', why: "the example's password, compared with the example" },
  'failback-after-catch-up.yaml': { schema: 'refuses', at: '/failback' },
  'failback-after-catch-up-no-mysql.yaml': { schema: 'accepts', why: 'failback against the mysql section' },
  'semi-sync-strict-promote-anyway.yaml': {
    schema: 'accepts',
    why: 'mysql.semi_sync against mysql.on_catch_up_timeout',
  },
  'garp-refresh-repeat-without-refresh.yaml': {
    schema: 'accepts',
    why: 'a repeat count against its interval being 0',
  },
  'check-interval-fraction.yaml': { schema: 'refuses', at: '/checks/0/interval' },
  'insecure-on-http.yaml': { schema: 'accepts', why: 'insecure against the URL scheme' },
  'logging-debug.yaml': { schema: 'refuses', at: '/logging/level' },
  'loopback-vip.yaml': { schema: 'accepts', why: 'address ranges (loopback) inside a CIDR string' },
  'mysql-host-peer.yaml': { schema: 'accepts', why: "mysql.host against the nodes' addresses" },
  'node-subnets-differ.yaml': { schema: 'accepts', why: "subnets of the nodes' addresses compared" },
  'notify-fifo.yaml': { schema: 'refuses', at: '/keepalived/notify' },
  'peer-probe.yaml': { schema: 'accepts', why: "a check's target against the nodes it runs on" },
  'proxy-network-missing.yaml': { schema: 'accepts', why: 'a network every node has' },
  'replication-weight0-dual-master.yaml': {
    schema: 'accepts',
    why: 'check kind and weight against topology',
  },
  'replication-weight0-one-way.yaml': { schema: 'accepts', why: 'check kind and weight against topology' },
  'restart-wait-without-restart.yaml': { schema: 'accepts', why: 'restart_wait against restart_cmd' },
  'script-user-not-root.yaml': { schema: 'refuses', at: '/keepalived/script_user' },
  'single-active-weight0.yaml': { schema: 'accepts', why: 'a check against the master/backup actions' },
  'single-active-weighted.yaml': { schema: 'accepts', why: 'a check against the master/backup actions' },
  'sync-section.yaml': { schema: 'accepts', why: 'module against destination of one sync path' },
  'template-missing.yaml': { schema: 'accepts', why: 'whether a file exists' },
  'three-nodes-demote.yaml': { schema: 'accepts', why: 'number of nodes against mysql.demote' },
  'unknown-field-other-type.yaml': { schema: 'refuses', at: '/checks/0/params' },
  'vip-network-broadcast.yaml': { schema: 'accepts', why: "a VIP against its subnet's network address" },
  'vip-outside-subnet.yaml': { schema: 'accepts', why: "a VIP against the nodes' subnets" },
  'vip-probe.yaml': { schema: 'accepts', why: "a check's target against the VIPs" },
  'webhook-bad-url.yaml': { schema: 'accepts', why: 'URL parsing beyond the http(s) prefix' },
};

describe('test/lint/broken: the schema refuses what it can express, accepts the rules that compare fields', () => {
  const files = readdirSync('test/lint/broken').filter((file) => file.endsWith('.yaml'));

  it('every file is classified', () => {
    expect(files.filter((file) => !(file in BROKEN))).toEqual([]);
  });

  it.each(files.filter((file) => file in BROKEN))('%s', (file) => {
    const data = read(`test/lint/broken/${file}`);
    const expected = BROKEN[file]!;
    expect(hactlProblems(data).length).toBeGreaterThan(0);
    if (expected.schema === 'refuses') expect(schemaErrors(data)).toContain(expected.at);
    else expect(schemaErrors(data)).toEqual([]);
  });
});

type Case = {
  name: string;
  base?: unknown;
  change: (spec: any) => void;
  /** Instance paths the schema must refuse, or 'accepts' for a rule JSON Schema cannot express. */
  schema: string[] | 'accepts';
  /** Spec paths hactl must refuse (in lint's `path: message` form). */
  hactl: string[];
};

const CASES: Case[] = [
  {
    name: 'issue 9: priority 999.5, vrid 0, VIP 999.1.1.1, a name with spaces and braces',
    change: (s) => {
      s.nodes[0].priority = 999.5;
      s.vips[0].virtual_router_id = 0;
      s.vips[0].address = '999.1.1.1/24';
      s.vips[1].name = 'my {vip}';
    },
    schema: ['/nodes/0/priority', '/vips/0/virtual_router_id', '/vips/0/address', '/vips/1/name'],
    hactl: ['nodes[0].priority', 'vips[0].virtual_router_id', 'vips[0].address', 'vips[1].name'],
  },
  {
    name: 'fractional advert_int under VRRPv2 (vrrp_version left out)',
    change: (s) => {
      delete s.election.vrrp_version;
      s.election.advert_int = 0.5;
    },
    schema: ['/election/advert_int'],
    hactl: ['election.advert_int'],
  },
  {
    name: 'advert_int over 40.95 under VRRPv3',
    change: (s) => Object.assign(s.election, { vrrp_version: 3, advert_int: 41 }),
    schema: ['/election/advert_int'],
    hactl: ['election.advert_int'],
  },
  {
    name: 'a VRRP password of 9 characters',
    change: (s) => (s.election.authentication.password = 'abcdefghi'),
    schema: ['/election/authentication/password'],
    hactl: ['election.authentication.password'],
  },
  {
    name: 'a mysql check without the mysql section',
    change: (s) => delete s.mysql,
    schema: [''],
    hactl: ['mysql'],
  },
  {
    name: 'a mysql.demote on STOP only, without the mysql section',
    change: (s) => {
      delete s.mysql;
      s.checks = s.checks.filter((c: { kind: string }) => c.kind !== 'mysql');
      s.actions = { stop: [{ type: 'mysql.demote' }] };
    },
    schema: [''],
    hactl: ['mysql'],
  },
  {
    name: 'HEAD with expect_body',
    base: full,
    change: (s) => Object.assign(s.checks[0].params, { method: 'HEAD', expect_body: 'ok' }),
    schema: ['/checks/0/params'],
    hactl: ['checks[0].params'],
  },
  {
    name: 'an ftp:// check URL',
    change: (s) => (s.checks[0].params.url = 'ftp://127.0.0.1/'),
    schema: ['/checks/0/params/url'],
    hactl: ['checks[0].params'],
  },
  {
    name: 'expect_status "abc"',
    change: (s) => (s.checks[0].params.expect_status = 'abc'),
    schema: ['/checks/0/params/expect_status'],
    hactl: ['checks[0].params'],
  },
  {
    name: 'an unknown field',
    change: (s) => (s.nodes[1].priorty = 100),
    schema: ['/nodes/1'],
    hactl: ['nodes[1]'],
  },
  // Rules that compare fields: the schema accepts, lint refuses.
  {
    name: 'two nodes with one name',
    change: (s) => (s.nodes[1].name = s.nodes[0].name),
    schema: 'accepts',
    hactl: ['nodes[1].name'],
  },
  {
    name: 'two VIPs with one name',
    change: (s) => (s.vips[1].name = s.vips[0].name),
    schema: 'accepts',
    hactl: ['vips[1].name'],
  },
  {
    name: 'two checks with one name',
    change: (s) => (s.checks[1].name = s.checks[0].name),
    schema: 'accepts',
    hactl: ['checks[1].name'],
  },
  {
    name: 'a VIP on a network one node lacks',
    change: (s) => (s.nodes[1].networks = { inside: s.nodes[1].networks.inside }),
    schema: 'accepts',
    hactl: ['nodes[1].networks'],
  },
  {
    name: 'a proxysql action on a network the nodes lack',
    base: full,
    change: (s) => (s.actions.master[6].network = 'dmz'),
    schema: 'accepts',
    hactl: ['actions.master[6].network'],
  },
  {
    name: 'a VIP equal to a node address',
    change: (s) => (s.vips[0].address = `${s.nodes[1].networks.inside.address}/24`),
    schema: 'accepts',
    hactl: ['vips[0].address'],
  },
  {
    name: 'advert_int 0.015 under VRRPv3 (not a multiple of 0.01)',
    change: (s) => Object.assign(s.election, { vrrp_version: 3, advert_int: 0.015 }),
    schema: 'accepts',
    hactl: ['election.advert_int'],
  },
  {
    name: 'expect_status range backwards',
    change: (s) => (s.checks[0].params.expect_status = '300-200'),
    schema: 'accepts',
    hactl: ['checks[0].params'],
  },
  {
    name: 'expect_body regex that does not compile',
    change: (s) => (s.checks[0].params.expect_body = '/[/'),
    schema: 'accepts',
    hactl: ['checks[0].params'],
  },
];

describe('named cases: the schema refuses what it can express, lint refuses all', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const data = structuredClone(c.base ?? example);
    c.change(data);
    const errors = schemaErrors(data);
    if (c.schema === 'accepts') expect(errors).toEqual([]);
    else expect(errors).toEqual(expect.arrayContaining(c.schema));
    const problems = hactlProblems(data).map((p) => p.path);
    expect(problems).toEqual(expect.arrayContaining(c.hactl));
  });

  it('the built hactl lint finds the issue 9 spec errors', async () => {
    const data = structuredClone(example);
    CASES[0]!.change(data);
    const { code, stdout } = await lintFile(data);
    expect(code).toBe(1);
    for (const path of CASES[0]!.hactl) expect(stdout).toContain(`error: ${path}: `);
  });
});
