/**
 * `webhook`: POST {cluster, node, state, previous, timestamp, transition_id} as JSON. Network errors and 5xx are
 * retried with exponential backoff (bounded by `retries` and the action's timeout); 4xx is final.
 * The URL is never logged whole: it may carry a token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { failed, messageOf, ok, type ActionOf, type ActionRun } from './types.js';

const FIRST_BACKOFF_MS = 200;

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

export const run: ActionRun<ActionOf<'webhook'>> = async (action, context, signal) => {
  const body = JSON.stringify({
    cluster: context.spec.cluster,
    node: context.node.name,
    state: context.state,
    previous: context.previous ?? null,
    timestamp: new Date().toISOString(),
    transition_id: context.transitionId ?? null,
  });
  const attempts = (action.retries ?? 2) + 1;
  const target = origin(action.url);
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const response = await request(action.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'hactl' },
        body,
        signal,
      });
      await response.body.dump();
      if (response.statusCode < 300)
        return ok(`${target} answered ${response.statusCode}`, {
          attempts: attempt,
          status: response.statusCode,
        });
      last = `${target} answered ${response.statusCode}`;
      if (response.statusCode < 500) return failed(last, { attempts: attempt, status: response.statusCode });
    } catch (error) {
      if (signal.aborted)
        return failed(`${target}: ${last || messageOf(error)}; stopped at the action's timeout`, {
          attempts: attempt,
        });
      last = `${target}: ${messageOf(error)}`;
    }
    if (attempt < attempts) {
      try {
        await sleep(FIRST_BACKOFF_MS * 2 ** (attempt - 1), undefined, { signal });
      } catch {
        return failed(`${last}; stopped at the action's timeout`, { attempts: attempt });
      }
    }
  }
  return failed(`${last} (after ${attempts} attempts)`, { attempts });
};
