/** webhook action against a node:http server on 127.0.0.1. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/actions/webhook.js';
import { makeContext, never, timeoutSignal, type TestContext } from './context.js';

let server: Server | undefined;
let ctx: TestContext | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  ctx?.cleanup();
});

interface Seen {
  /** When the request arrived (ms, performance.now()). */
  at: number;
  method: string;
  type: string | undefined;
  body: Record<string, unknown>;
}

async function serve(
  answer: (n: number, res: ServerResponse) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req: IncomingMessage, res) => {
    const at = performance.now();
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({
        at,
        method: req.method ?? '',
        type: req.headers['content-type'],
        body: JSON.parse(text) as Record<string, unknown>,
      });
      answer(seen.length, res);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=t0ken`, seen };
}

describe('webhook action', () => {
  it('POSTs {cluster,node,state,previous,timestamp} as JSON', async () => {
    const { url, seen } = await serve((_n, res) => res.writeHead(204).end());
    ctx = makeContext('MASTER', { previous: 'BACKUP' });
    const result = await run({ type: 'webhook', url }, ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.type).toBe('application/json');
    expect(seen[0]!.body).toMatchObject({ cluster: 't', node: 'ha1', state: 'MASTER', previous: 'BACKUP' });
    expect(Date.parse(String(seen[0]!.body.timestamp))).toBeGreaterThan(Date.now() - 60_000);
    expect(result.detail).not.toContain('t0ken');
  });

  it('retries 5xx with backoff, then succeeds', async () => {
    const { url, seen } = await serve((n, res) => res.writeHead(n < 3 ? 503 : 200).end());
    ctx = makeContext('BACKUP');
    const result = await run({ type: 'webhook', url, retries: 3 }, ctx.context, never);
    expect(result.ok, result.detail).toBe(true);
    expect(seen).toHaveLength(3);
    expect(result.fields?.attempts).toBe(3);
    // Exponential: at least 200 ms before the second attempt, 400 ms before the third (lower
    // bounds only, which a busy machine cannot break).
    const gaps = [seen[1]!.at - seen[0]!.at, seen[2]!.at - seen[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(190);
    expect(gaps[1]).toBeGreaterThanOrEqual(390);
  });

  it('gives up after the bounded retries', async () => {
    const { url, seen } = await serve((_n, res) => res.writeHead(500).end());
    ctx = makeContext('BACKUP');
    const result = await run({ type: 'webhook', url, retries: 1 }, ctx.context, never);
    expect(result.ok).toBe(false);
    expect(seen).toHaveLength(2);
    expect(result.detail).toMatch(/answered 500 \(after 2 attempts\)/);
  });

  it('does not retry a 4xx', async () => {
    const { url, seen } = await serve((_n, res) => res.writeHead(404).end());
    ctx = makeContext('BACKUP');
    const result = await run({ type: 'webhook', url, retries: 3 }, ctx.context, never);
    expect(result.ok).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('a server that never answers is cut off at the timeout', async () => {
    const { url } = await serve(() => undefined);
    ctx = makeContext('BACKUP');
    const t0 = Date.now();
    const result = await run({ type: 'webhook', url, retries: 5 }, ctx.context, timeoutSignal(400));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timeout/);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});
