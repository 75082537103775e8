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

  it('refuses a credentials file others can read, with the fix', async () => {
    const file = join(dir, 'creds.cnf');
    writeFileSync(file, '[client]\nuser=u\npassword=TopSecret\n');
    chmodSync(file, 0o644);
    await expect(assertPrivateFile(file)).rejects.toThrow(/mode 0644.*chmod 600/);
    await expect(readOptionFile(file)).rejects.toThrow(ConfigError);
    expect((await readOptionFile(file, { requirePrivate: false })).user).toBe('u');
    chmodSync(file, 0o600);
    expect(await readOptionFile(file)).toEqual({ user: 'u', password: 'TopSecret' });
    chmodSync(file, 0o400);
    await expect(assertPrivateFile(file)).resolves.toBeUndefined();
    await expect(assertPrivateFile(join(dir, 'missing.cnf'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses what is not a small regular file, even where the mode rule is skipped', async () => {
    // /dev/zero would never end; a directory or a huge file is no option file either.
    await expect(readOptionFile('/dev/zero', { requirePrivate: false })).rejects.toThrow(
      'credentials file /dev/zero is not a regular file; point it at a [client] option file',
    );
    await expect(readOptionFile(dir, { requirePrivate: false })).rejects.toThrow(/is not a regular file/);
    const huge = join(dir, 'huge.cnf');
    writeFileSync(huge, `[client]\n${'#'.repeat(70_000)}\n`);
    chmodSync(huge, 0o600);
    await expect(readOptionFile(huge)).rejects.toThrow(/70\d{3} bytes, more than an option file needs/);
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
