/**
 * The bad-input corpus: specs generated from the valid ones (test/render/specs/*.yaml and the
 * bundled example) by deterministic mutations, each carrying distinctive secrets in every
 * secret-bearing field, plus files no spec should be. Shared by corpus.test.ts and secrets.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

/** Distinctive values that must never appear in any output; none is a substring of another. */
export const SECRETS = {
  vrrp: 'Qz7PwX9k',
  env: 'EnvS3cretZq81',
  webhookPassword: 'HookPassZq82',
  webhookToken: 'W3bTokZq84',
  argv: 'ArgTok3nZq83',
  mysqlPort: 'PortPwZq85',
  optionFile: 'OptPwZq86',
} as const;

export const SECRET_VALUES: string[] = Object.values(SECRETS);

/** Secrets (and 8-character pieces of the long ones) found in `text`. */
export function secretsIn(text: string): string[] {
  return SECRET_VALUES.filter((secret) => {
    for (let i = 0; i + 8 <= secret.length; i++) if (text.includes(secret.slice(i, i + 8))) return true;
    return text.includes(secret);
  });
}

export const WEBHOOK_URL = `https://hook:${SECRETS.webhookPassword}@hooks.example.org/t/${SECRETS.webhookToken}`;

export interface CorpusCase {
  name: string;
  text: string;
  /** The file's bytes when they are not `text` as UTF-8 (invalid UTF-8, binary). */
  bytes?: Buffer;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** mulberry32: the same corpus on every run and machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A valid spec with every kind of secret in it: a VRRP password, an env value, a webhook URL, an argv token. */
export function withSecrets(spec: Record<string, Json>): Record<string, Json> {
  const out = structuredClone(spec);
  const election = (out.election ?? {}) as Record<string, Json>;
  if (election.vrrp_version !== 3) election.authentication = { type: 'PASS', password: SECRETS.vrrp };
  out.election = election;
  const actions = (out.actions ?? {}) as Record<string, Json>;
  const master = (actions.master ?? []) as Json[];
  master.push(
    {
      type: 'command',
      argv: ['/usr/local/bin/tell-app', `--token=${SECRETS.argv}`],
      env: { API_TOKEN: SECRETS.env },
    },
    { type: 'webhook', url: WEBHOOK_URL },
  );
  actions.master = master;
  out.actions = actions;
  return out;
}

export function baseSpecs(): { name: string; spec: Record<string, Json> }[] {
  const files = readdirSync('test/render/specs')
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => `test/render/specs/${file}`)
    .concat('templates/example.yaml');
  return files.map((file) => ({
    name: file
      .split('/')
      .pop()!
      .replace(/\.yaml$/, ''),
    spec: withSecrets(parse(readFileSync(file, 'utf8')) as Record<string, Json>),
  }));
}

function pathsOf(
  value: Json,
  path: Path = [],
  out: { leaves: Path[]; maps: Path[]; lists: Path[] } = { leaves: [], maps: [], lists: [] },
) {
  if (Array.isArray(value)) {
    out.lists.push(path);
    value.forEach((item, i) => pathsOf(item, [...path, i], out));
  } else if (value !== null && typeof value === 'object') {
    out.maps.push(path);
    for (const [key, item] of Object.entries(value)) pathsOf(item, [...path, key], out);
  } else {
    out.leaves.push(path);
  }
  return out;
}

function getAt(root: Json, path: Path): Json | undefined {
  let current: Json | undefined = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, Json>)[part];
  }
  return current;
}

function setAt(root: Json, path: Path, value: Json | undefined): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    (parent as Record<string | number, Json>)[last] = value;
  }
}

const fmt = (path: Path) => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');

/** Values that break some rule of most fields. */
const HOSTILE: Json[] = [
  null,
  0,
  -1,
  1.5,
  1e12,
  '',
  ' ',
  'a b',
  'x#y',
  'line\nbreak',
  'brace}',
  'quote"',
  'a'.repeat(600),
  [],
  {},
  true,
  'ünïcode',
  '../../etc/passwd',
  '0x10',
];

/** Secret fields made invalid in ways a person does it: a space, a comment sign, too long, a wrong type. */
function secretVariants(secret: string): Json[] {
  return [
    `${secret} with space`,
    `${secret}#x`,
    `${secret}\n`,
    `x{${secret}`,
    secret.repeat(80),
    [secret],
    { value: secret },
    `'${secret}'`,
    `ftp://${secret}`,
  ];
}

