/**
 * A session on a proxy's admin interface (ProxySQL, Atlas): MySQL protocol, text queries only
 * (neither supports prepared statements there), credentials from an option file.
 */
import { connectWith, type MysqlSession } from '../mysql/connection.js';
import { readOptionFile } from '../mysql/option-file.js';

export async function adminSession(
  target: { admin_host: string; admin_port: number; credentials_file: string },
  signal: AbortSignal,
): Promise<MysqlSession> {
  const file = await readOptionFile(target.credentials_file);
  return connectWith(
    {
      user: file.user ?? 'admin',
      ...(file.password === undefined ? {} : { password: file.password }),
      host: target.admin_host,
      port: target.admin_port,
    },
    { timeoutMs: 3000, signal },
  );
}

/** A string literal for admin SQL; values come from the validated spec (addresses), never from users. */
export function literal(value: string | number): string {
  return typeof value === 'number' ? String(value) : `'${value.replace(/'/g, "''")}'`;
}
