/**
 * The lab's single-active application (seed 002's shape): a tiny TCP server that only the MASTER
 * runs. The spec's service action starts it on promotion and stops it on demotion, each node
 * keeping its PID in its own directory; `lab down` stops whatever is left, by PID and only if the
 * command line is still ours.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopFromPidFile } from './processes.js';
import { LAB_APP_PORT } from './spec.js';

/** The server's file name, in the lab dir; also the marker a PID must carry to be stopped. */
export const LAB_APP_MARKER = 'lab-app.cjs';

/** The start/stop script: spec argv may hold no spaces or quotes, so the logic lives in a file. */
export const LAB_APP_SCRIPT = 'lab-app.sh';

/**
 * Writes the server and its start/stop script into the lab dir; returns the script's path. The PID
 * file is per node ($HACTL_NODE, set for every action): the spec is shared. start is idempotent (a
 * running app is left alone) and returns once the app accepts connections (10 s at most); stop
 * succeeds when nothing runs.
 */
export function writeLabApp(labDir: string): string {
  const server = join(labDir, LAB_APP_MARKER);
  writeFileSync(
    server,
    // A client that resets the connection (the tcp check closes at once) must not crash the app.
    `require('node:net').createServer((s) => s.on('error', () => {}).end('app\\n')).listen(${LAB_APP_PORT}, '127.0.0.1');\n`,
  );
  const script = join(labDir, LAB_APP_SCRIPT);
  writeFileSync(
    script,
    [
      '#!/bin/bash',
      `pidfile="${labDir}/$HACTL_NODE/app.pid"`,
      // Whether it serves, not whether its PID exists: a killed app can linger as a zombie where
      // nothing reaps orphans (kill -0 succeeds on one).
      `serves() { (exec 3<>/dev/tcp/127.0.0.1/${LAB_APP_PORT}) 2>/dev/null; }`,
      'case "$1" in',
      '  start)',
      '    serves && exit 0',
      `    "${process.execPath}" "${server}" </dev/null >/dev/null 2>&1 &`,
      '    echo $! > "$pidfile"',
      // A start returns once the application serves (as systemctl start does for a notify or
      // forking unit): its check counts as soon as MASTER is applied.
      '    for i in $(seq 1 100); do serves && exit 0; sleep 0.1; done',
      '    exit 1 ;;',
      '  stop)',
      '    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile"; fi',
      '    for i in $(seq 1 50); do serves || exit 0; sleep 0.1; done',
      '    exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return script;
}

/** argv for the spec's service action. */
export function labAppCommands(script: string): { start: string[]; stop: string[] } {
  return { start: ['/bin/bash', script, 'start'], stop: ['/bin/bash', script, 'stop'] };
}

export async function stopLabApp(nodeDir: string): Promise<void> {
  await stopFromPidFile(join(nodeDir, 'app.pid'), LAB_APP_MARKER, 5_000);
}
