/**
 * Turns zod issues into one problem per line: `path: what is wrong and how to fix it`.
 *
 * Secret-bearing fields (passwords, tokens, env values, URLs, command lines) are reported by field
 * and rule, never by value: their value is taken out of every message, whoever wrote the message
 * (a zod built-in, a refinement of the schema), and a message that would still show part of it is
 * replaced by one that names only the field.
 */
import type { z } from 'zod';
import { HIDDEN, scrubSecret, shown } from '../errors.js';

/** A field whose name says it holds a secret; `*_file` fields hold a path to one, which is not. */
const SECRET_KEY = /pass(word|wd|phrase)?|secret|token|credential|api_?key|auth_?key/i;
/** Values below these keys are environment values or command words: tokens travel there. */
const SECRET_CONTAINERS = new Set(['env', 'argv', 'restart_cmd', 'commands']);
/** URLs may carry credentials (user:password@) or a token in their path or query. */
const URL_KEY = /(^|_)url$/i;

export function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some(
    (part) =>
      typeof part === 'string' &&
      ((SECRET_KEY.test(part) && !part.endsWith('_file')) ||
        URL_KEY.test(part) ||
        SECRET_CONTAINERS.has(part)),
  );
}

const USERINFO = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i;

/**
 * The values of a parsed spec that are secrets, to keep out of any message printed later:
 * password-like fields, env values, URLs (a token travels in them) and their credentials.
 */
export function secretValues(data: unknown): string[] {
  const found: string[] = [];
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: data, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      const last = path[path.length - 1];
      const named = path.some(
        (part, i) =>
          typeof part === 'string' &&
          ((SECRET_KEY.test(part) && !part.endsWith('_file')) || (part === 'env' && i < path.length - 1)),
      );
      if (named) found.push(value);
      else if (typeof last === 'string' && URL_KEY.test(last)) {
        // A webhook's URL may carry its token anywhere (Slack puts it in the path): hidden whole.
        // A check's URL is an address the messages must be able to show; only its credentials
        // and query string are hidden.
        if (path[0] !== 'checks') found.push(value);
        const userinfo = USERINFO.exec(value)?.[1];
        if (userinfo) found.push(userinfo, userinfo.slice(userinfo.indexOf(':') + 1));
        const query = value.indexOf('?');
        if (path[0] === 'checks' && query >= 0 && query < value.length - 1)
          found.push(value.slice(query + 1));
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: [...path, i] }));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) stack.push({ value: item, path: [...path, key] });
    }
  }
  return found;
}

/** A field or record name as a person writes one; anything else may be a value typed in the wrong place. */
const PLAIN_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
export const UNUSUAL_NAME = '<a name that is not shown>';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const name = PLAIN_NAME.test(String(part)) ? String(part) : UNUSUAL_NAME;
      out += out === '' ? name : `.${name}`;
    }
  }
  return out === '' ? '(top level)' : out;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  // Edit distance is quadratic: a key longer than any field name is no typo of one.
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function describeInput(input: unknown, secret: boolean, topLevel: boolean): string {
  if (input === undefined) return 'nothing';
  if (secret) return 'a value (hidden)';
  // A whole file that is one scalar is likely not a spec at all (a credentials file, an env file).
  if (topLevel && typeof input === 'string') return 'a string (not shown)';
  if (typeof input === 'string') return shown(input);
  if (Array.isArray(input)) return 'a list';
  if (input === null) return 'null';
  if (typeof input === 'object') return 'a mapping';
  return String(input);
}

function describeIssue(issue: z.core.$ZodIssue, secret: boolean): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return `is required (expected ${issue.expected})`;
      return `expected ${issue.expected}, got ${describeInput(input, secret, issue.path.length === 0)}`;
    case 'invalid_value':
      return `${describeInput(input, secret, false)} is not allowed; use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union': {
      const discriminator = (issue as { note?: string }).note;
      if (discriminator === 'No matching discriminator') {
        return `has an unknown or missing kind/type; see \`hactl schema\` for the allowed values`;
      }
      return issue.message;
    }
    case 'invalid_key': {
      const rules = issue.issues.map((inner) => inner.message).join('; ');
      const key = typeof input === 'string' ? shown(input) : 'this key';
      return `${key} is not allowed as a name here: ${rules}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${String(issue.minimum)} entries`;
      return issue.message;
    default:
      return issue.message;
  }
}

/** One problem: where (a spec path; `key` when it is about a field name) and what. */
export interface IssueProblem {
  path: (string | number)[];
  /** Set when the problem is a field name (an unknown field): locate the key, not the value. */
  key?: string;
  message: string;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let current = data;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/**
 * One problem per issue, and per unknown field. `data` is the parsed document the issues are
 * about: the value at an issue's path is what gets scrubbed from its message.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  knownKeys: (path: readonly PropertyKey[]) => string[] = () => [],
): IssueProblem[] {
  return issues.flatMap((issue): IssueProblem[] => {
    const path = issue.path.filter((part): part is string | number => typeof part !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(issue.path);
      // Beside a password, a stray name is likely the password with its key missing.
      const besideSecret = known.some((name) => SECRET_KEY.test(name) && !name.endsWith('_file'));
      return issue.keys.map((key) => {
        const suggestion = closest(key, known);
        const name =
          besideSecret || !PLAIN_NAME.test(key)
            ? `(${besideSecret ? 'its name is not shown: it sits beside a secret' : 'its name is not shown: it is not a plain name; is a ":" missing?'})`
            : shown(key);
        return {
          path,
          key,
          message: `unknown field ${name}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`,
        };
      });
    }
    const secret = isSecretPath(path);
    let message = describeIssue(issue, secret);
    if (secret) {
      const generic = `is not valid here (${HIDDEN}; see \`hactl schema\` for the rule)`;
      for (const value of [valueAt(data, path), (issue as { input?: unknown }).input]) {
        if (typeof value === 'string') message = scrubSecret(message, value, generic);
      }
    }
    return [{ path, message }];
  });
}

/** `path: message` lines, for callers that do not locate problems in a file. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  knownKeys: (path: readonly PropertyKey[]) => string[] = () => [],
  data?: unknown,
): string[] {
  return describeIssues(issues, data, knownKeys).map(
    (problem) => `${formatPath(problem.path)}: ${problem.message}`,
  );
}
