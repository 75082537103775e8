import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { redact } from '../../src/mysql/connection.js';
import {
  assertPrivateFile,
  parseOptionFile,
  readOptionFile,
  renderClientSection,
} from '../../src/mysql/option-file.js';

const dir = mkdtempSync(join(tmpdir(), 'hactl-optfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('option files', () => {
  it('reads [client] with quotes, escapes, comments and dashes', () => {
    const text = [
      '# credentials for hactl',
      '[mysqld]',
      'user=mysql',
      '[client]',
      'user = "hactl"   ',
      "password = 'se#cret;x'",
      'host=127.0.0.1 # inline comment',
      '; another comment',
      'port = 23306',
      'socket=/run/mysqld/mysqld.sock',
      '[mysql]',
      'user=other',
    ].join('\n');
    expect(parseOptionFile(text, 'f')).toEqual({
      user: 'hactl',
      password: 'se#cret;x',
      host: '127.0.0.1',
      port: 23306,
      socket: '/run/mysqld/mysqld.sock',
    });
    expect(parseOptionFile('[client]\npassword="a\\"b\\\\c"\n', 'f').password).toBe('a"b\\c');
  });

  it('round-trips what renderClientSection writes, awkward passwords included', () => {
    const password = `x'"\\;# y`;
    expect(parseOptionFile(renderClientSection({ user: 'u', password, port: 1 }), 'f')).toEqual({
      user: 'u',
      password,
      port: 1,
    });
  });

  it('errors name the file and never the password', () => {
    let error: unknown;
    try {
      parseOptionFile('[client]\npassword="Sup3rSecret\n', '/etc/x.cnf');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('/etc/x.cnf line 2');
    expect((error as Error).message).not.toContain('Sup3rSecret');
    expect(() => parseOptionFile('!include /etc/other.cnf\n', 'f')).toThrow(/not supported/);
    expect(() => parseOptionFile('[client]\nport=99999\n', 'f')).toThrow(/not a TCP port/);
  });

  it('refuses a credentials file others can read, with the fix', () => {
    const file = join(dir, 'creds.cnf');
    writeFileSync(file, '[client]\nuser=u\npassword=TopSecret\n');
    chmodSync(file, 0o644);
    expect(() => assertPrivateFile(file)).toThrow(/mode 0644.*chmod 600/);
    expect(() => readOptionFile(file)).toThrow(ConfigError);
    expect(readOptionFile(file, { requirePrivate: false }).user).toBe('u');
    chmodSync(file, 0o600);
    expect(readOptionFile(file)).toEqual({ user: 'u', password: 'TopSecret' });
    chmodSync(file, 0o400);
    expect(() => assertPrivateFile(file)).not.toThrow();
    expect(() => assertPrivateFile(join(dir, 'missing.cnf'))).toThrow(/ENOENT/);
  });

  it('redact removes raw and SQL-escaped forms', () => {
    expect(redact(`near 'it\\'s' and it's`, ["it's"])).toBe(`near '[redacted]' and [redacted]`);
  });
});

describe('redact', () => {
  it('matches the driver escaping of awkward passwords', async () => {
    const { escape } = await import('mysql2/promise');
    const secret = `a'b"c\\d\ne\0f`;
    const quoted = escape(secret);
    const message = `You have an error near ${quoted} at line 1; raw ${secret}`;
    expect(redact(message, [secret])).toBe(`You have an error near '[redacted]' at line 1; raw [redacted]`);
  });
});
