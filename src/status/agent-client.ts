/**
 * Asking a node's agent (agent.api) for its facts: GET /v1/node with the shared token, bounded by
 * the caller's deadline, the answer size-capped and checked for shape before it is believed. Any
 * failure comes back as a sentence saying what went wrong, never containing the token.
 */
import { request } from 'undici';
import { readCappedBody } from '../bounded/capped-read.js';
import type { NodeStatus } from './types.js';

const MAX_BODY_BYTES = 1 << 20;

export type AgentAnswer = { ok: true; node: NodeStatus } | { ok: false; problem: string };

function looksLikeNode(value: unknown): value is NodeStatus {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    v.source === 'agent' &&
    (v.vips_held === null || Array.isArray(v.vips_held)) &&
    'database' in v &&
    'decision' in v &&
    'agent' in v &&
    Array.isArray(v.vrrp) &&
    Array.isArray(v.checks) &&
    Array.isArray(v.transitions)
  );
}

function reason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; code?: string; cause?: { code?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = e.code ?? e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (is hactl agent running there?)';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return `no answer within ${timeoutMs} ms`;
  return code ?? e.message ?? String(error);
}

/**
 * Asks the agent at host:port for node `expected`'s facts within `timeoutMs` (also aborted by
 * `signal`). The agent is asked to keep its own collection under most of that budget.
 */
export async function askAgent(
  host: string,
  port: number,
  token: string,
  expected: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AgentAnswer> {
  timeoutMs = Math.max(1, Math.round(timeoutMs));
  const bound = AbortSignal.timeout(timeoutMs);
  const both = signal ? AbortSignal.any([bound, signal]) : bound;
  const budget = Math.max(100, Math.floor(timeoutMs * 0.7));
  try {
    const response = await request(`http://${host}:${port}/v1/node?budget_ms=${budget}`, {
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
      signal: both,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      return {
        ok: false,
        problem:
          response.statusCode === 401
            ? 'it refused the token (401): agent.api.token_file must hold the same token on every node'
            : `it answered HTTP ${response.statusCode}`,
      };
    }
    const answer = await readCappedBody(response.body, MAX_BODY_BYTES);
    if (answer === undefined)
      return { ok: false, problem: `its answer is larger than ${MAX_BODY_BYTES} bytes` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.toString('utf8'));
    } catch {
      return { ok: false, problem: 'its answer is not JSON' };
    }
    if (!looksLikeNode(parsed)) return { ok: false, problem: "its answer is not a node's status" };
    if (parsed.name !== expected)
      return { ok: false, problem: `it answered for node ${JSON.stringify(parsed.name.slice(0, 40))}` };
    return { ok: true, node: parsed };
  } catch (error) {
    return { ok: false, problem: reason(error, timeoutMs) };
  }
}
