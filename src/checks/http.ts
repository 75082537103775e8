/**
 * HTTP(S) check on node:net / node:tls only: undici's first request costs 100–180 ms per process
 * (DESIGN.md), too much for a check keepalived spawns every second. TLS is loaded only for https
 * URLs. Redirects are never followed; the body is read only when --expect-body asks for it, and
 * then at most MAX_BODY_BYTES, into one buffer. A substring is searched incrementally (linear); a
 * /regex/ is matched once the body is in, cut off by V8 when the budget ends (src/bounded/regex-match.ts).
 */
import { HOST_HEADER } from './host-header.js';
import type { Socket } from 'node:net';
import { MatchAbandoned, matchWithin } from '../bounded/regex-match.js';
import { UsageError } from '../errors.js';
import {
  abortReason,
  asciiWireValue,
  booleanFlag,
  COMMON_FLAGS_USAGE,
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
  wireValue,
} from './options.js';
import type { CheckKind, CheckResult, FlagValues } from './types.js';
import { EXAMPLE_CHECKS } from './examples.js';
import { exampleBlock } from './spec-args.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** Time a /regex/ match may take when the caller gives no deadline. */
const DEFAULT_MATCH_MS = 1000;

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
                         (JavaScript syntax; a match still running at the budget is unhealthy)
  --host-header NAME     Host header (and TLS server name) to send, e.g. for a name-based vhost
  --method GET|HEAD      request method (default GET; HEAD cannot use --expect-body)
  --insecure             accept self-signed or otherwise unverifiable TLS certificates
  --timeout SECONDS      total budget, decimal (default 0.8); keep it below vrrp_script timeout
${COMMON_FLAGS_USAGE}

Exit status: 0 healthy, 1 unhealthy (reason on stderr), 2 usage error.

Example keepalived.conf block, as render-config writes it:
${exampleBlock(EXAMPLE_CHECKS.http)}`;

/** The URL for details and logs: credentials in it are never sent, and never shown. */
function shownTarget(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** A URL as it may appear in a message: without user:password@. */
function shownUrl(text: string): string {
  return JSON.stringify(text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1…@'));
}

function parseUrl(text: string): URL {
  wireValue(text, 'url', 'http', shownUrl(text));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url ${shownUrl(text)} is not a URL`, 'e.g. --url http://127.0.0.1/health');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url ${shownUrl(text)}: only http:// and https:// are supported`);
  }
  return url;
}

/** host or host:port, as a Host header carries it; nothing that could end the header line. */
function hostHeader(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  asciiWireValue(text, 'host-header', 'http');
  if (!HOST_HEADER.test(text)) {
    throw new UsageError(
      `--host-header ${JSON.stringify(text)} is not a host name with an optional :port`,
      'e.g. --host-header www.example.com or --host-header www.example.com:8080',
    );
  }
  return text;
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
    hostHeader: hostHeader(stringFlag(values, 'host-header', 'http')),
    method,
    insecure: booleanFlag(values, 'insecure'),
  };
}

const IP_LITERAL = /^(\d+\.){3}\d+$|:/;
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * One HTTP/1.0 request over node:net (node:tls for https). HTTP/1.0 means no chunked encoding and
 * the server closes the connection, so status, headers and body are read straight off the socket;
 * HAProxy's httpchk does the same. node:http costs ~3.5 ms more per spawned process (bench/checks.mjs).
 */
async function connect(options: HttpOptions): Promise<Socket> {
  const { url } = options;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'https:') {
    const tls = await import('node:tls');
    const servername = (options.hostHeader ?? url.hostname).replace(/:\d+$/, '');
    return tls.connect({
      host,
      port: Number(url.port) || 443,
      rejectUnauthorized: !options.insecure,
      ...(IP_LITERAL.test(servername) ? {} : { servername }),
    });
  }
  const net = await import('node:net');
  return net.connect({ host, port: Number(url.port) || 80 });
}

function requestText(options: HttpOptions): string {
  const { url } = options;
  return (
    `${options.method} ${url.pathname}${url.search} HTTP/1.0\r\n` +
    `Host: ${options.hostHeader ?? url.host}\r\n` +
    'User-Agent: hactl-check\r\nAccept: */*\r\nConnection: close\r\n\r\n'
  );
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
      return `request to ${shownTarget(options.url)} failed: ${error.code ?? ''} ${error.message}`.replace(
        /\s+/g,
        ' ',
      );
  }
}

interface Head {
  status: number;
  location: string | undefined;
}

function parseHead(text: string): Head | undefined {
  const match = /^HTTP\/\d\.\d (\d{3})/.exec(text);
  if (!match) return undefined;
  const location = /\r\nlocation:[ \t]*([^\r\n]*)/i.exec(text)?.[1];
  return { status: Number(match[1]), location };
}

/** Where the bytes of one answer go: one buffer, filled in place, never larger than the caps. */
class Answer {
  readonly bytes = Buffer.allocUnsafe(MAX_HEADER_BYTES + MAX_BODY_BYTES);
  length = 0;
  /** Offset of the body once the head is complete. */
  bodyStart = -1;

