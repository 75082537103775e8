/**
 * Helpers for the schema tests: the JSON Schema as the built `hactl schema` prints it, a standard
 * validator (Ajv, draft-07) for it, hactl's own verdict (the loader's zod schema plus lint, in
 * process, and the run-time parser of `hactl check http` for the params only it checks), and a walk
 * that names every field the schema declares by a canonical path.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { httpCheck } from '../../src/checks/http.js';
import type { FlagValues } from '../../src/checks/types.js';
import { lintSpec } from '../../src/keepalived/lint.js';
import { formatIssues, formatPath } from '../../src/spec/errors.js';
import { parseSpecText, SpecInvalid } from '../../src/spec/load.js';
import { specSchema, type Spec } from '../../src/spec/schema.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonSchema = { [key: string]: any };
export type DataPath = (string | number)[];

export function printedSchema(): JsonSchema {
  const text = execFileSync(resolve('bin/hactl'), ['schema'], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(text) as JsonSchema;
}

export function compile(schema: JsonSchema, { allErrors = true } = {}): ValidateFunction {
  // strict: unknown keywords, formats and type/keyword mismatches are errors, so nothing in the
  // schema is silently ignored. strictRequired would also demand that every name in an if/then
  // `required` be declared beside it, which JSON Schema does not. ipv4 is declared without a
  // checker: the pattern beside it must do the work, as in an editor that ignores formats.
  const ajv = new Ajv({ strict: true, strictRequired: false, allErrors, formats: { ipv4: true } });
  return ajv.compile(schema);
}

export interface Problem {
  path: string;
  message: string;
}

const flagName = (param: string) => param.replace(/_/g, '-');

const asProblem = (problem: string): Problem => {
  const at = problem.indexOf(': ');
  return { path: problem.slice(0, at), message: problem.slice(at + 2) };
};

/**
 * What hactl refuses in this spec: the loader (zod), lint's errors, and the http check's parser.
 * `viaYaml: false` hands the data to the loader's schema without the YAML text in between (the
 * same verdicts, several times faster), for the thousands of values of the field-by-field corpus.
 */
export function hactlProblems(data: unknown, { viaYaml = true } = {}): Problem[] {
  let spec: Spec;
  if (viaYaml) {
    try {
      spec = parseSpecText(stringify(data), 'mutated.yaml');
    } catch (error) {
      if (!(error instanceof SpecInvalid)) throw error;
      return error.problems.map(asProblem);
    }
  } else {
    const result = specSchema.safeParse(data, { reportInput: true });
    if (!result.success) return formatIssues(result.error.issues).map(asProblem);
    spec = result.data;
  }
  const problems: Problem[] = lintSpec(spec)
    .filter((finding) => finding.severity === 'error')
    .map(({ path, message }) => ({ path, message }));
  spec.checks.forEach((check, i) => {
    if (check.kind !== 'http') return;
    const flags: FlagValues = {};
    for (const [key, value] of Object.entries(check.params)) flags[flagName(key)] = value;
    try {
      httpCheck.fromFlags(flags);
    } catch (error) {
      problems.push({
        path: `checks[${i}].params`,
        message: `hactl check http: ${(error as Error).message}`,
      });
    }
  });
  return problems;
}

/** Paths are related when one is the other or contains it ("a.b" and "a.b[0].c"; not "a.bc"). */
export function related(a: string, b: string): boolean {
  const within = (outer: string, inner: string) =>
    inner === outer || inner.startsWith(outer + '.') || inner.startsWith(outer + '[');
  return within(a, b) || within(b, a);
}

export const pathText = (path: DataPath) => formatPath(path);

export function getIn(data: any, path: DataPath): any {
  return path.reduce((node, key) => node?.[key], data);
}

