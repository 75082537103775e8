/**
 * One MySQL/MariaDB session over mysql2, loaded lazily so commands that never touch a database
 * never pay for the driver. Credentials come from an option file; the password goes to the driver
 * in memory only. Every error leaving this module is a MysqlError whose message has been scrubbed
 * of the password and of any SQL text (mysql2 attaches the statement to its errors).
 *
 * A long-lived process (the agent) may keep sessions (keepSessions()): connect() then lends it
 * one kept connection per server and account, checked with a bounded round trip before each loan
 * and replaced when that fails, instead of opening one per call.
 */
import type { Socket } from 'node:net';
import { capReads } from '../bounded/capped-read.js';
import { DatabaseError } from './errors.js';
import { readOptionFile } from './option-file.js';

export interface MysqlTarget {
  host?: string;
  port?: number;
  socket?: string;
  /** MySQL option file with a [client] section (user, password, optionally host/port/socket). */
  defaultsFile: string;
}

export interface Credentials {
  user: string;
  password?: string;
  host?: string;
  port?: number;
  socket?: string;
}

export interface ConnectOptions {
  /** Budget for the TCP/socket connect and handshake. */
  timeoutMs: number;
  /** Aborting destroys the connection; pending calls reject with code ABORTED. */
  signal?: AbortSignal;
  /** Default per-query budget (default: timeoutMs, at least 5 s). */
  queryTimeoutMs?: number;
  /** Refuse an option file readable by group/others (default true). */
  requirePrivateFile?: boolean;
  /**
   * Most bytes the server may send over the session's life (default: no cap). A peer that floods
   * is cut off with code READ_LIMIT; with a cap, an abort while connecting also closes the socket.
   */
  maxReadBytes?: number;
  /**
   * A TCP socket already connected to the server, logged in over instead of opening one (the
   * fence's peer probe proves the path with its own connect first). The session owns it from here.
   */
  connectedSocket?: Socket;
}

export interface QueryOptions {
  timeoutMs?: number;
  /** Further strings that must never appear in an error message (e.g. a password in CHANGE MASTER). */
  secrets?: string[];
}

export type Row = Record<string, unknown>;

export interface MysqlSession {
  /** host:port or the socket path, for messages. */
  readonly address: string;
  /** The server's id of this connection (CONNECTION_ID()). */
  readonly threadId: number;
  /**
   * Facts about the server that cannot change while the connection lives (e.g. its flavour),
   * kept for as long as the connection: a kept session shares it across loans.
   */
  readonly memo?: Map<string, unknown>;
  query(sql: string, params?: unknown[], options?: QueryOptions): Promise<Row[]>;
  close(): Promise<void>;
}

/** A failure talking to the server. `errno` is the server error number when there is one. */
export class MysqlError extends DatabaseError {
  readonly errno: number | undefined;
  readonly code: string | undefined;
  constructor(message: string, details: { errno?: number | undefined; code?: string | undefined } = {}) {
    super(message, 'MysqlError');
    this.errno = details.errno;
    this.code = details.code;
  }
}

const CONNECTION_LOST_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'CLOSED']);
/** MariaDB's ER_CONNECTION_KILLED: a statement in progress when KILL CONNECTION ended its session. */
const CONNECTION_KILLED_ERRNO = 1927;

/**
 * True when an established session was closed under us (the server ended it, e.g. by KILL
 * CONNECTION), as opposed to a server that was never reached or refused a statement.
 */
export function connectionLost(error: unknown): boolean {
  if (!(error instanceof MysqlError)) return false;
  return (
    (error.code !== undefined && CONNECTION_LOST_CODES.has(error.code)) ||
    error.errno === CONNECTION_KILLED_ERRNO
  );
}

// How the driver escapes characters inside a string literal, to find a secret again in a server message.
const SQL_ESCAPED = new Map([
  ['\0', '\\0'],
  ['\b', '\\b'],
  ['\t', '\\t'],
  ['\n', '\\n'],
  ['\r', '\\r'],
  [String.fromCharCode(26), '\\Z'],
  ['"', '\\"'],
  ["'", "\\'"],
  ['\\', '\\\\'],
]);

