import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_ACCOUNT, REPLICATION_ACCOUNT } from '../../src/mysql/grants.js';
import { runHactl } from '../support/cli.js';

const ACCOUNTS = [
  ['admin', ADMIN_ACCOUNT],
  ['replication', REPLICATION_ACCOUNT],
] as const;

describe('the grants hactl tells operators to give', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it.each(ACCOUNTS)(
    '%s account: README lists both flavours exactly as the code (and the notify tests) use them',
    (_name, account) => {
      expect(readme).toContain(`\`${account.mariadb}\``);
      expect(readme).toContain(`\`${account.mysql}\``);
    },
  );

  it('hactl init prints the same GRANT statements after writing the spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-init-grants-'));
    try {
      const result = await runHactl(['init', '--out', join(dir, 'hactl.yaml')], { timeoutMs: 30_000 });
      expect(result.exitCode, result.stderr).toBe(0);
      for (const [, account] of ACCOUNTS) {
        expect(result.stdout).toContain(`GRANT ${account.mariadb} TO`);
        expect(result.stdout).toContain(`GRANT ${account.mysql} TO`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
