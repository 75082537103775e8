/**
 * The witness monitor's probe of the peer (src/fence/peer-probe.ts) against a real MariaDB: a
 * bare connect that closes before logging in costs the server an "Aborted connection" warning and
 * an Aborted_connects each; a probe that logs in with the admin account and quits costs neither.
 * A refused login is reported once, without the password, and the path falls back to bare closes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peerProber } from '../../src/fence/peer-probe.js';
import { probeAll } from '../../src/fence/probe.js';
import { oneMariadb, type OneMariadb } from '../support/one-mariadb.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['mariadbd', 'mariadb-install-db'] });
const ROUNDS = 12;

let db: OneMariadb;

function recordingLog() {
  const lines: { level: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>) => void lines.push({ level, fields });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

async function abortedConnects(): Promise<number> {
  const rows = await db.admin.query("SHOW GLOBAL STATUS LIKE 'Aborted_connects'");
  return Number(rows[0]?.Value);
}

const logLines = (text: string) =>
  readFileSync(db.server.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(text)).length;
const abortedLines = () => logLines('Aborted connection');

/**
 * Runs `rounds` probes one after the other, each round's login ended before the next round, as in
 * the monitor, whose rounds are probe_interval apart while a login takes milliseconds.
 */
async function probeRounds(probe: typeof probeAll, rounds: number, settle = () => Promise.resolve()) {
  const target = [{ host: db.server.host, port: db.server.port }];
  const answers = [];
  for (let i = 0; i < rounds; i++) {
    answers.push(...(await probe(target, 2_000)));
    await settle();
  }
  return answers;
}

/** The server counts an aborted connect when it sees the close: wait until the count stops moving. */
async function settledCount(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (let i = 0; i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
  return last;
}

describe.skipIf(missing)(titled('the peer probe (fencing witness monitor)', missing), () => {
  db = oneMariadb('peer-probe');

  it('a bare connect costs the peer a warning and an Aborted_connects per probe (the control)', async () => {
    const before = { count: await abortedConnects(), lines: abortedLines() };
    const answers = await probeRounds(probeAll, ROUNDS);
    expect(answers.every((a) => a.answer === 'connected')).toBe(true);
    expect((await settledCount(abortedConnects)) - before.count).toBe(ROUNDS);
    expect(abortedLines() - before.lines).toBe(ROUNDS);
  });

  it('a probe that logs in and quits costs the peer neither', async () => {
    const { lines, log } = recordingLog();
    const controller = new AbortController();
    const prober = await peerProber({
      credentialsFile: db.server.admin.defaultsFile,
      log,
      loginBudgetMs: 2_000,
      signal: controller.signal,
    });
    const before = { count: await abortedConnects(), lines: abortedLines() };
    const answers = await probeRounds(prober.probe, ROUNDS, prober.settle);
    expect(answers.map((a) => a.answer)).toEqual(Array(ROUNDS).fill('connected'));
    expect(await settledCount(abortedConnects)).toBe(before.count);
    expect(abortedLines()).toBe(before.lines);
    expect(lines).toEqual([]);
  });

  it('a refused login is logged once without the password, and the path goes back to bare closes', async () => {
    const wrong = join(db.dir, 'wrong.cnf');
    const password = 'not-the-admin-password-7f3a';
    writeFileSync(wrong, `[client]\nuser=${db.server.admin.user}\npassword=${password}\n`, { mode: 0o600 });
    const { lines, log } = recordingLog();
    const controller = new AbortController();
    const prober = await peerProber({
      credentialsFile: wrong,
      log,
      loginBudgetMs: 2_000,
      signal: controller.signal,
    });
    const deniedBefore = logLines('Access denied');
    const answers = await probeRounds(prober.probe, 4, prober.settle);
    // Reachability is the connect's answer, whatever the login then says.
    expect(answers.every((a) => a.reachable)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', fields: { event: 'fence.peer_probe' } });
    const reason = String(lines[0]!.fields.reason);
    expect(reason).toContain('refused the admin account');
    expect(reason).toContain(`${db.server.host}:${db.server.port}`);
    expect(reason).not.toContain(password);
    // One refused login, then bare closes: the server saw a single attempt to log in.
    expect(logLines('Access denied') - deniedBefore).toBe(1);
    expect(readFileSync(db.server.logFile, 'utf8')).not.toContain(password);
  });

  it('a peer that accepts the connect and never greets is left within the login budget', async () => {
    // A stopped mysqld looks like this: the kernel accepts from the listen backlog, nobody speaks.
    const accepted: Socket[] = [];
    const silent = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const { lines, log } = recordingLog();
    const controller = new AbortController();
    try {
      const prober = await peerProber({
        credentialsFile: db.server.admin.defaultsFile,
        log,
        loginBudgetMs: 300,
        signal: controller.signal,
      });
      const [answer] = await prober.probe([{ host: '127.0.0.1', port }], 2_000);
      expect(answer?.answer).toBe('connected');
      const started = performance.now();
      await prober.settle();
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThan(200);
      expect(waited).toBeLessThan(5_000);
      // Our side closed it: the server sees its end.
      await new Promise<void>((resolve, reject) => {
        const socket = accepted[0];
        if (!socket) return reject(new Error('the silent server accepted nothing'));
        if (socket.readableEnded || socket.destroyed) return resolve();
        socket.once('close', () => resolve());
        socket.resume();
      });
      expect(lines).toEqual([]);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