/** Replaces every secret (raw and as the driver would escape it inside a literal) by [redacted]. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const escaped = [...secret].map((c) => SQL_ESCAPED.get(c) ?? c).join('');
    for (const form of new Set([secret, escaped])) out = out.split(form).join('[redacted]');
  }
  return out;
}

interface DriverError {
  message?: string;
  code?: string;
  errno?: number;
  sqlMessage?: string;
}

const NETWORK_MESSAGES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running and listening there?)',
  ENOENT: 'no such socket (is the server running?)',
  ETIMEDOUT: 'no answer within the connect timeout',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset by the server',
  PROTOCOL_CONNECTION_LOST: 'the server closed the connection',
};

/** Maps a mysql2 error to a plain, secret-free MysqlError. `statement` is a label, never the SQL. */
function mapError(
  error: unknown,
  address: string,
  secrets: readonly string[],
  statement?: string,
): MysqlError {
  if (error instanceof MysqlError) return error;
  const e = (error ?? {}) as DriverError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const errno = typeof e.errno === 'number' && e.errno > 0 ? e.errno : undefined;
  let text: string;
  if (code && NETWORK_MESSAGES[code]) text = NETWORK_MESSAGES[code]!;
  else if (e.sqlMessage) text = e.sqlMessage;
  else text = e.message ?? String(error);
  const where = statement ? ` (${statement})` : '';
  const number = errno !== undefined ? ` [error ${errno}]` : '';
  return new MysqlError(redact(`MySQL at ${address}: ${text}${number}${where}`, secrets), { errno, code });
}

/** "CHANGE MASTER", "SELECT", … — enough to say which step failed without echoing values. */
function statementLabel(sql: string): string {
  return sql
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(' ')
    .replace(/[^A-Za-z_ @.()]/g, '')
    .slice(0, 40);
}

export async function credentialsFor(target: MysqlTarget, requirePrivate = true): Promise<Credentials> {
  const file = await readOptionFile(target.defaultsFile, { requirePrivate });
  const credentials: Credentials = { user: file.user ?? 'root' };
  if (file.password !== undefined) credentials.password = file.password;
  const host = target.host ?? (target.socket ? undefined : file.host);
  const socket = target.socket ?? (target.host ? undefined : file.socket);
  const port = target.port ?? file.port;
  if (host !== undefined) credentials.host = host;
  if (socket !== undefined) credentials.socket = socket;
  if (port !== undefined) credentials.port = port;
  return credentials;
}

/**
 * Opens a session, or, while sessions are kept (keepSessions()) and no read cap is asked for (the
 * checks ask for one and always connect afresh), lends the kept one. Either way the caller closes
 * what it gets; closing a loan hands the connection back.
 */
export async function connect(target: MysqlTarget, options: ConnectOptions): Promise<MysqlSession> {
  const credentials = await credentialsFor(target, options.requirePrivateFile ?? true);
  if (keeper && options.maxReadBytes === undefined) return keeper.lend(credentials, options);
  return connectWith(credentials, options);
}

