/** Watching a small file another process writes (track files, state files) from a test. */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The file's text, or undefined while it does not exist (or cannot be read). */
export async function readValue(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Polls the file every 10 ms until it holds `text`; returns the ms it took, else throws naming both. */
export async function waitForValue(file: string, text: string, boundMs: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < boundMs / 10 + 1; i++) {
    if ((await readValue(file)) === text) return performance.now() - start;
    if (performance.now() - start > boundMs) break;
    await sleep(10);
  }
  throw new Error(
    `${file} did not read ${JSON.stringify(text)} within ${boundMs} ms (it reads ${JSON.stringify(await readValue(file))})`,
  );
}
