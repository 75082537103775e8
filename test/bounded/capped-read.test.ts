import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readCappedBody } from '../../src/bounded/capped-read.js';
import { askAgent } from '../../src/status/agent-client.js';

function body(chunks: Buffer[]) {
  let destroyed = false;
  let served = 0;
  const stream = {
    async *[Symbol.asyncIterator]() {
      for (const chunk of chunks) {
        served += 1;
        yield chunk;
      }
    },
    destroy: () => {
      destroyed = true;
    },
  };
  return { stream, destroyed: () => destroyed, served: () => served };
}

describe('readCappedBody', () => {
  it('returns the whole body when it stays within the cap', async () => {
    const b = body([Buffer.from('ab'), Buffer.from('cd')]);
    expect((await readCappedBody(b.stream, 4))?.toString()).toBe('abcd');
    expect(b.destroyed()).toBe(false);
  });

  it('stops at the chunk that passes the cap and destroys the body', async () => {
    const b = body([Buffer.alloc(3), Buffer.alloc(3), Buffer.alloc(3)]);
    expect(await readCappedBody(b.stream, 4)).toBeUndefined();
    expect(b.destroyed()).toBe(true);
    expect(b.served()).toBe(2);
  });
});

describe('askAgent against a flooding peer', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('reports an answer over 1 MiB instead of reading it', async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // 2 MiB of JSON-looking padding, in 64 KiB writes.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 32; i += 1) response.write(chunk);
      response.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const answer = await askAgent('127.0.0.1', port, 'secret-token', 'ha1', 10_000);
    expect(answer).toEqual({ ok: false, problem: 'its answer is larger than 1048576 bytes' });
  });
});