export async function connectWith(credentials: Credentials, options: ConnectOptions): Promise<MysqlSession> {
  const useSocket = credentials.socket !== undefined && credentials.host === undefined;
  const host = credentials.host ?? '127.0.0.1';
  const port = credentials.port ?? 3306;
  const address = useSocket ? credentials.socket! : `${host}:${port}`;
  const secrets = credentials.password ? [credentials.password] : [];
  const { signal } = options;
  if (signal?.aborted)
    throw new MysqlError(`MySQL at ${address}: aborted before connecting`, { code: 'ABORTED' });

  const [mysql, net] = await Promise.all([import('mysql2/promise'), import('node:net')]);
  // Loading the driver takes a while on a busy machine: the signal may have fired meanwhile.
  if (signal?.aborted)
    throw new MysqlError(`MySQL at ${address}: aborted before connecting`, { code: 'ABORTED' });
  let socket: Socket | undefined;
  let stream: (() => Socket) | undefined;
  const { connectedSocket, maxReadBytes } = options;
  if (connectedSocket || maxReadBytes !== undefined) {
    stream = () => {
      let opened = connectedSocket;
      if (!opened) {
        opened = useSocket ? net.connect(credentials.socket!) : net.connect(port, host);
        // What mysql2 does for the sockets it opens itself.
        if (!useSocket) opened.setNoDelay(true);
      }
      socket = maxReadBytes === undefined ? opened : capReads(opened, maxReadBytes);
      return socket;
    };
  }
  const pending = mysql.createConnection({
    ...(useSocket ? { socketPath: credentials.socket } : { host, port }),
    ...(stream ? { stream } : {}),
    user: credentials.user,
    password: credentials.password ?? '',
    connectTimeout: Math.max(1, Math.round(options.timeoutMs)),
    multipleStatements: false,
    dateStrings: true,
    supportBigNumbers: true,
    charset: 'utf8mb4',
    // Row parsers from mysql2's static code, not a function generated (and compiled) per result
    // shape at run time: notify sees a dozen shapes once each, and generated code is in no code cache.
    disableEval: true,
  });

  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () =>
      reject(new MysqlError(`MySQL at ${address}: aborted while connecting`, { code: 'ABORTED' }));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let connection: Awaited<typeof pending>;
  try {
    connection = await Promise.race([pending, aborted]);
  } catch (error) {
    // A connection that completes after an abort must not linger, nor one that never completes.
    socket?.destroy();
    pending.then(
      (c) => c.destroy(),
      () => undefined,
    );
    throw mapError(error, address, secrets);
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }

  let closed = false;
  let abortedBySignal = false;
  const known = { alive: () => !closed };
  connection.on('error', () => {
    closed = true;
  });
  const destroy = () => {
    closed = true;
    // mysql2's destroy() only half-closes (stream.end()): a statement in flight still gets its
    // reply and resolves. Destroying the socket is what makes an abort end it at once.
    const core = (connection as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection;
    core?.stream?.destroy?.();
    connection.destroy();
  };
  const abortSession = () => {
    abortedBySignal = true;
    destroy();
  };
  signal?.addEventListener('abort', abortSession, { once: true });
  const defaultQueryTimeout = options.queryTimeoutMs ?? Math.max(options.timeoutMs, 5000);

  const session: MysqlSession = {
    address,
    threadId: connection.threadId ?? 0,
    memo: new Map(),
    async query(sql, params, queryOptions = {}) {
      const allSecrets = [...secrets, ...(queryOptions.secrets ?? [])];
      const label = statementLabel(sql);
      if (abortedBySignal || signal?.aborted) {
        throw new MysqlError(`MySQL at ${address}: aborted (${label})`, { code: 'ABORTED' });
      }
      if (closed)
        throw new MysqlError(`MySQL at ${address}: connection is closed (${label})`, { code: 'CLOSED' });
      const timeout = queryOptions.timeoutMs ?? defaultQueryTimeout;
      try {
        const [rows] = await connection.query({ sql, values: params, timeout });
        return Array.isArray(rows) ? (rows as Row[]) : [];
      } catch (error) {
        if (abortedBySignal)
          throw new MysqlError(`MySQL at ${address}: aborted (${label})`, { code: 'ABORTED' });
        const code = (error as DriverError).code;
        if (code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
          // The statement may still run server-side; the connection's state is unknown: drop it.
          destroy();
          throw new MysqlError(`MySQL at ${address}: no reply within ${timeout} ms (${label})`, { code });
        }
        if ((error as { fatal?: boolean }).fatal) closed = true;
        throw mapError(error, address, allSecrets, label);
      }
    },
    async close() {
      signal?.removeEventListener('abort', abortSession);
      if (closed) return;
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          connection.end(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, 1000);
          }),
        ]);
      } catch {
        /* closing anyway */
      } finally {
        if (timer) clearTimeout(timer);
        connection.destroy();
      }
    },
  };
  liveness.set(session, known.alive);
  return session;
}

/** Whether the driver still holds a session's connection open (false once it saw it end). */
const liveness = new WeakMap<MysqlSession, () => boolean>();

