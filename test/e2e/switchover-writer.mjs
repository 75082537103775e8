// A steady writer for test/e2e/switchover.test.ts, run inside the lab's client namespace: one
// insert at a time through HOST (the inside VIP) as the application account, each row carrying
// the next id; prints "ack <id>" once the server acknowledged the commit, so the test knows every
// write that must survive. Reconnects after any error; stops on SIGTERM or after MAX_MS.
// Usage: node switchover-writer.mjs HOST CREDENTIALS_FILE MAX_MS [FIRST_ID]
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

const [host, credentialsFile, maxMsText, firstIdText] = process.argv.slice(2);
const field = (name) =>
  new RegExp(`^${name}\\s*=\\s*"?([^"\\n]*)"?\\s*$`, 'm').exec(readFileSync(credentialsFile, 'utf8'))?.[1];
const user = field('user');
const password = field('password');
const stopAt = Date.now() + Number(maxMsText);
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

let connection;
let id = Number(firstIdText ?? 1) - 1;
while (!stopping && Date.now() < stopAt) {
  try {
    connection ??= await mysql.createConnection({ host, port: 3306, user, password, connectTimeout: 1000 });
    const next = id + 1;
    await connection.query({ sql: 'INSERT INTO app.sw (id) VALUES (?)', timeout: 2000 }, [next]);
    id = next;
    process.stdout.write(`ack ${id}\n`);
  } catch (error) {
    // The commit of an earlier try landed although its answer was lost: not acknowledged, move on.
    if (error.code === 'ER_DUP_ENTRY') id += 1;
    process.stdout.write(`err ${error.code ?? error.message}\n`);
    connection?.destroy();
    connection = undefined;
    await sleep(20);
  }
  await sleep(5);
}
connection?.destroy();
