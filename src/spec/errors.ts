/** Turns zod issues into one line per problem: `path: what is wrong and how to fix it`. */
import type { z } from 'zod';

const SECRET_KEY = /pass(word)?|secret|token/i;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
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

function describeInput(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (input === undefined) return 'nothing';
  if (issue.path.some((part) => typeof part === 'string' && SECRET_KEY.test(part))) return 'a value (hidden)';
  if (typeof input === 'string')
    return input.length > 40 ? `${JSON.stringify(input.slice(0, 40))}…` : JSON.stringify(input);
  if (Array.isArray(input)) return 'a list';
  if (input === null) return 'null';
  if (typeof input === 'object') return 'a mapping';
  return String(input);
}

function describeIssue(
  issue: z.core.$ZodIssue,
  knownKeys: (path: readonly PropertyKey[]) => string[],
): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      return issue.keys
        .map((key) => {
          const suggestion = closest(key, knownKeys(issue.path));
          return `unknown field "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
        })
        .join('; ');
    }
    case 'invalid_type':
      if ((issue as { input?: unknown }).input === undefined)
        return `is required (expected ${issue.expected})`;
      return `expected ${issue.expected}, got ${describeInput(issue)}`;
    case 'invalid_value':
      return `${describeInput(issue)} is not allowed; use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union': {
      const discriminator = (issue as { note?: string }).note;
      if (discriminator === 'No matching discriminator') {
        return `has an unknown or missing kind/type; see \`hactl schema\` for the allowed values`;
      }
      return issue.message;
    }
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${String(issue.minimum)} entries`;
      return issue.message;
    default:
      return issue.message;
  }
}

export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  knownKeys: (path: readonly PropertyKey[]) => string[] = () => [],
): string[] {
  return issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue, knownKeys)}`);
}
