/**
 * `haproxy`: one command on HAProxy's runtime API (the stats socket, `level admin`). HAProxy answers
 * an empty line on success and a message otherwise ("No such server.", "Permission denied" …).
 */
import { connect } from 'node:net';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

export function haproxyCommand(action: ActionOf<'haproxy'>): string {
  const target = `${action.backend}/${action.server}`;
  switch (action.op) {
    case 'enable':
      // state ready leaves both maintenance and drain, whichever an earlier transition set.
      return `set server ${target} state ready`;
    case 'disable':
      return `set server ${target} state maint`;
    case 'drain':
      return `set server ${target} state drain`;
  }
}

/** Sends one command, returns HAProxy's whole answer (it closes the connection after it). */
export function runtimeApi(socket: string, command: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect({ path: socket });
    let answer = '';
    const onAbort = () => conn.destroy(new Error('stopped at the action timeout'));
    signal.addEventListener('abort', onAbort, { once: true });
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(command + '\n'));
    conn.on('data', (chunk: string) => (answer += chunk));
    conn.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
    conn.on('close', (hadError) => {
      signal.removeEventListener('abort', onAbort);
      if (!hadError) resolve(answer);
    });
  });
}

export const run: ActionRun<ActionOf<'haproxy'>> = async (action, _context, signal) => {
  const command = haproxyCommand(action);
  let answer: string;
  try {
    answer = (await runtimeApi(action.socket, command, signal)).trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return failed(`cannot reach HAProxy's runtime API at ${action.socket}: ${code ?? messageOf(error)}`);
  }
  if (answer !== '') return failed(`HAProxy refused "${command}": ${answer.replace(/\s+/g, ' ')}`);
  return ok(`HAProxy accepted "${command}"`);
};
