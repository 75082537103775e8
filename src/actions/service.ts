/**
 * `service`: start/stop/reload/restart through the spec's argv for that operation, or systemctl
 * when the spec gives none and systemd runs this machine.
 */
import { existsSync } from 'node:fs';
import { transitionEnv } from './env.js';
import { baseEnv, describeExit, runArgv } from './spawn.js';
import { failed, ok, type ActionOf, type ActionRun } from './types.js';

/** sd_booted(3): systemd is PID 1 exactly when this directory exists. */
function systemdRuns(): boolean {
  return existsSync('/run/systemd/system');
}

export const run: ActionRun<ActionOf<'service'>> = async (action, context, signal) => {
  const custom = action.commands?.[action.op];
  let argv: string[];
  if (custom) argv = custom;
  else if (systemdRuns()) argv = ['systemctl', action.op, action.name];
  else {
    return failed(
      `no commands.${action.op} for service ${action.name} and systemd is not running here; add commands.${action.op} (an argv) to the action`,
    );
  }
  const env = baseEnv({ ...transitionEnv(context), HACTL_SERVICE: action.name });
  const result = await runArgv(argv, { env, runtimeDir: context.runtimeDir, signal });
  const detail = `${action.op} ${action.name}: ${describeExit(argv[0]!, result)}`;
  return result.exitCode === 0 && !result.timedOut
    ? ok(detail, { argv0: argv[0] })
    : failed(detail, { argv0: argv[0] });
};
