/**
 * A cap on what a peer may send: a stream that delivers more than `maxBytes` is destroyed with a
 * ReadLimitExceeded error, so a peer that floods (a gigabyte of garbage instead of a MySQL
 * greeting) costs at most that much memory, whoever reads the stream.
 */
import type { Duplex } from 'node:stream';

export class ReadLimitExceeded extends Error {
  readonly code = 'READ_LIMIT';
  constructor(readonly maxBytes: number) {
    super(`the peer sent more than ${maxBytes} bytes, the most this reads; closed the connection`);
  }
}

/** Counts the bytes `stream` delivers; listen before any other reader so the cap comes first. */
export function capReads<S extends Duplex>(stream: S, maxBytes: number): S {
  let read = 0;
  const count = (chunk: Buffer | string) => {
    read += chunk.length;
    if (read > maxBytes) {
      stream.off('data', count);
      stream.destroy(new ReadLimitExceeded(maxBytes));
    }
  };
  stream.on('data', count);
  return stream;
}

/**
 * Reads a whole HTTP answer body (an async iterable of chunks) unless it grows past `maxBytes`;
 * then the body is destroyed and undefined returned, having held at most that much.
 */
export async function readCappedBody(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  maxBytes: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