/** Runs `fn` with a session and always closes it. */
export async function withSession<T>(
  target: MysqlTarget,
  options: ConnectOptions,
  fn: (session: MysqlSession) => Promise<T>,
): Promise<T> {
  const session = await connect(target, options);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** The budget of the round trip that checks a kept connection before it is lent. */
const KEPT_CHECK_MAX_MS = 1_000;
/**
 * A connection handed back this recently, and not seen ending by the driver since, is lent without
 * the round trip: the observation and the promotion of one transition follow each other within
 * milliseconds. A server that ends a local connection is seen at once (the socket closes).
 */
const FRESH_MS = 1_000;

interface Kept {
  key: string;
  session: MysqlSession;
  /** performance.now() when it was last handed back. */
  returnedAt?: number;
  /** Aborting destroys the connection (what a borrower's signal does while it holds it). */
  kill: AbortController;
}

function keyOf(c: Credentials): string {
  return JSON.stringify([c.user, c.password ?? null, c.host ?? null, c.port ?? null, c.socket ?? null]);
}

/**
 * At most one idle connection, lent to one borrower at a time; a borrower who finds it lent gets
 * a connection of its own, closed when returned unless the idle place is free. Every loan is
 * bounded as a fresh connect is: a check of at most KEPT_CHECK_MAX_MS (skipped for a connection
 * handed back within FRESH_MS that the driver still holds open), then, if that failed, a connect
 * within the borrower's timeout. A connection that a borrower's signal aborted, or
 * returned with a statement still running, is destroyed, never lent again.
 */
class SessionKeeper {
  private idle: Kept | undefined;
  private closed = false;

  constructor(private readonly freshMs: number) {}

  async lend(credentials: Credentials, options: ConnectOptions): Promise<MysqlSession> {
    const { signal } = options;
    const key = keyOf(credentials);
    let kept = this.idle;
    this.idle = undefined;
    if (kept && (kept.key !== key || !(await this.usable(kept, options)))) {
      kept.kill.abort();
      kept = undefined;
    }
    if (!kept) {
      const kill = new AbortController();
      const follow = () => kill.abort();
      if (signal?.aborted) kill.abort();
      signal?.addEventListener('abort', follow, { once: true });
      try {
        // The kept connection's own signal is `kill`: a borrower's signal reaches it only on loan.
        const session = await connectWith(credentials, {
          timeoutMs: options.timeoutMs,
          signal: kill.signal,
          ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
        });
        kept = { key, session, kill };
      } finally {
        signal?.removeEventListener('abort', follow);
      }
    }
    return this.loan(kept, options);
  }

  /** Whether the idle connection may be lent: known alive, and recently used or answering one bounded round trip. */
  private async usable(kept: Kept, options: ConnectOptions): Promise<boolean> {
    const { signal } = options;
    if (signal?.aborted || kept.kill.signal.aborted) return false;
    if (liveness.get(kept.session)?.() === false) return false;
    if (kept.returnedAt !== undefined && performance.now() - kept.returnedAt < this.freshMs) return true;
    const follow = () => kept.kill.abort();
    signal?.addEventListener('abort', follow, { once: true });
    try {
      const timeoutMs = Math.max(1, Math.min(KEPT_CHECK_MAX_MS, Math.round(options.timeoutMs)));
      await kept.session.query('SELECT 1', [], { timeoutMs });
      return true;
    } catch {
      return false;
    } finally {
      signal?.removeEventListener('abort', follow);
    }
  }

  private loan(kept: Kept, options: ConnectOptions): MysqlSession {
    const { signal } = options;
    const follow = () => kept.kill.abort();
    signal?.addEventListener('abort', follow, { once: true });
    const defaultTimeoutMs = options.queryTimeoutMs ?? Math.max(options.timeoutMs, 5000);
    let inFlight = 0;
    let returned = false;
    return {
      address: kept.session.address,
      threadId: kept.session.threadId,
      ...(kept.session.memo ? { memo: kept.session.memo } : {}),
      async query(sql, params, queryOptions = {}) {
        if (returned)
          throw new MysqlError(`MySQL at ${kept.session.address}: connection is closed`, { code: 'CLOSED' });
        inFlight++;
        try {
          return await kept.session.query(sql, params, {
            ...queryOptions,
            timeoutMs: queryOptions.timeoutMs ?? defaultTimeoutMs,
          });
        } finally {
          inFlight--;
        }
      },
      close: async () => {
        if (returned) return;
        returned = true;
        signal?.removeEventListener('abort', follow);
        if (this.closed || this.idle || inFlight > 0 || kept.kill.signal.aborted) {
          kept.kill.abort();
          await kept.session.close();
          return;
        }
        kept.returnedAt = performance.now();
        this.idle = kept;
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const kept = this.idle;
    this.idle = undefined;
    if (kept) await kept.session.close();
  }
}

let keeper: SessionKeeper | undefined;
let keepers = 0;

/**
 * From now until the returned function is called (by every caller that asked), connect() lends
 * kept connections (see SessionKeeper). The agent keeps them for its life, so that observing the
 * database and promoting it cost round trips, not connects.
 */
export function keepSessions(options: { freshMs?: number } = {}): () => Promise<void> {
  keeper ??= new SessionKeeper(options.freshMs ?? FRESH_MS);
  keepers++;
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    if (--keepers > 0 || !keeper) return;
    const closing = keeper;
    keeper = undefined;
    await closing.close();
  };
}
