/**
 * The Atlas admin stand-in as a program, for the lab (bundled by test/e2e/proxy.test.ts and run
 * inside a node's namespace): argv PORT CREDENTIALS_FILE STATE_FILE INITIAL_JSON. It serves
 * test/actions/fake-admin.ts on 127.0.0.1:PORT and, after every statement, replaces STATE_FILE
 * with its backends, so a test outside the namespace can sample them.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { startFakeAdmin, type Backend, type FakeAdmin } from '../actions/fake-admin.js';

async function main(): Promise<void> {
  const [port, credentialsFile, stateFile, initial] = process.argv.slice(2);
  if (!port || !credentialsFile || !stateFile || !initial)
    throw new Error('usage: atlas-standin PORT CREDENTIALS_FILE STATE_FILE INITIAL_JSON');
  const text = readFileSync(credentialsFile, 'utf8');
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  let last = '';
  const publish = (state: FakeAdmin) => {
    const json = JSON.stringify({ backends: state.atlas.backends, saved: state.atlas.saved ?? null });
    if (json === last) return;
    last = json;
    writeFileSync(`${stateFile}.tmp`, json);
    renameSync(`${stateFile}.tmp`, stateFile);
  };
  const fake = await startFakeAdmin(
    'atlas',
    { user: value('user'), password: value('password') },
    { host: '127.0.0.1', port: Number(port), onStatement: publish },
  );
  fake.atlas.backends.push(...(JSON.parse(initial) as Backend[]));
  publish(fake);
  process.on('SIGTERM', () => void fake.close().finally(() => process.exit(0)));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
