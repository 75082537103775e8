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
