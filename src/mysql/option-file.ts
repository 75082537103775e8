/**
 * MySQL option files ("defaults files"): the only place hactl reads database credentials from.
 * We parse the subset the client programs honour for [client]: `key=value`, quotes, `#`/`;`
 * comments, `-`/`_` interchangeable in keys. The password never appears in an error message.
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

export interface ClientOptions {
  user?: string;
  password?: string;
  host?: string;
  port?: number;
  socket?: string;
}

const ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  r: '\r',
  s: ' ',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** Options the client programs take without a value (`--skip-ssl` as a line of its own). */
const BOOLEAN_OPTION =
  /^(loose[-_])?((skip|enable|disable)[-_][a-z0-9_-]+|ssl|compress|no[-_]beep|auto[-_]rehash|secure[-_]auth|enable[-_]cleartext[-_]plugin)$/i;

/** A value after `=`: quoted (with backslash escapes in double quotes) or bare up to an inline comment. */
function parseValue(raw: string): string {
  const text = raw.trim();
  const quote = text[0];
  if (quote === '"' || quote === "'") {
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === quote) return out;
      if (ch === '\\' && i + 1 < text.length) {
        const next = text[i + 1]!;
        out += ESCAPES[next] ?? `\\${next}`;
        i++;
        continue;
      }
      out += ch;
    }
    throw new Error('unterminated quote');
  }
  // An inline comment needs whitespace before the `#`, as in the MySQL client library.
  const comment = text.search(/\s[#;]/);
  const bare = comment === -1 ? text : text.slice(0, comment);
  return bare.trim().replace(/\\(.)/g, (_m, c: string) => ESCAPES[c] ?? `\\${c}`);
}

/** Parses `text` (the content of `file`, used only in messages) and merges the given groups in order. */
export function parseOptionFile(text: string, file: string, groups: string[] = ['client']): ClientOptions {
  const wanted = new Set(groups.map((g) => g.toLowerCase()));
  const values = new Map<string, string>();
  let current: string | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const where = `${file} line ${index + 1}`;
    if (line.startsWith('!')) {
      const directive = /^!include(dir)?(\s|$)/i.test(line) ? line.split(/\s/)[0] : 'a "!" directive';
      throw new ConfigError(
        `${where}: ${directive} is not supported in a credentials file; put the [client] options in this file itself`,
      );
    }
    const section = /^\[([^\]]+)\]\s*(?:[#;].*)?$/.exec(line);
    if (section) {
      current = section[1]!.trim().toLowerCase();
      return;
    }
    if (current === undefined || !wanted.has(current)) return;
    const eq = line.indexOf('=');
    if (eq === -1) {
      // A boolean option (skip-ssl) is a line of its own; any other line without "=" is a mistake
      // that would otherwise be dropped: often a password whose "password=" went missing.
      if (BOOLEAN_OPTION.test(line)) return;
      throw new ConfigError(
        `${where} has no "=": in [${current}] every line is key=value (e.g. password=...) or a boolean option such as skip-ssl; the line is not shown, it may hold a password`,
      );
    }
    const key = line.slice(0, eq).trim().toLowerCase().replace(/-/g, '_');
    try {
      values.set(key, parseValue(line.slice(eq + 1)));
    } catch (error) {
      // Never echo the line: it may be the password.
      throw new ConfigError(`${where}: ${(error as Error).message} in the value`);
    }
  });

  const result: ClientOptions = {};
  const user = values.get('user');
  const password = values.get('password');
  const host = values.get('host');
  const port = values.get('port');
  const socket = values.get('socket');
  if (user !== undefined) result.user = user;
  if (password !== undefined) result.password = password;
  if (host !== undefined && host !== '') result.host = host;
  if (socket !== undefined && socket !== '') result.socket = socket;
  if (port !== undefined && port !== '') {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      // Not echoed: a password pasted one line too low lands here.
      throw new ConfigError(`${file}: port is not a TCP port number (1..65535)`);
    }
    result.port = n;
  }
  return result;
}

/** Credentials files are a few lines; a read that takes longer is stuck (e.g. a hung NFS mount). */
const READ_BUDGET_MS = 2_000;
/** More than any option file needs; a device or a runaway file is refused before it fills memory. */
const MAX_BYTES = 64 * 1024;

function unreadable(file: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ABORT_ERR' ? `no answer within ${READ_BUDGET_MS / 1000} s` : (code ?? (error as Error).message);
  return new ConfigError(`cannot read credentials file ${file}: ${why}`);
}

/** stat has no signal: the race bounds it, the late answer is dropped. */
async function statWithin(file: string): Promise<Stats> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error('timeout'), { code: 'ABORT_ERR' })),
      READ_BUDGET_MS,
    );
  });
  try {
    return await Promise.race([stat(file), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Refuses a credentials file that group or others can read or write: the same rule ssh applies to
 * private keys. Callers that only need host/port (no secret) may skip the mode rule; every caller
 * gets the regular-file rule (a device such as /dev/zero would never end).
 */
export async function assertPrivateFile(file: string, requirePrivate = true): Promise<void> {
  let info;
  try {
    info = await statWithin(file);
  } catch (error) {
    throw unreadable(file, error);
  }
  if (!info.isFile()) {
    throw new ConfigError(
      `credentials file ${file} is not a regular file; point it at a [client] option file`,
    );
  }
  if (info.size > MAX_BYTES) {
    throw new ConfigError(
      `credentials file ${file} is ${info.size} bytes, more than an option file needs (64 KiB)`,
    );
  }
  if (requirePrivate && (info.mode & 0o077) !== 0) {
    const octal = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(
      `credentials file ${file} has mode ${octal}, readable by others; run \`chmod 600 ${file}\` (0600 or 0400 required)`,
    );
  }
}

/** Asynchronous and bounded: the agent's loop and every time-budgeted check read credentials. */
export async function readOptionFile(
  file: string,
  options: { requirePrivate?: boolean; groups?: string[] } = {},
): Promise<ClientOptions> {
  await assertPrivateFile(file, options.requirePrivate ?? true);
  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', signal: AbortSignal.timeout(READ_BUDGET_MS) });
  } catch (error) {
    throw unreadable(file, error);
  }
  return parseOptionFile(text, file, options.groups);
}

/** Writes nothing itself; renders a [client] section whose values survive parseOptionFile. */
export function renderClientSection(options: ClientOptions): string {
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['[client]'];
  if (options.user !== undefined) lines.push(`user=${quote(options.user)}`);
  if (options.password !== undefined) lines.push(`password=${quote(options.password)}`);
  if (options.host !== undefined) lines.push(`host=${options.host}`);
  if (options.port !== undefined) lines.push(`port=${options.port}`);
  if (options.socket !== undefined) lines.push(`socket=${options.socket}`);
  return lines.join('\n') + '\n';
}
