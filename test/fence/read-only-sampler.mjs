// Samples @@GLOBAL.read_only of the MariaDB on 127.0.0.1:3306 every <every-ms> for at most
// <max-ms>, printing one JSON line per sample: {"s": asked at, "t": answered at, "at": the
// server's own clock when it ran the statement (all ms since epoch; the lab's servers share this
// machine's clock, so "at" orders samples of two servers exactly), "ro": 0|1|null}. Run inside a
// lab node's namespace (`ip netns exec <ns> node read-only-sampler.mjs …`). A killed session (a
// fence ends every client session) is reopened on the next tick; a failed sample says null.
// Usage: node read-only-sampler.mjs <option-file> <every-ms> <max-ms>
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';

const [file, everyArg, maxArg] = process.argv.slice(2);
const every = Number(everyArg);
const until = Date.now() + Number(maxArg);
const options = {};
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = /^\s*(user|password)\s*=\s*(.*?)\s*$/.exec(line);
  if (m) options[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
}
let connection;
const sample = async () => {
  try {
    connection ??= await mysql.createConnection({
      host: '127.0.0.1',
      port: 3306,
      user: options.user,
      password: options.password ?? '',
      connectTimeout: 500,
    });
    const [rows] = await connection.query({
      sql: 'SELECT @@GLOBAL.read_only AS ro, UNIX_TIMESTAMP(NOW(6)) * 1000 AS at',
      timeout: 500,
    });
    return { ro: Number(rows[0].ro), at: Math.round(Number(rows[0].at)) };
  } catch {
    connection?.destroy();
    connection = undefined;
    return { ro: null, at: null };
  }
};
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
while (Date.now() < until) {
  const started = Date.now();
  const { ro, at } = await sample();
  process.stdout.write(`${JSON.stringify({ s: started, t: Date.now(), at, ro })}\n`);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, every - (Date.now() - started))));
}
connection?.destroy();
process.exit(0);
