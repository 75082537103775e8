/**
 * Field by field, the JSON Schema and hactl agree: every field of test/schema/full.yaml (a spec that
 * sets every field the schema declares) is set in turn to each value of a corpus of near misses and
 * hostile values, plus values derived from the field's own bounds; a standard validator (Ajv) must
 * refuse exactly the values that hactl refuses at that field (the loader, lint's errors, and for an
 * http check's params the parser of `hactl check http`). The only allowed disagreements are rules
 * that compare fields, listed below with the message hactl gives: JSON Schema cannot say them, and
 * the field's description says so.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import {
  compile,
  fullSpec,
  getIn,
  hactlProblems,
  pathText,
  printedSchema,
  related,
  setIn,
  walk,
  type JsonSchema,
  type Site,
} from './support.js';

const full = fullSpec();

// Strings tried in every string field: valid forms of each field type, and the ways to miss them.
const STRINGS = [
  'inside',
  'Abc_1.x-y',
  'eth0.10',
  'eth0@if3',
  'db1.example.net',
  '192.0.2.13',
  '192.0.2.99/24',
  '192.0.2.99/08',
  '/etc/hactl/x.cnf',
  '/a/b..c/d',
  'http://127.0.0.1/',
  'https://x',
  '200',
  '100-199,599',
  '/ok/i',
  '*.tmp',
  'A_B',
  '',
  'a b',
  'my {vip}',
  'a"b',
  "a'b",
  'a#b',
  'a!b',
  'a\\b',
  'a`b',
  'x\ny',
  'é',
  '999.1.1.1',
  '192.0.2.099',
  '192.0.2.99/33',
  '192.0.2.99/0',
  '192.0.2.99/',
  '192.0.2.99/24/1',
  '/a/../b',
  '/a/..',
  '//',
  'relative/path',
  'ftp://x',
  'http://',
  'http:///x',
  'https://x y',
  '600',
  '99',
  '200,',
  '300-200',
  '2000',
  '/ok/g',
  '/ok/iy',
  '/[/',
  '-lead',
  '1abc',
  '.hidden',
  'host.',
  'a'.repeat(513),
];

/** Values for one field: the corpus for its type plus its bounds, each just inside and outside. */
function valuesFor(site: Site, current: unknown): unknown[] {
  const schema = site.schema;
  const values: unknown[] = [];
  if (schema.const !== undefined) values.push(schema.const, typeof schema.const === 'number' ? 2 : 'pass');
  if (schema.enum)
    values.push(...(schema.enum as unknown[]), 'bogus', 4, String(schema.enum[0]).toUpperCase());
  if (schema.type === 'integer' || schema.type === 'number') {
    const { minimum: min, maximum: max } = schema as { minimum: number; maximum: number };
    values.push(min, max, min - 1, max + 1, min - 0.001, max + 0.001, '1');
    if (schema.type === 'integer') values.push(min + 0.5);
    else values.push(min + 0.005, (min + max) / 2 + 0.25);
  }
  if (schema.type === 'boolean') values.push(true, false, 'yes', 1);
  if (schema.type === 'string') {
    values.push(...STRINGS, 5);
    if (typeof schema.maxLength === 'number' && typeof current === 'string') {
      const padded = current.padEnd(schema.maxLength, current.startsWith('/') ? 'a' : 'x');
      values.push(padded, padded + 'x');
    }
  }
  if (schema.type === 'array') values.push([], 'x', [5]);
  if (schema.type === 'object') values.push('x', [], {});
  if (schema.oneOf) values.push('x', {}, { kind: 'bogus', type: 'bogus' });
  return values;
}

/** Data paths and values to set for one field (a record's key: a new key beside the others). */
function mutations(site: Site, data: unknown): { path: (string | number)[]; value: unknown }[] {
  if (site.role === 'key') {
    const record = getIn(data, site.path!) as Record<string, unknown>;
    const sample = structuredClone(Object.values(record)[0]);
    if (sample && typeof sample === 'object' && 'address' in sample)
      (sample as { address: string }).address = '192.0.2.77';
    return ['spare', 'B_2', 'a b', '1x', 'x{y}', '', 'a'.repeat(33)].map((key) => ({
      path: [...site.path!, key],
      value: sample,
    }));
  }
  const current = getIn(data, site.path!);
  const values = valuesFor(site, current).map((value) => ({ path: site.path!, value }));
  // A required field left out (undefined: the key is removed).
  if (site.required) values.push({ path: site.path!, value: undefined });
  return values;
}

/**
 * Rules that compare fields: hactl refuses these values at the field while JSON Schema cannot (the
 * field's description says so). Each is matched by the message hactl gives.
 */
