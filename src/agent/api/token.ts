/**
 * The agent API's shared token: read from agent.api.token_file (asynchronously, bounded), and only
 * from a regular file nobody but its owner can read. The token itself is never logged, echoed or
 * put into an error: messages name the field, the file and its mode.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { problemWithUserPath } from '../../fs/user-path.js';

export const TOKEN_FIELD = 'agent.api.token_file';
const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_BYTES = 4096;

/** Why a token file cannot be used, in words that name the field, the file and the fix. */
export class TokenFileProblem extends Error {}

/**
 * Reads the token. `strict` (the agent): refuse a file group or others can access. hactl status
 * reads with the same rules, so an operator sees the same sentence from both.
 */
export async function readTokenFile(path: string, signal?: AbortSignal): Promise<string> {
  const vetted = await problemWithUserPath(path, TOKEN_FIELD);
  if (vetted) throw new TokenFileProblem(vetted);
  let handle;
  try {
    // O_NONBLOCK: a FIFO put in its place must not block the open; O_NOFOLLOW: no symlink games.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new TokenFileProblem(
      code === 'ELOOP'
        ? `${TOKEN_FIELD} ${path} is a symbolic link; name the file itself`
        : `${TOKEN_FIELD} ${path} cannot be opened (${code}); create it with a random token: (umask 077; openssl rand -hex 32 > ${path})`,
    );
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw new TokenFileProblem(
        `${TOKEN_FIELD} ${path} is not a regular file; put the token in a plain file`,
      );
    const mode = stats.mode & 0o777;
    if ((mode & 0o077) !== 0)
      throw new TokenFileProblem(
        `${TOKEN_FIELD} ${path} has mode ${mode.toString(8).padStart(4, '0')}: group or others may access the token; run chmod 600 ${path}`,
      );
    if (stats.size > MAX_TOKEN_BYTES)
      throw new TokenFileProblem(
        `${TOKEN_FIELD} ${path} is ${stats.size} bytes; a token file holds one line`,
      );
    signal?.throwIfAborted();
    const buffer = Buffer.alloc(MAX_TOKEN_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const token = buffer.subarray(0, bytesRead).toString('utf8').trim();
    if (token.length === 0)
      throw new TokenFileProblem(
        `${TOKEN_FIELD} ${path} is empty; write a random token into it: openssl rand -hex 32 > ${path}`,
      );
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
      throw new TokenFileProblem(
        `${TOKEN_FIELD} ${path} does not hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces; write one: openssl rand -hex 32 > ${path}`,
      );
    return token;
  } finally {
    await handle.close();
  }
}

/** Constant-time check of an `Authorization: Bearer …` header against the token. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  // Hashing first makes both sides the same length, so timingSafeEqual never throws or leaks it.
  const given = createHash('sha256').update(header.slice('Bearer '.length)).digest();
  const wanted = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, wanted);
}
