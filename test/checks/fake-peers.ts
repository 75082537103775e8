/**
 * Hostile peers on 127.0.0.1 for the bounded-check tests (node:net only): each accepts and then
 * misbehaves — never answers, greets and stalls, trickles bytes, or floods. Every loop is bounded
 * in count and stops when the client goes away; close() ends every connection.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.js';

export type Misbehaviour = 'stall' | 'greet' | 'trickle' | 'flood';

export interface FakePeer {
  port: number;
  /** Bytes written to all clients so far. */
  sent(): number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** A MySQL protocol v10 greeting (mysql_native_password), enough for mysql2 to answer with its login. */
export function mysqlGreeting(): Buffer {
  const payload = Buffer.concat([
    Buffer.from([10]),
    Buffer.from('5.7.99-fake\0'),
    Buffer.from([1, 0, 0, 0]), // connection id
    Buffer.from('abcdefgh'), // auth data, part 1
    Buffer.from([0]),
    Buffer.from([0xff, 0xf7]), // capabilities, low
    Buffer.from([33]), // utf8_general_ci
    Buffer.from([2, 0]), // status
    Buffer.from([0xff, 0x81]), // capabilities, high (plugin auth, …)
    Buffer.from([21]),
    Buffer.alloc(10),
    Buffer.from('ijklmnopqrst\0'), // auth data, part 2
    Buffer.from('mysql_native_password\0'),
  ]);
  return Buffer.concat([Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, 0, 0]), payload]);
}

const HTTP_HEAD = 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n';
const FLOOD_BYTES = 1024 * 1024 * 1024;
const TRICKLE_STEPS = 5_000;

/**
 * protocol 'mysql': greet = greeting then silence; trickle = the greeting one byte every 20 ms;
 * flood = greeting then up to 1 GiB of 'x'.
 * protocol 'http': greet = a status line and one header, then silence; trickle = headers one byte
 * every 20 ms; flood = complete headers and then up to 1 GiB of body ('x'), or of header bytes
 * with `floodHeaders`.
 */
export async function startFakePeer(
  protocol: 'mysql' | 'http',
  mode: Misbehaviour,
  options: { floodHeaders?: boolean } = {},
): Promise<FakePeer> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let sent = 0;
  let accepted = 0;
  const write = (socket: Socket, data: Buffer | string) => {
    sent += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    return socket.write(data);
  };
  const behave = async (socket: Socket) => {
    let closed = false;
    socket.on('close', () => (closed = true));
    const greeting = protocol === 'mysql' ? mysqlGreeting() : Buffer.from(HTTP_HEAD);
    if (mode === 'stall') return;
    if (mode === 'greet') {
      write(socket, greeting);
      return;
    }
    if (mode === 'trickle') {
      const bytes = protocol === 'mysql' ? greeting : Buffer.from(HTTP_HEAD + 'X-Slow: ' + 'y'.repeat(8000));
      for (let i = 0; i < TRICKLE_STEPS && !closed; i++) {
        write(socket, bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
        await sleep(20);
      }
      return;
    }
    // flood
    if (protocol === 'mysql') write(socket, greeting);
    else write(socket, options.floodHeaders ? HTTP_HEAD + 'X-Flood: ' : HTTP_HEAD + '\r\n');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let total = 0; total < FLOOD_BYTES && !closed; total += chunk.length) {
      if (!write(socket, chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
    }
  };
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    void behave(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    sent: () => sent,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
