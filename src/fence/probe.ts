/**
 * Is a host there? One TCP connect, bounded in time. An answer of any kind — the connection
 * accepted, or refused (the host's kernel sent a reset) — proves the host is reachable from here;
 * only silence (timeout) or an ICMP error (unreachable) means it is not. Needs no privileges,
 * unlike ICMP ping.
 */
import { connect, type Socket } from 'node:net';

export type ProbeAnswer = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'aborted';

export interface ProbeResult {
  host: string;
  port: number;
  reachable: boolean;
  answer: ProbeAnswer;
  ms: number;
}

const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
  /** Takes over a connected socket (and must close it) instead of it being destroyed here. */
  onConnected?: (socket: Socket) => void,
): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({ host, port });
    const finish = (answer: ProbeAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (answer === 'connected' && onConnected) onConnected(socket);
      else socket.destroy();
      resolve({
        host,
        port,
        reachable: answer === 'connected' || answer === 'refused',
        answer,
        ms: Math.round(performance.now() - started),
      });
    };
    const onAbort = () => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) finish('aborted');
    socket.once('connect', () => finish('connected'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET') finish('refused');
      else if (error.code && UNREACHABLE.has(error.code)) finish('unreachable');
      else finish('unreachable');
    });
  });
}

/** Probes every target at once; resolves when all answered or timed out. */
export function probeAll(
  targets: readonly { host: string; port: number }[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult[]> {
  return Promise.all(targets.map((t) => probeTcp(t.host, t.port, timeoutMs, signal)));
}
