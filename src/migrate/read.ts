/**
 * Reading an operator's file (a keepalived.conf, a check script it names) without surprises: only
 * a regular file, only up to a size, only async calls under one deadline, so a FIFO or a path
 * under /proc in a config cannot hang lint.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';

export const CONF_SIZE_LIMIT = 1024 * 1024;
export const SCRIPT_SIZE_LIMIT = 64 * 1024;

export type ReadResult = { ok: true; text: string } | { ok: false; reason: string };

const PSEUDO_TREES = ['/proc', '/sys', '/dev'];

export async function readBoundedText(
  path: string,
  maxBytes: number,
  timeoutMs = 5_000,
): Promise<ReadResult> {
  if (path === '' || path.includes('\0')) return { ok: false, reason: 'not a usable path' };
  const absolute = resolve(path);
  if (PSEUDO_TREES.some((tree) => absolute === tree || absolute.startsWith(tree + '/'))) {
    return { ok: false, reason: 'it is under a pseudo-filesystem' };
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ReadResult>((done) => {
    timer = setTimeout(() => {
      done({ ok: false, reason: `reading it took over ${timeoutMs / 1000} s` });
    }, timeoutMs);
  });
  const work = (async (): Promise<ReadResult> => {
    let handle;
    try {
      handle = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return {
        ok: false,
        reason: code === 'ENOENT' ? 'it does not exist' : `it cannot be opened (${code ?? 'error'})`,
      };
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) return { ok: false, reason: 'it is not a regular file' };
      if (info.size > maxBytes) return { ok: false, reason: `it is larger than ${maxBytes} bytes` };
      const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
      const { bytesRead } = await handle.read({ buffer, position: 0 });
      if (bytesRead > maxBytes) return { ok: false, reason: `it is larger than ${maxBytes} bytes` };
      return { ok: true, text: buffer.subarray(0, bytesRead).toString('utf8') };
    } finally {
      await handle.close();
    }
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
