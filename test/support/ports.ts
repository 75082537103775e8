/**
 * Free loopback TCP ports from the range tests may use (18080..18199 unless given). A port is
 * "free" when we can bind it on 127.0.0.1 right now; ports handed out in this process are not
 * handed out again.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function freePort(
  range: { from: number; to: number } = { from: 18080, to: 18199 },
): Promise<number> {
  // Start at a per-process offset so parallel runs rarely race for the same port.
  const size = range.to - range.from + 1;
  const offset = process.pid % size;
  for (let i = 0; i < size; i++) {
    const port = range.from + ((offset + i) % size);
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${range.from}..${range.to}`);
}
