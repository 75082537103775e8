/**
 * HTTP(S) check with node:http / node:https only: undici's first request costs 100–180 ms per
 * process (DESIGN.md), too much for a check keepalived spawns every second. node:https (and TLS)
 * is imported only for https URLs. Redirects are never followed; the body is read only when
 * --expect-body asks for it, and then at most MAX_BODY_BYTES.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import { UsageError } from '../errors.js';
import {
  abortReason,
  bodyMatches,
  booleanFlag,
  describePattern,
  describeStatuses,
  elapsedSince,
  parseBodyPattern,
  parseStatusList,
  requiredString,
  statusAccepted,
  stringFlag,
  type BodyPattern,
  type StatusSet,
} from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpOptions {
  url: URL;
  expectStatus: StatusSet;
  expectBody: BodyPattern | undefined;
  hostHeader: string | undefined;
  method: 'GET' | 'HEAD';
  insecure: boolean;
}

const USAGE = `hactl check http --url URL [options]

Sends one request and is healthy when the status is expected and (optionally) the body matches.
Redirects are not followed: a 3xx is unhealthy unless --expect-status lists it. Without
--expect-body the body is never read; with it, at most the first ${MAX_BODY_BYTES / 1024} KiB are searched.

Options:
  --url URL              http:// or https:// URL to request (required)
  --expect-status LIST   accepted statuses: codes and ranges, e.g. 200,204 or 200-299,301-302
                         (default 200)
  --expect-body TEXT     the body must contain TEXT; /regex/flags for a regular expression
  --host-header NAME     Host header (and TLS server name) to send, e.g. for a name-based vhost
  --method GET|HEAD      request method (default GET; HEAD cannot use --expect-body)
  --insecure             accept self-signed or otherwise unverifiable TLS certificates
  --timeout SECONDS      total budget, decimal (default 0.8); keep it below vrrp_script timeout
  --quiet                print nothing when healthy
  --log-file PATH        also append one JSON line per run to PATH

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage error.

Example keepalived.conf block:
  vrrp_script chk_nginx {
      script "/usr/local/bin/hactl check http --url http://127.0.0.1/health --expect-body ok --timeout 1.7 --quiet"
      interval 2
      timeout 2
      fall 2
      rise 2
      weight 0
  }`;

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(text)} is not a URL`, 'e.g. --url http://127.0.0.1/health');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url ${JSON.stringify(text)}: only http:// and https:// are supported`);
  }
  return url;
}

function fromFlags(values: FlagValues): HttpOptions {
  const method = (stringFlag(values, 'method', 'http') ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    throw new UsageError(`--method ${JSON.stringify(method)}: only GET and HEAD are supported`);
  }
  const expectBodyText = stringFlag(values, 'expect-body', 'http');
  if (expectBodyText !== undefined && method === 'HEAD') {
    throw new UsageError('--expect-body needs a body: use --method GET (the default)');
  }
  return {
    url: parseUrl(requiredString(values, 'url', 'http')),
    expectStatus: parseStatusList(stringFlag(values, 'expect-status', 'http') ?? '200'),
    expectBody: expectBodyText === undefined ? undefined : parseBodyPattern(expectBodyText),
    hostHeader: stringFlag(values, 'host-header', 'http'),
    method,
    insecure: booleanFlag(values, 'insecure'),
  };
}

const IP_LITERAL = /^(\d+\.){3}\d+$|:/;

async function requestOptions(options: HttpOptions): Promise<RequestOptions & { request: typeof import('node:http').request }> {
  const { url } = options;
  const base: RequestOptions = {
    method: options.method,
    // No keep-alive agent: one request, then the socket is closed and the process can exit.
    agent: false,
    headers: {
      'user-agent': 'hactl-check',
      connection: 'close',
      ...(options.hostHeader ? { host: options.hostHeader } : {}),
    },
  };
  if (url.protocol === 'https:') {
    const https = await import('node:https');
    const servername = options.hostHeader?.replace(/:\d+$/, '');
    return {
      ...base,
      request: https.request,
      rejectUnauthorized: !options.insecure,
      ...(servername && !IP_LITERAL.test(servername) ? { servername } : {}),
    } as RequestOptions & { request: typeof import('node:http').request };
  }
  const http = await import('node:http');
  return { ...base, request: http.request };
}

function describeError(error: NodeJS.ErrnoException, options: HttpOptions): string {
  const target = options.url.host;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${target}`;
    case 'ECONNRESET':
      return `connection reset by ${target}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${options.url.hostname}`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${target} is unreachable`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate of ${target} not accepted (${error.code}: ${error.message}); --insecure accepts it`;
    default:
      return `request to ${options.url.href} failed: ${error.code ?? ''} ${error.message}`.replace(/\s+/g, ' ');
  }
}

/** Reads at most MAX_BODY_BYTES (stopping as soon as the pattern matches) and decides. */
function judgeBody(response: IncomingMessage, pattern: BodyPattern, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (healthy: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      response.destroy();
      resolve({ healthy, detail });
    };
    const text = () => Buffer.concat(chunks).toString('utf8');
    response.on('data', (chunk: Buffer) => {
      const room = MAX_BODY_BYTES - size;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(kept);
      size += kept.length;
      if (pattern.kind === 'substring' && text().includes(pattern.text)) {
        finish(true, `HTTP ${response.statusCode}, body contains ${describePattern(pattern)}`);
      } else if (size >= MAX_BODY_BYTES) {
        const found = bodyMatches(text(), pattern);
        finish(found, `HTTP ${response.statusCode}, ${describePattern(pattern)} ${found ? 'found' : 'not found'} in the first ${MAX_BODY_BYTES} bytes of the body`);
      }
    });
    response.on('end', () => {
      const found = bodyMatches(text(), pattern);
      finish(found, `HTTP ${response.statusCode}, body (${size} bytes) ${found ? 'matches' : 'does not match'} ${describePattern(pattern)}`);
    });
    const cutShort = () =>
      finish(false, `body of HTTP ${response.statusCode} cut short after ${size} bytes: ${signal.aborted ? abortReason(signal) : 'connection closed'}`);
    response.on('error', cutShort);
    response.on('aborted', cutShort);
  });
}

