/**
 * The lab restarts keepalived after killing it (node loss, heal). Its pid files stay behind, and
 * with pid_max at 32768 and the lab spawning many processes, a stale file can name a live,
 * unrelated process: keepalived then takes itself for running and exits at once (CI v42 and two
 * chaos runs: "keepalived exited right after start"). startKeepalived must clear such files.
 * Only the PIDs this test started are signalled; the namespace and files go also on failure.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { keepalivedFiles, startKeepalived, stopKeepalived } from '../../src/lab/keepalived.js';
import { isAlive } from '../../src/lab/processes.js';
import { createNamespace, deleteNamespace } from '../support/netns.js';
import { requirementsMissing, titled } from '../support/requirements.js';

const missing = requirementsMissing({ root: true, programs: ['ip', 'keepalived'] });

const CONF = `global_defs {
  router_id lab_restart
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    192.0.2.99/32
  }
}
`;

describe.skipIf(missing)(titled('lab: keepalived restarted over stale pid files', missing), () => {
  it('a pid file naming a live process that is not keepalived does not stop it from starting', async () => {
    const ns = `hactl-kr-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), `hactl-kr-${process.pid}-`));
    const files = keepalivedFiles(dir);
    const stranger = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      createNamespace(ns, ['eth0']);
      execFileSync('ip', ['-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0'], { timeout: 10_000 });
      writeFileSync(files.conf, CONF);
      // What a killed keepalived leaves when its PIDs went to other processes since.
      for (const file of [files.pid, files.vrrpPid, files.checkPid]) writeFileSync(file, `${stranger.pid}\n`);
      const pid = await startKeepalived(files, ns);
      expect(isAlive(pid)).toBe(true);
      expect(pid).not.toBe(stranger.pid);
      expect(isAlive(stranger.pid!)).toBe(true);
    } finally {
      await stopKeepalived(files).catch(() => false);
      stranger.kill('SIGKILL');
      deleteNamespace(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