const SECRET_PATHS = (spec: Json): Path[] => {
  const master = (getAt(spec, ['actions', 'master']) as Json[]) ?? [];
  const command = master.findIndex((a) => (a as Record<string, Json>).type === 'command');
  const webhook = master.findIndex((a) => (a as Record<string, Json>).type === 'webhook');
  const paths: Path[] = [
    ['actions', 'master', command, 'env', 'API_TOKEN'],
    ['actions', 'master', command, 'argv', 1],
    ['actions', 'master', webhook, 'url'],
  ];
  if (getAt(spec, ['election', 'authentication', 'password']) !== undefined)
    paths.push(['election', 'authentication', 'password']);
  return paths;
};

/** Text-level mutations: what YAML gets wrong when a person edits a file. */
function textMutations(base: string, text: string, rnd: () => number, count: number): CorpusCase[] {
  const lines = text.split('\n');
  const pick = () => Math.floor(rnd() * lines.length);
  const cases: CorpusCase[] = [];
  const ops: [string, () => string][] = [
    ['truncated', () => text.slice(0, Math.floor(rnd() * text.length))],
    ['line deleted', () => lines.filter((_, i) => i !== pick()).join('\n')],
    [
      'line repeated',
      () => {
        const i = pick();
        return [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)].join('\n');
      },
    ],
    [
      'tab indent',
      () => {
        const i = pick();
        return lines.map((l, j) => (j === i ? `\t${l}` : l)).join('\n');
      },
    ],
    [
      'colon removed',
      () => {
        const i = pick();
        return lines.map((l, j) => (j === i ? l.replace(':', '') : l)).join('\n');
      },
    ],
    [
      'indent shifted',
      () => {
        const i = pick();
        return lines.map((l, j) => (j === i ? `   ${l}` : l)).join('\n');
      },
    ],
    [
      'bytes swapped',
      () => {
        const i = Math.floor(rnd() * (text.length - 1));
        return text.slice(0, i) + text[i + 1] + text[i] + text.slice(i + 2);
      },
    ],
  ];
  for (let n = 0; n < count; n++) {
    const [name, op] = ops[n % ops.length]!;
    cases.push({ name: `${base}: text ${name} #${n}`, text: op() });
  }
  return cases;
}

/** YAML written around the VRRP password the ways that make the parser, not the schema, complain. */
function yamlSecretCases(base: string, text: string): CorpusCase[] {
  const s = SECRETS.vrrp;
  const line = `password: ${s}`;
  if (!text.includes(line)) return [];
  const variants: [string, string][] = [
    ['tag', `password: !${s}`],
    ['alias', `password: *${s}`],
    ['anchor', `password: &${s}`],
    ['escape', `password: "${s}\\q"`],
    ['unicode escape', `password: "\\u${s}"`],
    ['block header', `password: |${s}`],
    ['as key', `${s}: x`],
    ['colon missing in flow', `{password ${s}}`],
    ['secret beside password', `password: x\n    ${s}: y`],
    ['unterminated quote', `password: "${s}`],
    ['percent', `password: %${s}`],
    ['at sign', `password: @${s}`],
    ['backtick', `password: \`${s}`],
    ['flow', `password: [${s}, {a: ${s}}`],
    ['directive', `password: ${s}\n%YAML 1.2\n---`],
  ];
  return variants.map(([name, replacement]) => ({
    name: `${base}: yaml secret: ${name}`,
    text: text.replace(line, replacement),
  }));
}

