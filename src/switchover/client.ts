/**
 * `hactl switchover` talking to an agent's /v1/switchover with the shared token, bounded, the
 * answer size-capped and shape-checked; any failure is a sentence without the token.
 */
import { request } from 'undici';
import { readCappedBody } from '../bounded/capped-read.js';
import { isSwitchoverRecord, type SwitchoverRecord } from './record.js';

const MAX_BODY_BYTES = 256 * 1024;

export type SwitchoverAnswer =
  | { ok: true; status: number; record: SwitchoverRecord | null; problem: string | undefined }
  | { ok: false; problem: string };

export async function callSwitchover(
  host: string,
  port: number,
  token: string,
  timeoutMs: number,
  body?: Record<string, unknown>,
): Promise<SwitchoverAnswer> {
  try {
    const response = await request(`http://${host}:${port}/v1/switchover`, {
      method: body ? 'POST' : 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (response.statusCode === 401) {
      await response.body.dump().catch(() => undefined);
      return {
        ok: false,
        problem: 'it refused the token (401): agent.api.token_file must hold the same token on every node',
      };
    }
    if (response.statusCode === 404) {
      await response.body.dump().catch(() => undefined);
      return { ok: false, problem: 'it has no /v1/switchover (an older hactl agent?)' };
    }
    const answer = await readCappedBody(response.body, MAX_BODY_BYTES);
    if (answer === undefined)
      return { ok: false, problem: `its answer is larger than ${MAX_BODY_BYTES} bytes` };
    const parsed = JSON.parse(answer.toString('utf8')) as {
      switchover?: unknown;
      problem?: unknown;
    };
    const record = isSwitchoverRecord(parsed.switchover) ? parsed.switchover : null;
    return {
      ok: true,
      status: response.statusCode,
      record,
      problem: typeof parsed.problem === 'string' ? parsed.problem : undefined,
    };
  } catch (error) {
    const e = error as { name?: string; code?: string; message?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      return { ok: false, problem: `no answer within ${timeoutMs} ms` };
    if (e.code === 'ECONNREFUSED')
      return { ok: false, problem: 'connection refused (is hactl agent running there?)' };
    return { ok: false, problem: e.code ?? e.message ?? String(error) };
  }
}
