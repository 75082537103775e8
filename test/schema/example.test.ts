/**
 * One source for the field documentation: the zod schema's descriptions. The annotated example that
 * `hactl init` writes may only quote them: every comment at the end of a field's line must be a
 * sentence of that field's description (or a part of one between ": " and "; "), so the example
 * and the JSON Schema an editor shows cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { pathText, printedSchema, walk, type DataPath, type JsonSchema } from './support.js';

const EXAMPLE = 'templates/example.yaml';

/** The sentences of a description, and their parts between ": " and "; ", normalised. */
export function quotable(description: string): Set<string> {
  const normal = (text: string) => {
    const trimmed = text.trim().replace(/\.$/, '');
    return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
  };
  const out = new Set<string>();
  for (const sentence of description.split(/(?<!\be\.g|\bi\.e)\.\s+/)) {
    out.add(normal(sentence));
    for (const part of sentence.split(/[:;]\s+/)) out.add(normal(part));
  }
  return out;
}

/** The line (1-based) of each key in the document, with the key's data path. */
function keyLines(text: string): Map<number, DataPath> {
  const counter = new LineCounter();
  const document = parseDocument(text, { lineCounter: counter });
  const lines = new Map<number, DataPath>();
  const visit = (node: unknown, path: DataPath) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const line = counter.linePos((pair.key as Node).range![0]).line;
        if (!lines.has(line)) lines.set(line, [...path, key]);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(document.contents, []);
  return lines;
}

/** The comment at the end of a line, outside quotes. */
function trailingComment(line: string): string | undefined {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '#' && i > 0 && /\s/.test(line[i - 1]!)) return line.slice(i + 1).trim();
  }
  return undefined;
}

let schema: JsonSchema;
beforeAll(() => {
  schema = printedSchema();
});

describe('the annotated example quotes the schema descriptions', () => {
  it('quotable() splits sentences but not "e.g. 0.1", and parts at ": " and "; "', () => {
    const parts = quotable('Seconds between adverts. Fractions (e.g. 0.1) need vrrp_version: 3. A; b.');
    expect([...parts]).toEqual(
      expect.arrayContaining([
        'seconds between adverts',
        'fractions (e.g. 0.1) need vrrp_version: 3',
        'a',
        'b',
      ]),
    );
    expect(parts.has('1) need vrrp_version: 3')).toBe(false);
  });

  it('every end-of-line comment on a field is a sentence (or part) of its description', () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const data = parseDocument(text).toJS() as unknown;
    const descriptions = new Map<string, string>();
    walk(schema, data, (site) => {
      if (site.path && typeof site.schema.description === 'string')
        descriptions.set(pathText(site.path), site.schema.description);
    });
    const lines = text.split('\n');
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const [line, path] of keyLines(text)) {
      const comment = trailingComment(lines[line - 1]!);
      if (comment === undefined) continue;
      const field = pathText(path);
      const description = descriptions.get(field);
      checked.push(field);
      if (description === undefined) wrong.push(`${EXAMPLE}:${line} ${field}: the schema has no description`);
      else if (
        !quotable(description).has(comment.charAt(0).toLowerCase() + comment.slice(1).replace(/\.$/, ''))
      )
        wrong.push(`${EXAMPLE}:${line} ${field}: "${comment}" is not in its description: ${description}`);
    }
    expect(wrong).toEqual([]);
    expect(checked.length).toBeGreaterThanOrEqual(20);
  });
});
