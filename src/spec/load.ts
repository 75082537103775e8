/** Reading a spec file: YAML → validated Spec, and finding which node this machine is. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError, rememberSecret } from '../errors.js';
import { describeIssues, formatPath, secretValues } from './errors.js';
import { readSpecBytes } from './file.js';
import { parsePath, YamlSource, type Position } from './yaml-source.js';
import { specSchema, type NodeSpec, type Spec } from './schema.js';

/** templates/ is at the package root: one level above dist/ (built), two above src/spec/ (tests). */
function findTemplatesDir(): string {
  for (const up of ['../templates/', '../../templates/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(join(dir, 'example.yaml'))) return dir;
  }
  throw new Error('hactl is installed without its templates/ directory');
}

export function templatePath(name: string): string {
  return join(findTemplatesDir(), name);
}

export const exampleSpecPath = (): string => templatePath('example.yaml');

export interface LoadedSpec {
  spec: Spec;
  /** Where it came from, for messages and the rendered header. */
  path: string;
  /** sha256 of the file's bytes, first 12 hex digits: ties a rendered file to its spec. */
  hash: string;
  /** Line and column of a spec path as findings print it (`nodes[1].priority`), when it is in the file. */
  locate: (path: string) => Position | undefined;
}

/** One problem of a spec: the spec path, what is wrong, and where in the file when known. */
export interface SpecProblem {
  path: string;
  message: string;
  line?: number | undefined;
  column?: number | undefined;
}

/** `path: message`, and where it is: the way every command prints a problem. */
export function formatProblem(problem: SpecProblem, file: string, indent = ''): string {
  const where =
    problem.line === undefined ? '' : `\n${indent}  at ${file}:${problem.line}:${problem.column ?? 1}`;
  return `${indent}${problem.path}: ${problem.message}${where}`;
}

export class SpecInvalid extends ConfigError {
  /** `path: message` per problem (no position), as before positions existed. */
  readonly problems: string[];
  readonly findings: SpecProblem[];
  constructor(path: string, findings: SpecProblem[]) {
    super(`${path} is not a valid spec:\n${findings.map((f) => formatProblem(f, path, '  ')).join('\n')}`);
    this.findings = findings;
    this.problems = findings.map((f) => `${f.path}: ${f.message}`);
  }
}

/** YAML text → document → plain data → validated Spec, every failure a SpecInvalid with positions. */
function parseSource(text: string, path: string): { spec: Spec; source: YamlSource } {
  const source = YamlSource.parse(text);
  if (!(source instanceof YamlSource)) throw new SpecInvalid(path, [source]);
  const problems = source.problems();
  if (problems.length > 0) throw new SpecInvalid(path, problems);
  const converted = source.toData();
  if ('problem' in converted) throw new SpecInvalid(path, [converted.problem]);
  const { data } = converted;
  for (const secret of secretValues(data)) rememberSecret(secret);
  if (data === null || data === undefined) {
    throw new SpecInvalid(path, [
      { path: '(top level)', message: 'the file holds no YAML mapping (it is empty or only comments)' },
    ]);
  }
  const result = specSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    throw new SpecInvalid(
      path,
      describeIssues(result.error.issues, data, (issuePath) => knownKeysAt(issuePath, data)).map(
        (problem) => ({
          path: formatPath(problem.path),
          message: problem.message,
          ...source.locate(problem.path, problem.key),
        }),
      ),
    );
  }
  return { spec: result.data, source };
}

export function parseSpecText(text: string, path: string): Spec {
  return parseSource(text, path).spec;
}

export function loadSpec(path: string = exampleSpecPath()): LoadedSpec {
  return loadSpecBytes(readSpecBytes(path), path);
}

/** Where a spec path is in a loaded spec's file, for callers that print their own findings. */
export type { Position };

/** Validates bytes already read (so a caller that hashed them parses exactly what it hashed). */
export function loadSpecBytes(bytes: Buffer, path: string): LoadedSpec {
  const { spec, source } = parseSource(bytes.toString('utf8'), path);
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  return { spec, path, hash, locate: (findingPath) => source.locate(parsePath(findingPath)) };
}

/** The node this process runs on: --node wins, else the machine's hostname (short or full). */
export function findNode(spec: Spec, nodeName?: string): NodeSpec {
  if (nodeName !== undefined) {
    const node = spec.nodes.find((n) => n.name === nodeName);
    if (!node) {
      throw new ConfigError(
        `--node ${JSON.stringify(nodeName)} is not in the spec; its nodes are: ${spec.nodes.map((n) => n.name).join(', ')}`,
      );
    }
    return node;
  }
  const full = osHostname();
  const short = full.split('.')[0];
  const node = spec.nodes.find((n) => {
    const name = n.hostname ?? n.name;
    return name === full || name === short;
  });
  if (!node) {
    throw new ConfigError(
      `this machine's hostname "${full}" matches no node (${spec.nodes.map((n) => n.hostname ?? n.name).join(', ')}); pass --node NAME or set nodes[].hostname`,
    );
  }
  return node;
}

/**
 * Field names allowed at a path, read from the schema itself, for "did you mean" hints. The data
 * picks the member of a union (an action's type, a check's kind), so a field of another type is
 * never suggested.
 */
function knownKeysAt(path: readonly PropertyKey[], data: unknown): string[] {
  let schemas: unknown[] = [specSchema];
  let value = data;
  for (const part of path) {
    schemas = matching(schemas, value).flatMap((schema) => childSchemas(schema, part));
    value = isRecord(value) ? value[part as string] : undefined;
  }
  return [...new Set(matching(schemas, value).flatMap((schema) => Object.keys(objectShape(schema) ?? {})))];
}

interface Def {
  type: string;
  innerType?: unknown;
  element?: unknown;
  shape?: Record<string, unknown>;
  valueType?: unknown;
  options?: unknown[];
  values?: unknown[];
}

function defOf(schema: unknown): Def {
  return (schema as { _zod: { def: Def } })._zod.def;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The union members whose literal fields (type, kind) agree with the data; all of them if none does. */
function matching(schemas: unknown[], value: unknown): unknown[] {
  const unwrapped = schemas.flatMap(unwrap);
  if (!isRecord(value)) return unwrapped;
  const agreeing = unwrapped.filter((schema) =>
    Object.entries(objectShape(schema) ?? {}).every(([key, field]) => {
      const def = defOf(field);
      return def.type !== 'literal' || (def.values ?? []).includes(value[key]);
    }),
  );
  return agreeing.length > 0 ? agreeing : unwrapped;
}

function unwrap(schema: unknown): unknown[] {
  const def = defOf(schema);
  if (def.innerType !== undefined) return unwrap(def.innerType);
  if (def.type === 'union') return (def.options ?? []).flatMap(unwrap);
  return [schema];
}

function objectShape(schema: unknown): Record<string, unknown> | undefined {
  return defOf(schema).shape;
}

function childSchemas(schema: unknown, part: PropertyKey): unknown[] {
  return unwrap(schema).flatMap((inner) => {
    const def = defOf(inner);
    if (typeof part === 'number') return def.element !== undefined ? unwrap(def.element) : [];
    if (def.type === 'record' && def.valueType !== undefined) return unwrap(def.valueType);
    const child = def.shape?.[String(part)];
    return child === undefined ? [] : unwrap(child);
  });
}
