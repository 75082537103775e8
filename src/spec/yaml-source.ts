/**
 * The spec as YAML source: limits checked while the document is built, duplicate and non-scalar
 * keys found in one pass, parse errors told without echoing the text they are about, and spec
 * paths mapped back to a line and column.
 *
 * Limits exist because the parser's cost is not only a function of size: within 1 MiB, deep
 * flow nesting takes the `yaml` package ~50 s and half a million `- ` on one line ~13 s, and a
 * few dozen aliases can expand to millions of nodes. Real specs nest a handful of levels and use
 * aliases sparingly, so the limits below are generous for them and stop the pathological cases
 * in the lexer, before the parser has built anything deep.
 */
import {
  Composer,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  visit,
  YAMLParseError,
  type Document,
  type Node,
  type Pair,
  type YAMLError,
} from 'yaml';
import { formatPath } from './errors.js';

export const MAX_NESTING = 64;
export const MAX_ALIASES = 100;
/** toJS: how many nodes the aliases may expand to, relative to the document (the library's knob). */
const MAX_ALIAS_COUNT = 100;

export interface SourceProblem {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** Where in the file: 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

/** Lexer marks that take no room in the source: document start, flow error end, scalar follows. */
const MARKS = new Set(['\u0002', '\u0018', '\u001f']);
const SCALAR_MARK = '\u001f';

/** Thrown from inside the lexer loop when a limit is crossed; becomes a SourceProblem. */
class LimitCrossed extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * The lexer's tokens, checked on the way: flow nesting, block nesting (indentation levels, and
 * compact `- - -` indicators on one line) and the number of aliases. The parser takes the same
 * tokens, so the limits cost no second pass, and a crossed limit stops the work where it is.
 */
function* limitedLexemes(text: string): Generator<string> {
  const tooDeep = (offset: number) => new LimitCrossed(`nested more than ${MAX_NESTING} levels deep`, offset);
  let offset = 0;
  let flowDepth = 0;
  let indicatorsOnLine = 0;
  let aliases = 0;
  /** Indentation of the current line while its first significant token is still to come. */
  let pendingIndent: number | undefined = 0;
  let scalarSource = false;
  const indents: number[] = [];
  for (const token of new Lexer().lex(text)) {
    yield token;
    const at = offset;
    if (MARKS.has(token)) {
      if (token !== SCALAR_MARK) continue;
    } else {
      offset += token.length;
    }
    if (scalarSource) {
      // The scalar's own text (a block scalar's lines included): no structure inside.
      scalarSource = false;
      if (token.endsWith('\n')) pendingIndent = 0;
      continue;
    }
    if (token === '\n' || token === '\r\n') {
      pendingIndent = 0;
      indicatorsOnLine = 0;
      continue;
    }
    if (pendingIndent !== undefined) {
      if (/^ +$/.test(token)) {
        pendingIndent = token.length;
        continue;
      }
      if (!token.startsWith('#') && flowDepth === 0) {
        while (indents.length > 0 && indents[indents.length - 1]! >= pendingIndent) indents.pop();
        indents.push(pendingIndent);
        if (indents.length > MAX_NESTING) throw tooDeep(at);
      }
      pendingIndent = undefined;
    }
    if (token === SCALAR_MARK) {
      scalarSource = true;
      continue;
    }
    if (token === '[' || token === '{') {
      if (++flowDepth > MAX_NESTING) throw tooDeep(at);
    } else if (token === ']' || token === '}') {
      if (flowDepth > 0) flowDepth--;
    } else if ((token === '-' || token === '?' || token === ':') && flowDepth === 0) {
      // Inside [ ] or { } a ':' separates a key from its value; only block indicators nest.
      if (++indicatorsOnLine > MAX_NESTING)
        throw new LimitCrossed(`more than ${MAX_NESTING} nested entries on one line`, at);
    } else if (token.startsWith('*')) {
      if (++aliases > MAX_ALIASES)
        throw new LimitCrossed(`more than ${MAX_ALIASES} aliases (*name); write the values out instead`, at);
    }
  }
}

