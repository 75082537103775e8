/**
 * Nothing a user writes may inject text into keepalived.conf or a command line: every value that is
 * rendered is refused at the spec boundary when it carries newlines, braces, quotes, comment
 * characters, spaces or absurd lengths.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseSpecText, SpecInvalid } from '../../src/spec/load.js';

const base = parse(readFileSync('test/render/specs/seed002.yaml', 'utf8')) as Record<string, any>;

const payloads: Record<string, string> = {
  newline: 'eth0\n}\nvrrp_instance evil {',
  'open brace': 'a{b',
  'close brace': 'a}b',
  'double quote': 'a"b',
  hash: 'a#b',
  space: 'a b',
  'very long': 'a'.repeat(600),
};

const fields: { path: string; set: (spec: Record<string, any>, value: string) => void; prefix?: string }[] = [
  { path: 'cluster', set: (s, v) => (s.cluster = v) },
  { path: 'nodes[0].name', set: (s, v) => (s.nodes[0].name = v) },
  { path: 'nodes[0].networks.lan.interface', set: (s, v) => (s.nodes[0].networks.lan.interface = v) },
  { path: 'nodes[0].networks.lan.address', set: (s, v) => (s.nodes[0].networks.lan.address = v) },
  { path: 'vips[0].name', set: (s, v) => (s.vips[0].name = v) },
  { path: 'vips[0].address', set: (s, v) => (s.vips[0].address = v) },
  { path: 'paths.hactl', set: (s, v) => (s.paths = { hactl: `/usr/local/bin/${v}` }) },
  { path: 'paths.spec', set: (s, v) => (s.paths = { spec: `/etc/hactl/${v}` }) },
  { path: 'checks[0].name', set: (s, v) => (s.checks[0].name = v) },
  { path: 'checks[0].params.url', set: (s, v) => (s.checks[0].params.url = `http://127.0.0.1/${v}`) },
  {
    path: 'election.authentication.password',
    set: (s, v) => (s.election.authentication = { type: 'PASS', password: v }),
  },
  { path: 'actions.master[0].commands.start[1]', set: (s, v) => (s.actions.master[0].commands.start[1] = v) },
];

function problemsFor(spec: unknown): string[] {
  try {
    parseSpecText(stringify(spec), 'injected.yaml');
  } catch (error) {
    if (error instanceof SpecInvalid) return error.problems;
    throw error;
  }
  return [];
}

describe('the spec boundary refuses injection', () => {
  it('the untouched base spec is valid', () => {
    expect(problemsFor(base)).toEqual([]);
  });

  for (const field of fields) {
    for (const [name, payload] of Object.entries(payloads)) {
      // Spaces in a password are harmless for keepalived only inside quotes we do not emit: refuse too.
      it(`${field.path} with ${name}`, () => {
        const spec = structuredClone(base);
        field.set(spec, payload);
        const problems = problemsFor(spec);
        expect(problems.length, `accepted ${JSON.stringify(payload)} in ${field.path}`).toBeGreaterThan(0);
        const problem = problems.find((p) => p.startsWith(`${field.path}: `));
        expect(problem, problems.join('\n')).toBeDefined();
        expect(problem).toMatch(/is not|characters long|is required|expected|must not/);
      });
    }
  }

  it('never echoes a password in an error', () => {
    const spec = structuredClone(base);
    spec.election = { authentication: { type: 'PASS', password: 12345 } };
    const problems = problemsFor(spec);
    expect(problems.join('\n')).toMatch(
      /election.authentication.password: expected string, got a value \(hidden\)/,
    );
    expect(problems.join('\n')).not.toContain('12345');
  });

  it('path segments ".." are refused', () => {
    const spec = structuredClone(base);
    spec.paths = { hactl: '/usr/local/../bin/hactl' };
    expect(problemsFor(spec)).toContain(
      'paths.hactl: "/usr/local/../bin/hactl" must not contain ".." segments',
    );
  });

  it('YAML syntax errors and duplicate keys are reported, not guessed around', () => {
    expect(() => parseSpecText('version: 1\nversion: 1\n', 'dup.yaml')).toThrow(
      /version: appears twice in the same mapping; keep one\n {4}at dup.yaml:2:1/,
    );
    expect(() => parseSpecText('nodes: [\n', 'broken.yaml')).toThrow(SpecInvalid);
  });
});
