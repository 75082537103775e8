// The benches drive the namespace lab through the built CLI (bin/hactl lab …), as an operator would.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const HACTL = fileURLToPath(new URL('../bin/hactl', import.meta.url));

/** `hactl lab ARGS --prefix PREFIX`, bounded by timeoutMs: its exit code and output, never a throw. */
export function runLab(prefix, args, timeoutMs = 120_000) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [HACTL, 'lab', ...args, '--prefix', prefix],
      { timeout: timeoutMs },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** As runLab, but a failure throws with the command and the last line the CLI printed. */
export async function mustLab(prefix, args, timeoutMs) {
  const result = await runLab(prefix, args, timeoutMs);
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n').at(-1) || `exit ${result.code}`;
    throw new Error(`hactl lab ${args.join(' ')} failed: ${why}`);
  }
  return result.stdout;
}
