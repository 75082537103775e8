/**
 * The comparison row: the lab's keepalived with seed 004's notify script (bench/chaos/naive-notify.sh)
 * in place of `hactl notify`. Everything else (checks, election, nopreempt) stays what hactl renders,
 * so the difference measured is the promotion logic alone.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/lab/lab.js';
import { templatePath } from '../../src/spec/load.js';

const NOTIFY_LINE = 'notify "{{notify}}"';

/** Writes the naive template for a lab in `labDir`; returns its path and a remover. */
export function writeNaiveTemplate(labDir: string): { path: string; remove: () => void } {
  const bundled = readFileSync(templatePath('keepalived.conf.mustache'), 'utf8');
  if (!bundled.includes(NOTIFY_LINE))
    throw new Error(`the bundled keepalived template has no ${NOTIFY_LINE} line to replace`);
  const script = join(packageRoot(), 'bench', 'chaos', 'naive-notify.sh');
  const path = `/tmp/hactl-chaos-naive-${process.pid}.mustache`;
  writeFileSync(path, bundled.replaceAll(NOTIFY_LINE, `notify "${script} ${labDir}"`), { mode: 0o644 });
  return { path, remove: () => rmSync(path, { force: true }) };
}
