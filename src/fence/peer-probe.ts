/**
 * The witness monitor's probe of the peer's MySQL port, which leaves no trace in the peer's error
 * log. A bare TCP connect that is closed before logging in costs the peer one "Aborted connection
 * … unauthenticated" warning (MariaDB's default log_warnings=2) and one Aborted_connects, which
 * monitoring alarms on; at the default probe_interval that is 172,800 lines a day per path.
 *
 * What a round learns is still the TCP connect's answer (src/fence/probe.ts). Only afterwards is
 * the connected socket used to log in with the admin account and leave with COM_QUIT, which the
 * server does not log. That is the account the fence logs in with over the same path. When the
 * server refuses it, the fence would be refused too: that is logged once, and the path goes back
 * to bare closes.
 */
import type { Socket } from 'node:net';
import { messageOf } from '../actions/types.js';
import type { AgentLog } from '../agent/checks/index.js';
import { connectWith, credentialsFor, MysqlError, type Credentials } from '../mysql/connection.js';
import { probeTcp, type ProbeResult } from './probe.js';

/** A greeting, an auth exchange and an OK: a peer that sends more is not a MySQL server. */
const LOGIN_MAX_READ_BYTES = 64 * 1024;

export interface PeerProber {
  probe(
    targets: readonly { host: string; port: number }[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ProbeResult[]>;
  /** Waits for the logins still closing; each ends within its own bound. */
  settle(): Promise<void>;
}

export async function peerProber(options: {
  /** The admin account's option file (mysql.credentials_file); undefined: bare closes only. */
  credentialsFile: string | undefined;
  log: AgentLog;
  /** Bound for one login and its COM_QUIT. */
  loginBudgetMs: number;
  /** Cuts short the logins in flight (the monitor's stop). */
  signal: AbortSignal;
}): Promise<PeerProber> {
  const { log, signal } = options;
  let credentials: Credentials | undefined;
  if (options.credentialsFile) {
    try {
      const { user, password } = await credentialsFor({ defaultsFile: options.credentialsFile });
      credentials = password === undefined ? { user } : { user, password };
    } catch (error) {
      log.warn({
        event: 'fence.peer_probe',
        reason: `cannot read mysql.credentials_file (${messageOf(error)}): each probe of the peer closes without logging in, one "Aborted connection" line in the peer's error log per probe`,
      });
    }
  }
  /** Paths whose server refused the login: probed with bare closes from then on. */
  const refused = new Set<string>();
  const closing = new Set<Promise<void>>();

  const logInAndQuit = async (socket: Socket, host: string, port: number): Promise<void> => {
    const key = pathKey(host, port);
    try {
      const session = await connectWith(
        { ...credentials!, host, port },
        {
          timeoutMs: options.loginBudgetMs,
          connectedSocket: socket,
          maxReadBytes: LOGIN_MAX_READ_BYTES,
          signal,
        },
      );
      await session.close();
    } catch (error) {
      socket.destroy();
      // A server's refusal (it carries an errno) would refuse the fence too; the network's
      // failures are the rounds' business, not this close's.
      if (error instanceof MysqlError && error.errno !== undefined && !refused.has(key)) {
        refused.add(key);
        log.error({
          event: 'fence.peer_probe',
          peer: key,
          reason: `the peer refused the admin account of mysql.credentials_file: ${messageOf(error)}. A fence over this path would be refused the same way: let that account log in from this node. Until then each probe of ${key} closes without logging in (one "Aborted connection" line in the peer's error log per probe)`,
        });
      }
    }
  };

  const handOver = (host: string, port: number) => (socket: Socket) => {
    const done = logInAndQuit(socket, host, port).finally(() => closing.delete(done));
    closing.add(done);
  };

  return {
    probe(targets, timeoutMs, probeSignal) {
      return Promise.all(
        targets.map((t) =>
          probeTcp(
            t.host,
            t.port,
            timeoutMs,
            probeSignal,
            credentials && !refused.has(pathKey(t.host, t.port)) && !signal.aborted
              ? handOver(t.host, t.port)
              : undefined,
          ),
        ),
      );
    },
    async settle() {
      await Promise.allSettled([...closing]);
    },
  };
}

/** One spelling of a path, so the refused set is read with the key it was written with. */
function pathKey(host: string, port: number): string {
  return `${host}:${port}`;
}