async function run(options: HttpOptions, signal: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  const { request, ...requestOpts } = await requestOptions(options);
  return new Promise<CheckResult>((resolve) => {
    let settled = false;
    const settle = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const req = request(options.url, requestOpts, (response) => {
      const status = response.statusCode ?? 0;
      if (!statusAccepted(status, options.expectStatus)) {
        const location = response.headers.location ? ` (redirect to ${response.headers.location}, not followed)` : '';
        response.destroy();
        settle({ healthy: false, detail: `HTTP ${status} from ${options.url.href}${location}; expected ${describeStatuses(options.expectStatus)}` });
        return;
      }
      if (!options.expectBody) {
        response.destroy();
        settle({ healthy: true, detail: `HTTP ${status} from ${options.url.href} in ${elapsedSince(start)}` });
        return;
      }
      judgeBody(response, options.expectBody, signal).then(settle, (error: Error) =>
        settle({ healthy: false, detail: error.message }),
      );
    });
    // Not the request's `signal` option: it loads more of node:http's stream machinery per process.
    const onAbort = () => req.destroy();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => signal.removeEventListener('abort', onAbort));
    req.on('error', (error: NodeJS.ErrnoException) => {
      settle({
        healthy: false,
        detail: signal.aborted
          ? `no answer from ${options.url.href}: ${abortReason(signal)}`
          : describeError(error, options),
      });
    });
    req.end();
  });
}

export const httpCheck: CheckKind<HttpOptions> = {
  kind: 'http',
  summary: 'HTTP(S) request: expected status (and body), redirects not followed',
  usage: USAGE,
  flags: {
    url: { type: 'string' },
    'expect-status': { type: 'string' },
    'expect-body': { type: 'string' },
    'host-header': { type: 'string' },
    method: { type: 'string' },
    insecure: { type: 'boolean' },
  },
  fromFlags,
  run,
};