/** Line and column of an offset without a line counter (the parse stopped before it was complete). */
function positionIn(text: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * The parser's message, without anything taken from the text it is about: tag names, escape
 * sequences, alias names and block headers can be (part of) a password.
 */
export function describeYamlError(error: Pick<YAMLError, 'code' | 'message'>): string {
  switch (error.code) {
    case 'TAG_RESOLVE_FAILED':
      return 'unknown tag (a value starting with "!" must be quoted)';
    case 'BAD_DQ_ESCAPE':
      return 'invalid escape sequence in a double-quoted value (write \\\\ for a backslash, or use single quotes)';
    case 'BAD_ALIAS':
      return 'invalid alias or anchor (a value starting with "*" or "&" must be quoted)';
    case 'BAD_SCALAR_START':
      return 'a plain value cannot start with this character; quote the value';
    case 'MULTIPLE_DOCS':
      return 'the file holds more than one YAML document (remove the second "---")';
    case 'DUPLICATE_KEY':
      return 'the same field appears twice in one mapping';
    case 'KEY_OVER_1024_CHARS':
      return 'a field name longer than 1024 characters; is a ":" missing?';
    default: {
      // The first sentence only, and nothing after a colon: that is where the library quotes.
      const first = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      const cut = first.indexOf(': ');
      return (cut === -1 ? first : first.slice(0, cut)) || `YAML error ${error.code}`;
    }
  }
}

interface Located {
  node: Node | null;
  pair?: Pair;
}

function keyText(pair: Pair): string | undefined {
  const key = pair.key;
  if (key === null || key === undefined) return 'null';
  if (isScalar(key)) return String(key.value);
  return undefined;
}

export class YamlSource {
  private constructor(
    readonly text: string,
    readonly document: Document.Parsed,
    private readonly lineCounter: LineCounter,
  ) {}

  /** The document, or the limit it crossed (then nothing was built past that point). */
  static parse(text: string): YamlSource | SourceProblem {
    const lineCounter = new LineCounter();
    lineCounter.addNewLine(0);
    const parser = new Parser(lineCounter.addNewLine);
    const composer = new Composer({ uniqueKeys: false, logLevel: 'error' });
    function* cst() {
      for (const lexeme of limitedLexemes(text)) yield* parser.next(lexeme);
      yield* parser.end();
    }
    let document: Document.Parsed | undefined;
    try {
      for (const doc of composer.compose(cst(), true, text.length)) {
        if (document) {
          document.errors.push(new YAMLParseError([doc.range[0], doc.range[1]], 'MULTIPLE_DOCS', ''));
          break;
        }
        document = doc;
      }
    } catch (error) {
      if (!(error instanceof LimitCrossed)) throw error;
      return { path: 'YAML', message: error.message, ...positionIn(text, error.offset) };
    }
    // compose(…, forceDoc = true) ends with a document, if an empty one.
    return new YamlSource(text, document!, lineCounter);
  }

  position(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(offset);
    return { line: Math.max(1, line), column: Math.max(1, col) };
  }

  /** Parse errors, then duplicate or non-scalar keys: everything wrong before any value is read. */
  problems(): SourceProblem[] {
    // Warnings too (an unknown tag): nothing in a spec is meant to be guessed around.
    const errors = [...this.document.errors, ...this.document.warnings].map((error) => ({
      path: 'YAML',
      message: describeYamlError(error),
      ...this.position(error.pos[0]),
    }));
    return errors.length > 0 ? errors : this.keyProblems();
  }

  /** Linear: one Set per mapping (the library's uniqueKeys check compares every pair with every other). */
  private keyProblems(): SourceProblem[] {
    const problems: SourceProblem[] = [];
    const stack: { node: unknown; path: (string | number)[] }[] = [
      { node: this.document.contents, path: [] },
    ];
    while (stack.length > 0) {
      const { node, path } = stack.pop()!;
      if (isMap(node)) {
        const seen = new Set<string>();
        for (const pair of node.items) {
          const name = keyText(pair);
          const at = (pair.key as Node | null)?.range?.[0] ?? node.range?.[0] ?? 0;
          if (name === undefined) {
            problems.push({
              path: formatPath(path),
              message: 'a field name must be a plain word, not a list, mapping or alias',
              ...this.position(at),
            });
            continue;
          }
          if (seen.has(name)) {
            problems.push({
              path: formatPath([...path, name]),
              message: 'appears twice in the same mapping; keep one',
              ...this.position(at),
            });
          }
          seen.add(name);
          stack.push({ node: pair.value, path: [...path, name] });
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => stack.push({ node: item, path: [...path, i] }));
      }
    }
    return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  }

  /** Where the first alias is: alias trouble is reported there. */
  private firstAlias(): Position | undefined {
    let offset: number | undefined;
    visit(this.document, {
      Alias(_, node) {
        offset = node.range?.[0];
        return visit.BREAK;
      },
    });
    return offset === undefined ? undefined : this.position(offset);
  }

  /** The document as plain data; alias trouble becomes a problem instead of an exception. */
  toData(): { data: unknown } | { problem: SourceProblem } {
    try {
      return { data: this.document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const problem = (text: string) => ({ problem: { path: 'YAML', message: text, ...this.firstAlias() } });
      if (/alias count/i.test(message))
        return problem(
          'aliases expand to too many values (a "billion laughs"?); write the values out instead',
        );
      if (/unresolved alias/i.test(message))
        return problem(
          'an alias (*name) refers to no anchor before it (a value starting with "*" must be quoted)',
        );
      if (error instanceof RangeError)
        return { problem: { path: 'YAML', message: 'nested too deeply to read' } };
      throw error;
    }
  }

  private find(parts: readonly (string | number)[]): { found: Located; complete: boolean; chain: Located[] } {
    let current: Located = { node: this.document.contents as Node | null };
    const chain: Located[] = [current];
    for (const part of parts) {
      let node: unknown = current.node;
      if (isAlias(node)) node = node.resolve(this.document);
      let next: Located | undefined;
      if (isMap(node)) {
        const pair = node.items.find((item) => keyText(item) === String(part));
        if (pair) next = { node: (pair.value as Node | null) ?? null, pair };
      } else if (isSeq(node) && typeof part === 'number') {
        const item = node.items[part];
        if (item !== undefined) next = { node: item as Node | null };
      }
      if (!next) return { found: current, complete: false, chain };
      current = next;
      chain.push(current);
    }
    return { found: current, complete: true, chain };
  }

  /**
   * Where a spec path is written: a scalar value's own position, a collection's key. A path that
   * is not in the file (a missing field) points at the nearest enclosing entry that is. With
   * `key`, the position of that field name inside the mapping at `parts`.
   */
  locate(parts: readonly (string | number)[], key?: string): Position | undefined {
    const { found, complete, chain } = this.find(key === undefined ? parts : [...parts, key]);
    if (key !== undefined && complete && found.pair?.key) {
      const start = (found.pair.key as Node).range?.[0];
      if (start !== undefined) return this.position(start);
    }
    if (complete && isScalar(found.node) && found.node.range) return this.position(found.node.range[0]);
    // A collection, a missing value or a missing field: the innermost entry that has a key or a start.
    for (let i = chain.length - 1; i >= 1; i--) {
      const entry = chain[i]!;
      const keyStart = (entry.pair?.key as Node | null | undefined)?.range?.[0];
      if (keyStart !== undefined) return this.position(keyStart);
      const start = entry.node?.range?.[0];
      if (start !== undefined) return this.position(start);
    }
    return undefined;
  }
}

/** `nodes[1].networks.lan` → ['nodes', 1, 'networks', 'lan']. */
export function parsePath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) parts.push(Number(match[2]));
    else if (match[1] !== undefined) parts.push(match[1]);
  }
  return parts;
}
