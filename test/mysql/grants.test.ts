import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ADMIN_ACCOUNT, REPLICATION_ACCOUNT } from '../../src/mysql/grants.js';

describe('the grants the README tells operators to give', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  it.each([
    ['admin', ADMIN_ACCOUNT],
    ['replication', REPLICATION_ACCOUNT],
  ])(
    '%s account: both flavours are listed exactly as the code (and the notify tests) use them',
    (_name, account) => {
      expect(readme).toContain(`\`${account.mariadb}\``);
      expect(readme).toContain(`\`${account.mysql}\``);
    },
  );
});
