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

/** The script's file name, in the lab dir; also the marker a PID must carry to be stopped. */
export const LAB_APP_MARKER = 'lab-app.cjs';

export function writeLabApp(labDir: string): string {
  const path = join(labDir, LAB_APP_MARKER);
  writeFileSync(
    path,
    `require('node:net').createServer((s) => s.end('app\\n')).listen(${LAB_APP_PORT}, '127.0.0.1');\n`,
  );
  return path;
}

/**
 * argv for the service action. The PID file is per node ($HACTL_NODE, set for every action): the
 * spec is shared. start is idempotent (a running app is left alone) and returns at once; stop
 * succeeds when nothing runs.
 */
export function labAppCommands(script: string, labDir: string): { start: string[]; stop: string[] } {
  return {
    start: [
      '/bin/sh',
      '-c',
      'p="$2/$HACTL_NODE/app.pid"; if [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then exit 0; fi; "$0" "$1" </dev/null >/dev/null 2>&1 & echo $! > "$p"',
      process.execPath,
      script,
      labDir,
    ],
    stop: [
      '/bin/sh',
      '-c',
      'p="$0/$HACTL_NODE/app.pid"; if [ -f "$p" ]; then kill "$(cat "$p")" 2>/dev/null; rm -f "$p"; fi; exit 0',
      labDir,
    ],
  };
}

export async function stopLabApp(nodeDir: string): Promise<void> {
  await stopFromPidFile(join(nodeDir, 'app.pid'), LAB_APP_MARKER, 5_000);
}
