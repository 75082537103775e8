/**
 * A tolerant reader of keepalived.conf: it never stops at the first problem, because a migration
 * wants every trap of a hand-written file at once. It follows keepalived 2.2.7's own lexing
 * (lib/parser.c): `#` and `!` start a comment anywhere outside double quotes, `{` and `}` outside
 * quotes are tokens of their own, a block's `{` may stand on the next line. `include` is recorded,
 * never followed: lint reads only the files it was given.
 */

export interface Statement {
  keyword: string;
  args: string[];
  line: number;
  /** The statements between `{` and `}`, when the keyword opened a block. */
  block?: Statement[];
  /** The line of the block's closing `}` (the last line of the file when it is missing). */
  endLine?: number;
}

export interface ParseProblem {
  kind: 'extra-close' | 'unclosed' | 'stray-open' | 'unterminated-quote' | 'include';
  line: number;
  message: string;
}

export interface ParsedConf {
  file: string;
  statements: Statement[];
  problems: ParseProblem[];
}

interface Token {
  text: string;
  line: number;
  /** `{`/`}` written as such, not inside quotes. */
  brace: boolean;
}

function tokenizeLine(raw: string, line: number, problems: ParseProblem[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#' || c === '!') {
      break;
    } else if (c === '{' || c === '}') {
      tokens.push({ text: c, line, brace: true });
      i++;
    } else {
      let text = '';
      while (i < raw.length) {
        const d = raw[i]!;
        if (d === ' ' || d === '\t' || d === '\r' || d === '{' || d === '}' || d === '#' || d === '!') break;
        if (d === '"') {
          const end = raw.indexOf('"', i + 1);
          if (end === -1) {
            problems.push({
              kind: 'unterminated-quote',
              line,
              message: 'a double quote opens here and is never closed on this line',
            });
            text += raw.slice(i + 1);
            i = raw.length;
            break;
          }
          text += raw.slice(i + 1, end);
          i = end + 1;
        } else {
          text += d;
          i++;
        }
      }
      tokens.push({ text, line, brace: false });
    }
  }
  return tokens;
}

export function parseKeepalivedConf(file: string, text: string): ParsedConf {
  const problems: ParseProblem[] = [];
  const lines: Token[][] = text
    .split('\n')
    .map((raw, index) => tokenizeLine(raw, index + 1, problems))
    .filter((tokens) => tokens.length > 0);

  const root: Statement[] = [];
  // Open blocks, innermost last, each with the statement that opened it.
  const stack: { statement: Statement; children: Statement[] }[] = [];
  const current = (): Statement[] => stack.at(-1)?.children ?? root;
  let last: Statement | undefined;
  let lastOpenedBlock = true;

  for (const tokens of lines) {
    let statement: Statement | undefined;
    for (const token of tokens) {
      if (token.brace && token.text === '{') {
        const opener = statement ?? (!lastOpenedBlock ? last : undefined);
        if (!opener || opener.block) {
          problems.push({
            kind: 'stray-open',
            line: token.line,
            message: "a '{' that follows no keyword: keepalived ignores it and reads on at the wrong depth",
          });
          continue;
        }
        opener.block = [];
        stack.push({ statement: opener, children: opener.block });
        lastOpenedBlock = true;
        statement = undefined;
      } else if (token.brace) {
        if (stack.length === 0) {
          problems.push({
            kind: 'extra-close',
            line: token.line,
            message:
              "an extra '}': nothing is open here, so an earlier block was already closed (keepalived reports \"Extra '}' found\" and whatever follows may land in the wrong block)",
          });
        } else {
          stack.pop()!.statement.endLine = token.line;
        }
        statement = undefined;
        lastOpenedBlock = true;
      } else if (statement) {
        statement.args.push(token.text);
      } else {
        statement = { keyword: token.text, args: [], line: token.line };
        current().push(statement);
        last = statement;
        lastOpenedBlock = false;
        if (token.text === 'include') {
          problems.push({
            kind: 'include',
            line: token.line,
            message:
              'include is not followed: lint reads only the files it is given, so pass the included file too (its keywords are not checked here)',
          });
        }
      }
    }
  }
  for (const open of stack) {
    open.statement.endLine = lines.at(-1)?.[0]?.line ?? open.statement.line;
    problems.push({
      kind: 'unclosed',
      line: open.statement.line,
      message: `the block ${open.statement.keyword}${open.statement.args.length ? ' ' + open.statement.args.join(' ') : ''} opened here is never closed: a '}' is missing`,
    });
  }
  problems.sort((a, b) => a.line - b.line);
  return { file, statements: root, problems };
}
