/**
 * First contact (issue 13 item 4): every command's --help exits 0 and shows at least one example,
 * a line that runs the command with arguments, not just its usage line.
 */
import { describe, expect, it } from 'vitest';
import { runHactl } from '../support/cli.js';

const COMMANDS = [
  'render-config',
  'lint',
  'init',
  'schema',
  'check',
  'notify',
  'status',
  'switchover',
  'rebuild',
  'agent',
  'import',
  'sync',
  'lab',
];

describe('--help of every command', () => {
  it('lists exactly these commands at the top level', async () => {
    const top = await runHactl(['--help']);
    expect(top.exitCode).toBe(0);
    const listed = top.stdout
      .split('\n')
      .map((line) => /^ {2}([a-z-]+) {2,}/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    expect(listed.sort()).toEqual([...COMMANDS].sort());
  });

  it.each(COMMANDS)('hactl %s --help exits 0 with an example', async (command) => {
    const help = await runHactl([command, '--help']);
    expect(help.exitCode, help.stderr).toBe(0);
    const lines = help.stdout.split('\n');
    // The usage line names the command with placeholders; an example gives real arguments.
    const examples = lines
      .slice(1)
      .map((line) => line.trim())
      .filter((line) => line.startsWith(`hactl ${command} `));
    const withArguments = examples.filter((line) => !/[[<]/.test(line.split(/\s{2,}/)[0]!));
    expect(withArguments.length, `no example in:\n${help.stdout}`).toBeGreaterThan(0);
  });
});