  /** Copies what fits; returns false when the answer is larger than what this check reads. */
  add(chunk: Buffer): boolean {
    const limit = this.bodyStart < 0 ? this.bytes.length : this.bodyStart + MAX_BODY_BYTES;
    const take = Math.min(chunk.length, limit - this.length);
    chunk.copy(this.bytes, this.length, 0, take);
    this.length += take;
    return take === chunk.length;
  }

  get bodyLength(): number {
    return this.bodyStart < 0 ? 0 : this.length - this.bodyStart;
  }

  body(): string {
    return this.bytes.toString('utf8', this.bodyStart, this.length);
  }
}

async function run(options: HttpOptions, signal: AbortSignal, abortAtMs?: number): Promise<CheckResult> {
  const start = performance.now();
  const pattern = options.expectBody;
  // A substring is searched as bytes, only over what arrived since the last search: linear in the body.
  const needle = pattern?.kind === 'substring' ? Buffer.from(pattern.text, 'utf8') : undefined;
  const socket = await connect(options);
  const target = shownTarget(options.url);
  return new Promise<CheckResult>((resolve) => {
    const answer = new Answer();
    let head: Head | undefined;
    let searchedTo = 0;
    let settled = false;
    const settle = (healthy: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ healthy, detail });
    };
    const onAbort = () => settle(false, `no complete answer from ${target}: ${abortReason(signal)}`);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const verdict = (found: boolean, capped: boolean) => {
      const status = `HTTP ${head!.status}`;
      settle(
        found,
        capped
          ? `${status}, ${describePattern(pattern!)} ${found ? 'found' : 'not found'} in the first ${MAX_BODY_BYTES} bytes of the body`
          : `${status}, body (${answer.bodyLength} bytes) ${found ? 'matches' : 'does not match'} ${describePattern(pattern!)}`,
      );
    };
    const judgeBody = (complete: boolean) => {
      if (settled) return;
      const capped = answer.bodyLength >= MAX_BODY_BYTES;
      if (needle) {
        const from = Math.max(answer.bodyStart, answer.bodyStart + searchedTo - needle.length + 1);
        const found = answer.bytes.subarray(0, answer.length).indexOf(needle, from) >= 0;
        searchedTo = answer.bodyLength;
        if (found) return settle(true, `HTTP ${head!.status}, body contains ${describePattern(pattern!)}`);
        if (complete || capped) verdict(false, capped);
        return;
      }
      if (!complete && !capped) return;
      // Everything this check reads is here: stop reading, then match within what is left.
      socket.destroy();
      const { regex } = pattern as { kind: 'regex'; regex: RegExp };
      const left = (abortAtMs ?? performance.now() + DEFAULT_MATCH_MS) - performance.now();
      let found: boolean;
      try {
        found = matchWithin(regex, answer.body(), left);
      } catch (error) {
        return settle(
          false,
          error instanceof MatchAbandoned
            ? `HTTP ${head!.status}, ${describePattern(pattern!)} not evaluated over ${answer.bodyLength} bytes: ${error.message}`
            : `HTTP ${head!.status}, ${describePattern(pattern!)} could not be evaluated: ${(error as Error).message}`,
        );
      }
      verdict(found, capped);
    };
    const judgeHead = (text: string) => {
      head = parseHead(text);
      if (!head) return settle(false, `${target} did not answer with HTTP`);
      if (!statusAccepted(head.status, options.expectStatus)) {
        const location = head.location ? ` (redirect to ${head.location}, not followed)` : '';
        return settle(
          false,
          `HTTP ${head.status} from ${target}${location}; expected ${describeStatuses(options.expectStatus)}`,
        );
      }
      if (!pattern) return settle(true, `HTTP ${head.status} from ${target} in ${elapsedSince(start)}`);
      judgeBody(false);
    };

    // Queued until the connection (and TLS handshake) is up.
    socket.write(requestText(options));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      const before = answer.length;
      const fits = answer.add(chunk);
      if (head) return judgeBody(false);
      const end = answer.bytes.subarray(0, answer.length).indexOf('\r\n\r\n', Math.max(0, before - 3));
      if (end < 0 || end > MAX_HEADER_BYTES) {
        if (answer.length > MAX_HEADER_BYTES || !fits)
          settle(false, `${target} sent more than ${MAX_HEADER_BYTES} bytes of headers`);
        return;
      }
      answer.bodyStart = end + 4;
      // Body bytes past the cap were copied while the head was still incomplete: drop them.
      answer.length = Math.min(answer.length, answer.bodyStart + MAX_BODY_BYTES);
      judgeHead(answer.bytes.toString('latin1', 0, end));
    });
    socket.on('end', () => {
      if (head && pattern) judgeBody(true);
      else settle(false, `${target} closed the connection without a complete answer`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      settle(false, describeError(error, options));
    });
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
