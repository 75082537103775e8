/**
 * Reading what a log file gained since an offset. Offsets are bytes (a file's size), so the tail is
 * cut from the bytes before decoding: slicing the decoded text by a byte count would start in the
 * wrong place once the file holds a multi-byte character.
 */
import { readFileSync, statSync } from 'node:fs';

/** The file's size in bytes; 0 while it does not exist. */
export function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Everything written to the file after byte `from`; '' while it does not exist. */
export function logSince(path: string, from: number): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return '';
  }
  return bytes.subarray(from).toString('utf8');
}