/** A copy of data with the value at path replaced (undefined: the key removed). */
export function setIn(data: unknown, path: DataPath, value: unknown): any {
  const copy = structuredClone(data) as any;
  const parent = getIn(copy, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (value === undefined) delete parent[key];
  else parent[key] = value;
  return copy;
}

// The walk. A canonical path names a field of the schema, not of one spec: arrays are "[]", record
// values ".*", record keys "{key}", a variant of a discriminated union "<kind>" (or "<*>" for a field
// every variant declares alike), and properties of a map whose values all have one schema ".*".

function withoutText(schema: JsonSchema): JsonSchema {
  const { description: _description, default: _default, ...rest } = schema;
  return rest;
}

const sameShape = (a: JsonSchema, b: JsonSchema) =>
  JSON.stringify(withoutText(a)) === JSON.stringify(withoutText(b));

function discriminator(variant: JsonSchema): [string, string] {
  for (const key of ['kind', 'type']) {
    const value = variant.properties?.[key]?.const;
    if (typeof value === 'string') return [key, value];
  }
  throw new Error(`a oneOf variant without a kind/type const: ${JSON.stringify(variant).slice(0, 80)}`);
}

export interface Site {
  canonical: string;
  schema: JsonSchema;
  /** Where it is in the spec walked along (undefined when walking the schema alone). */
  path?: DataPath;
  /** What declares it: an object's property, an array's items, a record's values or its keys. */
  role: 'property' | 'item' | 'value' | 'key';
  required?: boolean;
}

/**
 * Visits every declared field: with data, the fields present in it (following its kinds and
 * types); without, every field of every variant. Conditional subschemas (if/then/else, not,
 * contains) restate fields declared elsewhere and are not walked.
 */
export function walk(schema: JsonSchema, data: unknown, visit: (site: Site) => void): void {
  const go = (node: JsonSchema, value: any, path: DataPath | undefined, canonical: string): void => {
    if (node.oneOf) {
      const variants = node.oneOf as JsonSchema[];
      const common = new Set(
        Object.keys(variants[0]!.properties ?? {}).filter((key) =>
          variants.every(
            (v) => v.properties?.[key] && sameShape(v.properties[key], variants[0]!.properties[key]),
          ),
        ),
      );
      for (const variant of variants) {
        const [key, label] = discriminator(variant);
        if (path && value?.[key] !== label) continue;
        objectFields(variant, value, path, canonical, (field) => (common.has(field) ? '<*>' : `<${label}>`));
      }
      return;
    }
    if (node.type === 'array' && node.items) {
      if (!path) {
        visit({ canonical: `${canonical}[]`, schema: node.items, role: 'item' });
        return go(node.items, undefined, undefined, `${canonical}[]`);
      }
      (value as unknown[] | undefined)?.forEach((item, i) => {
        const itemPath = [...path, i];
        visit({ canonical: `${canonical}[]`, schema: node.items, path: itemPath, role: 'item' });
        go(node.items, item, itemPath, `${canonical}[]`);
      });
      return;
    }
    if (node.type === 'object') objectFields(node, value, path, canonical, () => '');
  };

  const objectFields = (
    node: JsonSchema,
    value: any,
    path: DataPath | undefined,
    canonical: string,
    variantLabel: (field: string) => string,
  ): void => {
    const properties = (node.properties ?? {}) as Record<string, JsonSchema>;
    const values = Object.values(properties);
    // A map of like lists (actions.master/backup/…, a service's commands.start/stop/…) is one field.
    const homogeneous =
      values.length > 1 &&
      values.every((p) => (p.type === 'array' || p.type === 'object') && sameShape(p, values[0]!));
    for (const [field, child] of Object.entries(properties)) {
      if (path && (value === undefined || value[field] === undefined)) continue;
      const name = homogeneous ? '*' : field;
      const childCanonical = `${canonical}${variantLabel(field)}${canonical ? '.' : ''}${name}`;
      const childPath = path ? [...path, field] : undefined;
      visit({
        canonical: childCanonical,
        schema: child,
        path: childPath,
        role: 'property',
        required: (node.required ?? []).includes(field),
      });
      go(child, childPath ? value[field] : undefined, childPath, childCanonical);
    }
    if (node.propertyNames) {
      visit({ canonical: `${canonical}{key}`, schema: node.propertyNames, path, role: 'key' });
    }
    if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      const child = node.additionalProperties as JsonSchema;
      if (!path) {
        visit({ canonical: `${canonical}.*`, schema: child, role: 'value' });
        return go(child, undefined, undefined, `${canonical}.*`);
      }
      for (const key of Object.keys(value ?? {})) {
        visit({ canonical: `${canonical}.*`, schema: child, path: [...path, key], role: 'value' });
        go(child, value[key], [...path, key], `${canonical}.*`);
      }
    }
  };

  go(schema, data, data === undefined ? undefined : [], '');
}

/** test/schema/full.yaml with its custom template pointing at this checkout's (lint checks it exists). */
export function fullSpec(): unknown {
  const text = readFileSync('test/schema/full.yaml', 'utf8').replace(
    'TEMPLATE_IN_THIS_CHECKOUT',
    resolve('templates/keepalived.conf.mustache'),
  );
  return parse(text) as unknown;
}
