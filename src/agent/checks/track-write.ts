/**
 * Reading a track file's value, bounded, and writing one the way keepalived must see it: the
 * whole value or the old one, never an empty or half-written file (keepalived re-reads on
 * close-after-write and on a rename into the directory, and an empty file reads as 0). So: write
 * a temporary file in the same directory, then rename it over the track file. The temporary name
 * starts with a dot, which no check name (an identifier: a letter first) can, so keepalived never
 * mistakes it for a tracked file.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { trackFileText } from '../contract.js';

/** The temporary file next to `path` that a write from this process goes through. */
export function tempFor(path: string, tag = String(process.pid)): string {
  return join(dirname(path), `.${basename(path)}.${tag}.tmp`);
}

/** Atomically replaces `path` with `value` (plain decimal and a newline). */
export async function writeTrackValue(path: string, value: number): Promise<void> {
  const temp = tempFor(path);
  try {
    await writeFile(temp, trackFileText(value), { mode: 0o644 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** The track directory for `path`, created if missing (the caller has vetted the runtime dir). */
export async function ensureTrackDir(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
}

/**
 * The value a track file holds, or null when it is missing, unreadable, not a plain integer, or not
 * read before `signal` aborts (every reader bounds it: a stalled file system must not stall them).
 */
export async function readTrackValue(path: string, signal: AbortSignal): Promise<number | null> {
  try {
    const text = (await readFile(path, { encoding: 'utf8', signal })).trim();
    return /^-?\d{1,6}$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}