const NOT_EVERY_NODE = /is not a network every node has/;
const CROSS_FIELD: Record<string, RegExp> = {
  'nodes[].networks': /has no "\w+" network, which VIP "\w+" uses/,
  'checks[]<*>.timeout': /is longer than the interval/,
  'checks[]<*>.weight': /can never move the VIPs/,
  'checks[]<*>.nodes[]': /is not a node of this spec/,
  'checks[]<process>.params.restart_wait': /does not fit in the check's budget/,
  // The run-time parsers: a range that runs backwards, a regular expression that does not compile.
  'checks[]<http>.params.expect_status':
    /--expect-status "(\d{3})-(\d{3})": "\1-\2" is not a status or range/,
  'checks[]<http>.params.expect_body': /--expect-body .* is not a valid regular expression/,
  'mysql.replication_network': NOT_EVERY_NODE,
  'sync.network': NOT_EVERY_NODE,
  'agent.api.network': NOT_EVERY_NODE,
  'fencing.networks[]': NOT_EVERY_NODE,
  'fencing.witness[]': /is in none of the listed networks|belongs to the pair/,
  'proxy.network': /is not a network every node has|no VIP is on/,
  'proxy.proxies[]<*>.nodes[]': /is not a node of this spec/,
  'actions.*[]<proxysql>.network': NOT_EVERY_NODE,
  'actions.*[]<atlas>.network': NOT_EVERY_NODE,
  // A mysql step's timeout compared with the wait inside it.
  'actions.*[]<*>.timeout': /is not longer than mysql\.(repoint_wait|catch_up_timeout)/,
  // A check's target compared with the nodes it runs on.
  'checks[]<tcp>.params.host': /but the check also runs on/,
  'checks[]<http>.params.url': /but the check also runs on/,
  // Not a rule between fields but one JSON Schema cannot state either: the file must exist.
  'keepalived.template': /does not exist|is not a regular file/,
};

/**
 * Values the JSON Schema refuses although hactl accepts them. WHATWG URL parsing, which the http
 * check uses, forgives extra slashes ("http:///x" is http://x/); the schema holds to the documented
 * form, an http:// or https:// URL with a host.
 */
const STRICTER: Record<string, unknown[]> = {
  'checks[]<http>.params.url': ['http:///x'],
};

let schema: JsonSchema;
let validate: ReturnType<typeof compile>;
const sites: Site[] = [];

beforeAll(() => {
  schema = printedSchema();
  validate = compile(schema, { allErrors: false });
  const seen = new Set<string>();
  walk(schema, full, (site) => {
    if (seen.has(site.canonical)) return;
    seen.add(site.canonical);
    sites.push(site);
  });
});

describe('the JSON Schema and hactl refuse the same values, field by field', () => {
  it('full.yaml is valid for both and sets every field the schema declares', () => {
    expect(validate(full), JSON.stringify(validate.errors)).toBe(true);
    expect(hactlProblems(full)).toEqual([]);
    const declared: string[] = [];
    walk(schema, undefined, (site) => declared.push(site.canonical));
    const present = new Set(sites.map((site) => site.canonical));
    expect(declared.filter((canonical) => !present.has(canonical))).toEqual([]);
    expect(declared.length).toBeGreaterThan(150);
  });

  it('every value of the corpus, in every field', () => {
    const disagreements: string[] = [];
    const neverRefused: string[] = [];
    let tried = 0;
    let refused = 0;
    for (const site of sites) {
      let refusedHere = 0;
      for (const { path, value } of mutations(site, full)) {
        const data = setIn(full, path, value);
        const schemaAccepts = validate(data);
        const at = pathText(path);
        const problems = hactlProblems(data, { viaYaml: false }).filter((p) => related(p.path, at));
        tried++;
        if (!schemaAccepts && problems.length > 0) refusedHere++;
        if (schemaAccepts === (problems.length === 0)) continue;
        const crossField = CROSS_FIELD[site.canonical];
        if (schemaAccepts && crossField && problems.every((p) => crossField.test(p.message))) continue;
        if (!schemaAccepts && STRICTER[site.canonical]?.includes(value)) continue;
        disagreements.push(
          `${site.canonical} = ${String(JSON.stringify(value)).slice(0, 60)}: schema ${schemaAccepts ? 'accepts' : 'refuses'}, hactl ${
            problems.length
              ? `refuses (${problems
                  .map((p) => `${p.path}: ${p.message}`)
                  .join('; ')
                  .slice(0, 200)})`
              : 'accepts'
          }`,
        );
      }
      if (refusedHere === 0) neverRefused.push(site.canonical);
      refused += refusedHere;
    }
    console.log(`${tried} values tried in ${sites.length} fields, ${refused} refused by both`);
    expect(disagreements).toEqual([]);
    // At least one invalid value per field, refused by both.
    expect(neverRefused).toEqual([]);
  });
});
