/** TCP connect check: healthy when a connection to host:port is accepted; nothing is sent. */
import { connect } from 'node:net';
import {
  abortReason,
  COMMON_FLAGS_USAGE,
  elapsedSince,
  intFlag,
  requiredString,
  wireValue,
} from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';
import { EXAMPLE_CHECKS } from './examples.js';
import { exampleBlock } from './spec-args.js';

export interface TcpOptions {
  host: string;
  port: number;
}

const USAGE = `hactl check tcp --host HOST --port PORT [options]

Healthy when a TCP connection to HOST:PORT is accepted within the budget; the connection is
closed at once without sending anything.

Options:
  --host HOST            address or name to connect to (required)
  --port PORT            TCP port, 1..65535 (required)
  --timeout SECONDS      total budget, decimal (default 0.8); keep it below vrrp_script timeout
${COMMON_FLAGS_USAGE}

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage error.

Example keepalived.conf block, as render-config writes it:
${exampleBlock(EXAMPLE_CHECKS.tcp)}`;

function fromFlags(values: FlagValues): TcpOptions {
  const host = wireValue(requiredString(values, 'host', 'tcp'), 'host', 'tcp');
  requiredString(values, 'port', 'tcp');
  const port = intFlag(values, 'port', 'tcp', { min: 1, max: 65535 })!;
  return { host, port };
}

function run(options: TcpOptions, signal: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  const target = `${options.host}:${options.port}`;
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({ host: options.host, port: options.port });
    const settle = (healthy: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ healthy, detail });
    };
    const onAbort = () => settle(false, `no connection to ${target}: ${abortReason(signal)}`);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => settle(true, `connected to ${target} in ${elapsedSince(start)}`));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'ECONNREFUSED' ? 'connection refused' : `${error.code ?? ''} ${error.message}`.trim();
      settle(false, `cannot connect to ${target}: ${why}`);
    });
  });
}

export const tcpCheck: CheckKind<TcpOptions> = {
  kind: 'tcp',
  summary: 'TCP connect to host:port',
  usage: USAGE,
  flags: {
    host: { type: 'string' },
    port: { type: 'string' },
  },
  fromFlags,
  run,
};
