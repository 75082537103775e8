/**
 * Spec errors carry the file's line and column: a zod issue path is mapped back to the YAML node
 * (a scalar's own position, a collection's key, a missing field's enclosing entry, an unknown
 * field's key), and so are lint findings, which only know their spec path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSpec, parseSpecText, SpecInvalid, type SpecProblem } from '../../src/spec/load.js';
import { parsePath } from '../../src/spec/yaml-source.js';
import { runInProcess } from './in-process.js';

function findings(text: string): SpecProblem[] {
  try {
    parseSpecText(text, 'p.yaml');
  } catch (error) {
    if (error instanceof SpecInvalid) return error.findings;
    throw error;
  }
  return [];
}

const seed = readFileSync('test/render/specs/seed001.yaml', 'utf8');

describe('positions of spec problems', () => {
  it('a wrong scalar points at the value itself', () => {
    const text = seed.replace('priority: 100', 'priority: 300');
    const line = text.split('\n').findIndex((l) => l.includes('priority: 300')) + 1;
    const column = text.split('\n')[line - 1]!.indexOf('300') + 1;
    expect(findings(text)).toEqual([expect.objectContaining({ path: 'nodes[0].priority', line, column })]);
  });

  it('a missing field points at its enclosing entry; an unknown field at its key', () => {
    const text = readFileSync('test/lint/broken/misspelled-priority.yaml', 'utf8');
    expect(findings(text)).toEqual([
      { path: 'nodes[0].priority', message: 'is required (expected number)', line: 7, column: 5 },
      { path: 'nodes[0]', message: 'unknown field "priorty" (did you mean "priority"?)', line: 8, column: 5 },
    ]);
  });

  it('a flow mapping entry and a list item are found inside the line', () => {
    const text = seed.replace(/address: 192\.0\.2\.21/, 'address: 192.0.2.999');
    const [problem] = findings(text);
    const line = text.split('\n').findIndex((l) => l.includes('192.0.2.999')) + 1;
    expect(problem).toMatchObject({
      path: 'nodes[0].networks.lan.address',
      line,
      column: text.split('\n')[line - 1]!.indexOf('192.0.2.999') + 1,
    });
  });

  it('YAML syntax errors and duplicate keys have positions', () => {
    expect(findings('version: 1\ncluster: a b: c\nfailback: x\n')[0]).toMatchObject({
      path: 'YAML',
      line: 2,
    });
    expect(findings('version: 1\ncluster: a\nversion: 1\n')).toEqual([
      { path: 'version', message: 'appears twice in the same mapping; keep one', line: 3, column: 1 },
    ]);
  });

  it('the message shows each problem with an "at FILE:LINE:COLUMN" line', () => {
    const text = seed.replace('priority: 100', 'priority: 300');
    expect(() => parseSpecText(text, 'p.yaml')).toThrow(
      /^p\.yaml is not a valid spec:\n {2}nodes\[0\]\.priority: 300 is out of range .*\n {4}at p\.yaml:\d+:\d+$/,
    );
  });

  it('lint findings, which know only their spec path, are located too', async () => {
    const loaded = loadSpec('test/lint/broken/weight-too-small.yaml');
    expect(loaded.locate('checks[0].weight')).toEqual({ line: 18, column: 78 });
    expect(loaded.locate('nodes[1].networks.lan.address')).toEqual({ line: 13, column: 40 });
    // A defaulted field is not in the file: no position rather than a wrong one.
    expect(loaded.locate('paths.hactl')).toBeUndefined();
    const result = await runInProcess('lint', ['--spec', 'test/lint/broken/weight-too-small.yaml']);
    expect(result.stdout).toMatch(
      /^error: checks\[0\]\.weight: when "nginx" fails .*\n {2}at test\/lint\/broken\/weight-too-small\.yaml:18:78$/m,
    );
  });

  it('parsePath reads the paths findings print', () => {
    expect(parsePath('nodes[1].networks.lan.address')).toEqual(['nodes', 1, 'networks', 'lan', 'address']);
    expect(parsePath('checks[0].params.restart_cmd[2]')).toEqual(['checks', 0, 'params', 'restart_cmd', 2]);
  });
});