/** At least `perBase` generated cases for every valid spec, always the same ones. */
export function generatedCases(perBase = 48): CorpusCase[] {
  const cases: CorpusCase[] = [];
  baseSpecs().forEach(({ name, spec }, b) => {
    const rnd = random(0x5eed + b);
    const { leaves, maps, lists } = pathsOf(spec);
    const choose = <T>(list: T[]): T => list[Math.floor(rnd() * list.length)]!;
    const own: CorpusCase[] = [];
    const add = (what: string, mutate: (s: Json) => void) => {
      const copy = structuredClone(spec) as Json;
      mutate(copy);
      own.push({ name: `${name}: ${what}`, text: stringify(copy) });
    };
    for (const path of SECRET_PATHS(spec)) {
      for (const variant of secretVariants(String(getAt(spec, path)))) {
        add(`secret ${fmt(path)} = ${JSON.stringify(variant).slice(0, 30)}`, (s) => setAt(s, path, variant));
      }
    }
    const structural = Math.max(0, perBase - own.length);
    for (let n = 0; n < structural; n++) {
      const op = n % 6;
      if (op === 0) {
        const path = choose(leaves);
        add(`delete ${fmt(path)}`, (s) => setAt(s, path, undefined));
      } else if (op === 1 || op === 2) {
        const path = choose(leaves);
        const value = choose(HOSTILE);
        add(`${fmt(path)} = ${JSON.stringify(value).slice(0, 30)}`, (s) => setAt(s, path, value));
      } else if (op === 3) {
        const path = choose(maps);
        const keys = Object.keys(getAt(spec, path) as object);
        const key = keys.length > 0 ? choose(keys) : 'x';
        const typo = key.length > 2 ? `${key.charAt(1)}${key.charAt(0)}${key.slice(2)}` : `${key}_`;
        add(`unknown key ${fmt(path)}.${typo}`, (s) => {
          (getAt(s, path) as Record<string, Json>)[typo] = 1;
        });
      } else if (op === 4) {
        const path = choose(lists);
        add(`list ${fmt(path)} doubled`, (s) => {
          const list = getAt(s, path) as Json[];
          list.push(...structuredClone(list));
        });
      } else {
        const path = choose(lists);
        add(`list ${fmt(path)} emptied`, (s) => setAt(s, path, []));
      }
    }
    const text = stringify(spec);
    cases.push(
      { name: `${name}: valid with secrets`, text },
      ...own,
      ...yamlSecretCases(name, text),
      ...textMutations(name, text, rnd, 12),
    );
  });
  return cases;
}

/** Files that are not specs at all, as text (the special files are made by the test itself). */
export function hostileTexts(): CorpusCase[] {
  let keys = 'version: 1\nextra:\n';
  for (let i = 0; keys.length < 600_000; i++) keys += `  k${i}: ${i}\n`;
  let bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 0, prev = 'a'; i < 9; i++, prev = `b${i - 1}`) {
    bomb += `b${i}: &b${i} [${Array(10).fill(`*${prev}`).join(', ')}]\n`;
  }
  let aliases = 'a: &a x\n';
  for (let i = 0; aliases.length < 900_000; i++) aliases += `k${i}: [*a, *a, *a]\n`;
  let indent = '';
  for (let i = 0; indent.length < 900_000; i++) indent += `${' '.repeat(i)}k:\n`;
  return [
    { name: 'empty', text: '' },
    { name: 'only comments', text: '# nothing\n# here\n' },
    { name: 'a credentials file', text: `[client]\nuser=hactl\npassword=${SECRETS.optionFile}\n` },
    { name: 'a credentials line alone', text: `password=${SECRETS.optionFile}\n` },
    { name: 'an env file', text: `API_TOKEN=${SECRETS.env}\nOTHER=${SECRETS.argv}\n` },
    { name: 'a top-level list', text: `- ${SECRETS.env}\n- b\n` },
    { name: 'two documents', text: 'version: 1\n---\nversion: 1\n' },
    { name: 'NUL bytes', text: 'version: 1\0\0\ncluster: a\n' },
    { name: 'invalid UTF-8', text: '', bytes: Buffer.from([0x76, 0x3a, 0x20, 0xff, 0xfe, 0x0a]) },
    { name: 'BOM', text: '\ufeffversion: 1\n' },
    { name: 'binary', text: '', bytes: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)) },
    { name: 'alias bomb', text: bomb },
    { name: 'many aliases', text: aliases },
    { name: 'deep flow', text: `x: ${'['.repeat(200_000)}\n` },
    { name: 'deep flow maps', text: `x: ${'{a: '.repeat(200_000)}\n` },
    { name: 'compact sequences', text: `x: ${'- '.repeat(400_000)}a\n` },
    { name: 'deep indentation', text: indent },
    { name: 'many keys', text: keys },
    { name: 'duplicate keys', text: 'version: 1\nversion: 1\ncluster: a\ncluster: b\n' },
    { name: 'collection key', text: '? [a, b]\n: c\nversion: 1\n' },
    { name: 'merge key', text: 'base: &b {cluster: a}\n<<: *b\nversion: 1\n' },
    { name: 'huge key', text: `${'k'.repeat(300_000)}: 1\n` },
    { name: 'huge value', text: `version: 1\ncluster: ${'c'.repeat(900_000)}\n` },
    { name: 'unknown tag', text: 'version: !!binary aGVsbG8=\ncluster: !custom x\n' },
    { name: 'over the size limit', text: `# ${'x'.repeat(1024 * 1024)}\n` },
  ];
}
