// The man page and the bash completion of the package, both generated from the `--help` texts of
// the built CLI, so they can never list a command or an option the CLI does not have.

/** `hactl --help`'s command list: [name, summary] in its order. */
export function commandsOf(topHelp) {
  return topHelp
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*) {2,}(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1], match[2]]);
}

/** The --flags of `name`: lines that start (indented) with one, and its usage/example lines. */
export function flagsOf(help, name) {
  const listed = [...help.matchAll(/^ +(?:-[a-zA-Z], +)?(--[a-z][a-z0-9-]*)/gm)].map((match) => match[1]);
  const usage = help
    .split('\n')
    .filter((line) => new RegExp(`^\\s*(Usage:\\s*)?hactl ${name}\\b`).test(line))
    .flatMap((line) =>
      [...line.split(/&&|#| {2}or {2}/)[0].matchAll(/(--[a-z][a-z0-9-]*)/g)].map((match) => match[1]),
    );
  return [...new Set([...listed, ...usage])].sort();
}

/** Flags of `name` whose value is a file or directory: `--spec FILE`, `--out-dir DIR`. */
export function pathFlagsOf(help, name) {
  const flags = new Set(flagsOf(help, name));
  const typed = [...help.matchAll(/(--[a-z][a-z0-9-]*)[ =](FILE|DIR|PATH)\b/g)].map((match) => match[1]);
  return [...new Set(typed)].filter((flag) => flags.has(flag)).sort();
}

/** The words a command takes first: `<up|down|status>` of its usage line, or check's "Kinds:". */
export function wordsOf(help) {
  const usage = /<([a-z]+(?:\s[A-Z]+)?(?:\|[a-z]+(?:\s[A-Z]+)?)+)>/.exec(
    help.split('\n').slice(0, 3).join(' '),
  );
  if (usage) return usage[1].split('|').map((alternative) => alternative.split(' ')[0]);
  const kinds = /^Kinds:\n((?: {2}[a-z]+ .*\n)+)/m.exec(help);
  if (kinds)
    return kinds[1]
      .trim()
      .split('\n')
      .map((line) => line.trim().split(' ')[0]);
  return [];
}

/** Text for roff: escapes, and no line that roff would read as a request. */
function roffText(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/**
 * hactl(1): the description, then each command's own --help verbatim (preformatted), exit status,
 * files. `helps` maps a command name to its --help text.
 */
export function manPage({ version, description, topHelp, helps, files }) {
  const commands = commandsOf(topHelp);
  const lines = [
    `.TH HACTL 1 "" "hactl ${version}" "User Commands"`,
    '.SH NAME',
    `hactl \\- ${roffText(description.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    '.B hactl',
    '.I command',
    '[\\fIoptions\\fR]',
    '.SH DESCRIPTION',
    roffText(
      'hactl renders keepalived.conf for both nodes of a pair from one YAML spec, lints it, runs the ' +
        'health checks keepalived calls, promotes and demotes MariaDB/MySQL on transitions, and runs a per-node ' +
        'agent. Every command is described below by its own --help.',
    ),
    '.SH COMMANDS',
  ];
  for (const [name, summary] of commands) {
    lines.push(`.SS ${name}`, roffText(summary), '.PP', '.nf', roffText(helps[name].trimEnd()), '.fi');
  }
  lines.push(
    '.SH OPTIONS',
    '.TP',
    '.B \\-\\-help',
    'Show the command list, or with a command its options.',
    '.TP',
    '.B \\-\\-version',
    'Print the version.',
    '.TP',
    '.B \\-\\-debug',
    'Show stack traces of unexpected errors.',
    '.SH EXIT STATUS',
    roffText(
      '0 ok, 1 problems found (lint errors, unhealthy, a failed action), 2 usage or configuration error, ' +
        '3 unexpected error (a bug).',
    ),
    '.SH FILES',
  );
  for (const [path, what] of files) lines.push('.TP', `.I ${roffText(path)}`, roffText(what));
  lines.push('.SH SEE ALSO', '.BR keepalived (8),', '.BR keepalived.conf (5),', '.BR systemctl (1)', '');
  return lines.join('\n');
}

/** /usr/share/bash-completion/completions/hactl: commands, their first words, flags, and paths. */
export function bashCompletion({ topHelp, helps }) {
  const commands = commandsOf(topHelp).map(([name]) => name);
  const cases = commands.map((name) => {
    const help = helps[name];
    const words = wordsOf(help);
    const pathFlags = pathFlagsOf(help, name);
    return [
      `    ${name})`,
      `      flags='${flagsOf(help, name).join(' ')}'`,
      `      words='${words.join(' ')}'`,
      `      pathflags='${pathFlags.join(' ')}'`,
      '      ;;',
    ].join('\n');
  });
  return `# bash completion for hactl (generated from its --help texts)
_hactl() {
  local cur prev flags words pathflags
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W '${commands.join(' ')} --help --version' -- "$cur"))
    return
  fi
  case \${COMP_WORDS[1]} in
${cases.join('\n')}
    *) return ;;
  esac
  case " $pathflags " in
    *" $prev "*)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
  esac
  if [ "$COMP_CWORD" -eq 2 ] && [ -n "$words" ] && [[ $cur != -* ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  fi
}
complete -F _hactl hactl
`;
}
