/** POST/GET /v1/switchover on the agent API: only with the token, the body size-capped and parsed. */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentApi, type AgentApi } from '../../src/agent/api/server.js';
import { node, primaryDb } from '../status/support.js';

const TOKEN = 'tok-' + 'f0e1d2c3b4a5968778695a4b'.repeat(2);

describe('the agent API: /v1/switchover', () => {
  let api: AgentApi;
  let url: string;
  const bodies: unknown[] = [];

  beforeAll(async () => {
    api = await startAgentApi({
      api: [{ host: '127.0.0.1', port: 0 }],
      metrics: undefined,
      token: TOKEN,
      node: async () => node('ha1', primaryDb()),
      metricsText: async () => '',
      log: { info: () => undefined, warn: () => undefined },
      switchover: {
        status: () => ({ status: 200, body: { switchover: null } }),
        request: async (body) => {
          bodies.push(body);
          return { status: 202, body: { switchover: 'accepted' } };
        },
      },
    });
    url = `http://${api.addresses().api[0]!}/v1/switchover`;
  });
  afterAll(async () => {
    await api.stop();
  });

  const call = async (method: string, body?: string, token = TOKEN) => {
    const response = await request(url, {
      method: method as 'GET',
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(5_000),
    });
    return { status: response.statusCode, text: await response.body.text(), allow: response.headers.allow };
  };

  it('without the token: a bare 401, and the intent never reaches the agent', async () => {
    const answer = await call('POST', JSON.stringify({ id: 'x' }), '');
    expect(answer).toMatchObject({ status: 401, text: '' });
    expect(bodies).toEqual([]);
  });

  it('with the token: the JSON body goes to the driver and its answer comes back; GET reads the record', async () => {
    const answer = await call('POST', JSON.stringify({ id: 'so-1', from: 'ha1', to: 'ha2' }));
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.text)).toEqual({ switchover: 'accepted' });
    expect(bodies.at(-1)).toEqual({ id: 'so-1', from: 'ha1', to: 'ha2' });
    expect(JSON.parse((await call('GET')).text)).toEqual({ switchover: null });
  });

  it('a body over 4 KiB or not JSON reaches the driver as nothing (it answers 400 for that)', async () => {
    await call('POST', 'not json');
    expect(bodies.at(-1)).toBeUndefined();
    await call('POST', JSON.stringify({ id: 'x'.repeat(5000) })).catch(() => undefined);
    expect(bodies.at(-1)).toBeUndefined();
  });

  it('other methods: 405 naming GET and POST', async () => {
    const answer = await call('PUT', '{}');
    expect(answer.status).toBe(405);
    expect(answer.allow).toBe('GET, POST');
  });
});
