/** hactl render-config: spec → keepalived.conf for every node, printed or written atomically. */
import { CommandFailed } from '../errors.js';
import { lintSpec } from '../keepalived/lint.js';
import { renderAll } from '../keepalived/render.js';
import { validateRendered } from '../keepalived/validate.js';
import { writeFileAtomic } from '../fs-atomic.js';
import { exampleSpecPath, loadSpec } from '../spec/load.js';
import { commandParser } from './parse.js';
import { join } from 'node:path';

const USAGE = `hactl render-config [--spec FILE] [--node NAME] [--out-dir DIR] [--validate]

Renders keepalived.conf for every node of the spec. Without --spec it renders the bundled example
(${'`hactl init`'} writes it out to edit). Without --out-dir every node's file goes to stdout, each after
a "### node NAME" line; with --out-dir each goes to DIR/NAME/keepalived.conf (written atomically,
mode 0640). The spec is linted first: errors stop the render.`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('spec', { type: 'string', describe: 'spec file (YAML); default: the bundled example' })
    .option('node', { type: 'string', describe: 'render only this node' })
    .option('out-dir', { type: 'string', describe: 'write DIR/<node>/keepalived.conf instead of printing' })
    .option('validate', {
      type: 'boolean',
      default: false,
      describe: 'run `keepalived -t` on each rendered file (needs keepalived and the interfaces)',
    })
    .parseAsync();

  const loaded = loadSpec(args.spec ?? exampleSpecPath());
  const findings = lintSpec(loaded.spec);
  const errors = findings.filter((finding) => finding.severity === 'error');
  for (const finding of findings.filter((f) => f.severity === 'warning')) {
    process.stderr.write(`warning: ${finding.path}: ${finding.message}\n`);
  }
  if (errors.length > 0) {
    throw new CommandFailed(
      `${loaded.path} has ${errors.length} problem(s) that would make keepalived misbehave:\n  ${errors
        .map((e) => `${e.path}: ${e.message}`)
        .join('\n  ')}`,
    );
  }

  const rendered = renderAll(loaded, args.node);
  if (args.validate) {
    const failures = (await validateRendered(rendered)).filter((result) => !result.ok);
    if (failures.length > 0) {
      throw new CommandFailed(failures.map((f) => `node ${f.node}: ${f.message}`).join('\n'));
    }
  }
  if (args.outDir !== undefined) {
    for (const { node, text } of rendered) {
      const path = join(args.outDir, node, 'keepalived.conf');
      writeFileAtomic(path, text, 0o640);
      process.stdout.write(`wrote ${path}\n`);
    }
  } else {
    process.stdout.write(rendered.map(({ node, text }) => `### node ${node}\n${text}`).join('\n'));
  }
  return 0;
}
