// `hactl check tcp` through the built CLI against a listener on 127.0.0.1 and a closed port.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHactl } from '../support/cli.js';
import { freePort } from '../support/ports.js';

describe('hactl check tcp', () => {
  let server: Server;
  let openPort: number;
  let closedPort: number;

  beforeAll(async () => {
    openPort = await freePort();
    closedPort = await freePort();
    server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(openPort, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('open port → exit 0', async () => {
    const run = await runHactl(['check', 'tcp', '--host', '127.0.0.1', '--port', String(openPort)]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^ok tcp: connected to 127\\.0\\.0\\.1:${openPort} in \\d+ ms\\n$`),
    );
  });

  it('closed port → exit 1 with the reason on stderr', async () => {
    const run = await runHactl([
      'check',
      'tcp',
      '--host',
      '127.0.0.1',
      '--port',
      String(closedPort),
      '--quiet',
      '--timeout',
      '5',
    ]);
    expect(run).toMatchObject({ exitCode: 1, stdout: '' });
    expect(run.stderr).toBe(`hactl: tcp: cannot connect to 127.0.0.1:${closedPort}: connection refused\n`);
    // The refusal ends the check, not the budget: well before 5 s even when node starts slowly
    // (a 0.5 s budget, counted from the process start, ran out on a loaded machine before the connect).
    expect(run.durationMs).toBeLessThan(4_000);
  });

  it.each([
    [['--host', '127.0.0.1'], /needs --port/],
    [['--port', '80'], /needs --host/],
    [['--host', '127.0.0.1', '--port', '70000'], /--port "70000" is not an integer in 1\.\.65535/],
    [['--host', '127.0.0.1', '--port', 'http'], /--port "http"/],
  ])('%j → exit 2 with a hint', async (flags, why) => {
    const run = await runHactl(['check', 'tcp', ...flags]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toMatch(/hint: run `hactl check tcp --help`/);
  });
});
