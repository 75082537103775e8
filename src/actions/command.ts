/** `command`: run an argv with a minimal environment, no shell, bounded by the action's timeout. */
import { transitionEnv } from './env.js';
import { baseEnv, describeExit, runArgv } from './spawn.js';
import { failed, ok, type ActionOf, type ActionRun } from './types.js';

export const run: ActionRun<ActionOf<'command'>> = async (action, context, signal) => {
  const env = baseEnv({ ...transitionEnv(context), ...action.env });
  const result = await runArgv(action.argv, { env, runtimeDir: context.runtimeDir, signal });
  const detail = describeExit(action.argv[0]!, result);
  return result.exitCode === 0 && !result.timedOut ? ok(detail) : failed(detail);
};
