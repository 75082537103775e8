/** `signal`: send a signal to the process named by a pid file (e.g. nginx USR1 to reopen its logs). */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

export const run: ActionRun<ActionOf<'signal'>> = async (action) => {
  let text: string;
  try {
    text = await readHead(action.pidfile);
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

/**
 * A pid file is one short line: at most 64 bytes are read, so a device or a runaway file cannot
 * stall us, and O_NONBLOCK keeps a FIFO from blocking the open.
 */
async function readHead(path: string): Promise<string> {
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').trim();
  } finally {
    await file.close();
  }
}
