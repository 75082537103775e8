/**
 * Runs a hactl command inside the test process, through the same runCommand that bin/hactl uses,
 * capturing what it writes. A spawn of the built CLI costs ~60 ms before any work; the corpus
 * runs hundreds of cases this way and a sample through the real binary.
 */
import { forgetSecrets } from '../../src/errors.js';
import { runCommand, type CommandMain } from '../../src/run.js';

export interface InProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const COMMANDS: Record<string, () => Promise<{ main: CommandMain }>> = {
  lint: () => import('../../src/commands/lint.js'),
  'render-config': () => import('../../src/commands/render-config.js'),
};

/** One command run with fresh per-process state (the remembered secrets), as a new process would have. */
export async function runInProcess(command: string, args: string[]): Promise<InProcessResult> {
  const load = COMMANDS[command];
  if (!load) throw new Error(`no in-process entry for ${command}`);
  forgetSecrets();
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  const start = performance.now();
  try {
    const exitCode = await runCommand(load, args);
    return { exitCode, stdout, stderr, durationMs: performance.now() - start };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
