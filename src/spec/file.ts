/** Reading a spec file's bytes, with the one error message for a missing or unreadable file. No YAML, no zod. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export function readSpecBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `spec file ${path} does not exist; pass --spec FILE or create one with \`hactl init\``
        : `cannot read spec file ${path}: ${code ?? String(error)}`,
    );
  }
}
