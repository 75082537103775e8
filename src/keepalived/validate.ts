/** Runs the real `keepalived -t` on rendered files and explains its exit codes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RenderedNode } from './render.js';

export interface ValidationResult {
  node: string;
  ok: boolean;
  exitCode: number | undefined;
  message: string;
  /** keepalived's own diagnostics (stderr), for the operator. */
  output: string;
}

const MEANINGS: Record<number, string> = {
  0: 'keepalived accepts the configuration',
  4: 'keepalived cannot run with this configuration',
  5: 'keepalived found errors in the configuration (it would run, but not as intended)',
  6: 'keepalived would refuse the scripts: script security is not enabled',
  143: 'keepalived -t killed itself: keepalived 2.2.7 does this when script_user is not root',
};

export function explainExitCode(code: number | undefined): string {
  if (code === undefined) return 'keepalived -t did not finish';
  return MEANINGS[code] ?? `keepalived -t exited with unexpected code ${code}`;
}

/** The lines of keepalived's output worth showing: its complaints, not its banner. */
function complaints(output: string): string {
  return output
    .split('\n')
    .filter((line) =>
      /error|unknown|warning|invalid|not found|ignor|security|insecure|cannot|fail/i.test(line),
    )
    .slice(0, 20)
    .join('\n');
}

export async function validateFile(
  path: string,
  options: { netns?: string; keepalived?: string } = {},
): Promise<Omit<ValidationResult, 'node'>> {
  const keepalived = options.keepalived ?? 'keepalived';
  const command = options.netns ? ['ip', 'netns', 'exec', options.netns, keepalived] : [keepalived];
  const [file, ...rest] = command;
  const result = await execa(file!, [...rest, '-t', '-e', '-l', '-f', path], {
    reject: false,
    timeout: 15_000,
    stdin: 'ignore',
    all: true,
  });
  if (result.failed && result.exitCode === undefined) {
    const reason =
      (result as { code?: string }).code === 'ENOENT'
        ? 'keepalived is not installed (apt-get install keepalived)'
        : String(result.shortMessage ?? 'keepalived -t failed to start');
    return { ok: false, exitCode: undefined, message: reason, output: '' };
  }
  const output = String(result.all ?? '');
  const exitCode = result.exitCode;
  const ok = exitCode === 0;
  const details = ok ? '' : complaints(output);
  return { ok, exitCode, message: explainExitCode(exitCode) + (details ? `:\n${details}` : ''), output };
}

export async function validateRendered(
  rendered: RenderedNode[],
  options: { netns?: (node: string) => string } = {},
): Promise<ValidationResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-validate-'));
  try {
    const results: ValidationResult[] = [];
    for (const { node, text } of rendered) {
      const path = join(dir, `${node}.conf`);
      writeFileSync(path, text, { mode: 0o600 });
      const netns = options.netns?.(node);
      results.push({ node, ...(await validateFile(path, netns ? { netns } : {})) });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
