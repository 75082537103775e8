/** `signal`: send a signal to the process named by a pid file (e.g. nginx USR1 to reopen its logs). */
import { readFileSync } from 'node:fs';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

export const run: ActionRun<ActionOf<'signal'>> = async (action) => {
  let text: string;
  try {
    text = readFileSync(action.pidfile, 'utf8').trim();
  } catch (error) {
    return failed(
      `cannot read pid file ${action.pidfile}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`,
    );
  }
  const pid = Number(text.split(/\s/)[0]);
  if (!Number.isInteger(pid) || pid <= 1)
    return failed(`pid file ${action.pidfile} holds no usable PID ("${text.slice(0, 20)}")`);
  try {
    process.kill(pid, `SIG${action.signal}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return failed(
      code === 'ESRCH'
        ? `PID ${pid} from ${action.pidfile} is not running (stale pid file)`
        : `kill ${pid}: ${code ?? messageOf(error)}`,
    );
  }
  return ok(`sent SIG${action.signal} to PID ${pid}`, { pid });
};
