// npm run bench:acked-query — how long a client waits on a query that was in flight at node loss
// (root only; the namespace lab, fast profile, agents). Three cases, REPS times each:
// - unacked:   the node is lost, then the query goes out: its retransmission reaches the VIP's new
//              owner, which has no such connection and answers with a reset;
// - acked:     the query (SELECT SLEEP(6)) goes out, the old primary's kernel acknowledges it
//              (delayed ACK, ~40 ms), then the node is lost: the client has nothing to retransmit,
//              hears nothing and waits for its own timeout, however fast the failover;
// - keepalive: as acked, with TCP keepalive after 1 s idle (mysql2 keepAliveInitialDelay): the
//              probe reaches the new owner, which resets the connection.
// Env: REPS (default 2), BENCH_PREFIX (default hacked). Drives bin/hactl lab, so build first.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mustLab } from './lab-cli.mjs';

const SELF = fileURLToPath(import.meta.url);
const PREFIX = process.env.BENCH_PREFIX ?? 'hacked';
const REPS = Number(process.env.REPS ?? 2);
const CASES = ['unacked', 'acked', 'keepalive'];
const CLIENT_WAIT_MS = 10_000;
const FAULT_AFTER_SEND_MS = 300;

const hactl = (args, timeoutMs) => mustLab(PREFIX, args, timeoutMs);

/** Runs inside the client namespace: one connection, one query, one line of JSON per step. */
async function client(kind) {
  const { default: mysql } = await import('mysql2/promise');
  const option = await readFile(`/tmp/hactl-lab-${PREFIX}/db/app.cnf`, 'utf8');
  const password = /^password=(.*)$/m.exec(option)?.[1]?.replace(/^"|"$/g, '') ?? '';
  const keepAlive = kind === 'keepalive' ? { enableKeepAlive: true, keepAliveInitialDelay: 1_000 } : {};
  const conn = await mysql.createConnection({
    host: '192.0.2.50',
    port: 3306,
    user: 'app',
    password,
    connectTimeout: 1_000,
    ...keepAlive,
  });
  conn.on('error', () => {});
  await conn.query('SELECT 1');
  const say = (event) => process.stdout.write(JSON.stringify({ ...event, t: Date.now() }) + '\n');
  say({ event: 'connected' });
  if (kind === 'unacked') await new Promise((resolve) => process.stdin.once('data', resolve));
  say({ event: 'sent' });
  const query = conn.query(kind === 'unacked' ? 'SELECT @@server_id' : 'SELECT SLEEP(6)');
  const outcome = await Promise.race([
    query.then(
      () => 'answered',
      (error) => String(error.code ?? error.message),
    ),
    new Promise((resolve) => setTimeout(resolve, CLIENT_WAIT_MS, `nothing within ${CLIENT_WAIT_MS} ms`)),
  ]);
  say({ event: 'ended', outcome });
  process.exit(0);
}

async function oneRep(kind) {
  await hactl(['down'], 60_000).catch(() => {});
  await hactl(['up', '--mode', 'agent', '--fast']);
  const child = spawn('ip', ['netns', 'exec', `${PREFIX}-client`, process.execPath, SELF, '--client', kind], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = {};
  let faultAt;
  const failed = new Promise((resolve) => child.once('close', resolve));
  for await (const line of createInterface({ input: child.stdout })) {
    const event = JSON.parse(line);
    events[event.event] = event;
    if (event.event === 'connected' && kind === 'unacked') {
      faultAt = Date.now();
      await hactl(['fail', 'ha1', '--how', 'kill']);
      child.stdin.write('go\n');
    } else if (event.event === 'sent' && kind !== 'unacked') {
      await new Promise((resolve) => setTimeout(resolve, FAULT_AFTER_SEND_MS));
      faultAt = Date.now();
      await hactl(['fail', 'ha1', '--how', 'kill']);
    }
  }
  await failed;
  const ended = events.ended;
  return {
    kind,
    outcome: ended?.outcome ?? 'client failed',
    sentBeforeFaultMs: events.sent ? faultAt - events.sent.t : null,
    endedAfterFaultMs: ended ? ended.t - faultAt : null,
  };
}

if (process.argv[2] === '--client') {
  await client(process.argv[3]);
} else {
  try {
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of CASES) console.log(JSON.stringify(await oneRep(kind)));
    }
  } finally {
    await hactl(['down'], 60_000).catch((error) => console.error(error.message));
  }
}
