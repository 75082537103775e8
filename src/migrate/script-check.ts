/**
 * Can a vrrp_script's command ever report KO? keepalived counts exit 0 as OK and anything else as KO
 * (and a command it cannot execute as OK), so a script that always ends with status 0 never moves
 * anything, whatever its weight. Seed 001's check restarts nginx and ends in `fi`: it never exits
 * non-zero on purpose.
 */

const ALWAYS_OK_COMMANDS = new Set(['true', '/bin/true', '/usr/bin/true', ':']);

/** Why the inline command (the `script` value itself) cannot fail, or undefined. */
export function inlineCannotFail(command: string): string | undefined {
  const words = command.trim().split(/\s+/);
  const [program, ...rest] = words;
  if (program === undefined) return 'the script is empty';
  if (ALWAYS_OK_COMMANDS.has(program)) return `\`${command}\` always exits 0`;
  if (program === 'exit' && (rest[0] ?? '0') === '0') {
    return `\`${command}\` is a shell built-in, not a program: keepalived cannot execute it, and a script it cannot execute counts as OK`;
  }
  if (/^(\/usr)?\/bin\/(ba|da)?sh$/.test(program) && rest[0] === '-c') {
    const body = rest
      .slice(1)
      .join(' ')
      .replace(/^['"]|['"]$/g, '');
    const verdict = shellTextCannotFail(body);
    if (verdict) return `its shell command ${verdict}`;
  }
  return undefined;
}

function statements(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .flatMap((line) => line.split(/;(?!;)/))
    .map((part) => part.trim())
    .filter((part) => part !== '' && !part.startsWith('#!'));
}

/**
 * Why a shell text always ends with status 0, or undefined when it can fail (or we cannot tell).
 * Conservative: any `exit` with a status other than a literal 0, `set -e`, or a last command that
 * is a plain program call means "can fail".
 */
export function shellTextCannotFail(text: string): string | undefined {
  const parts = statements(text);
  if (parts.length === 0) return 'is empty, so it exits 0';
  if (parts.some((p) => /\bset\s+-[a-z]*e/.test(p))) return undefined;
  const failingExit = parts.some(
    (p) => /(^|[\s;&|({])exit(\s+(?!0\b)\S+)/.test(p) || /(^|[\s;&|({])return\s+(?!0\b)\S+/.test(p),
  );
  if (failingExit) return undefined;
  const lastPart = parts.at(-1)!;
  if (/^exit(\s+0)?$/.test(lastPart)) return 'ends in `exit 0` and has no exit with another status';
  if (/^(true|:)$/.test(lastPart)) return `ends in \`${lastPart}\` and has no exit with another status`;
  if (/^(fi|done|esac)$/.test(lastPart)) {
    return `never exits with a failing status: it has no \`exit 1\`, and its status is that of its last \`${lastPart === 'fi' ? 'if … fi' : lastPart === 'done' ? 'loop' : 'case'}\`, which is 0 whenever that block's test is false (and usually when it ran its repair)`;
  }
  return undefined;
}
