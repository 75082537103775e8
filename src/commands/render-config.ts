/** hactl render-config: spec → keepalived.conf for every node, printed or written all-or-nothing. */
import { CommandFailed, UsageError } from '../errors.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { writeFilesAtomic, type OutputFile } from '../fs-atomic.js';
import { lintSpec } from '../keepalived/lint.js';
import { AGENT_UNIT_NAME, renderAll } from '../keepalived/render.js';
import { validateRendered } from '../keepalived/validate.js';
import { exampleSpecPath, findNode, loadSpec } from '../spec/load.js';
import { commandParser } from './parse.js';
import { join } from 'node:path';

const USAGE = `hactl render-config [--spec FILE] [--node NAME] [--out FILE [--unit-out FILE] | --out-dir DIR] [--validate]

Renders keepalived.conf for the nodes of the spec. Without --spec it renders the bundled example
(${'`hactl init`'} writes it out to edit). The spec is linted first: errors stop the render.
- no --out/--out-dir: every node's file (or --node's) to stdout, each after "### node NAME"
- --out FILE: this machine's node only (found by hostname, or --node NAME) to FILE
- --out-dir DIR: every node's file (or --node's) to DIR/NAME/keepalived.conf
With agent.enabled each node also gets its ${AGENT_UNIT_NAME} (systemd unit of hactl agent):
printed after its config, written to DIR/NAME/${AGENT_UNIT_NAME}, or with --out to --unit-out FILE
(e.g. /etc/systemd/system/${AGENT_UNIT_NAME}; mode 0644).
Files are mode 0640 and written all or nothing: every file is rendered and checked (with
--validate: accepted by keepalived -t) before any is written; a failure leaves every previous
file as it was. A symlink is written through (its target is replaced, the link stays); a
directory, device, FIFO or socket in the way is refused (exit 2).

The one command a node needs (as root, on the node):
  hactl render-config --spec /etc/hactl/hactl.yaml --out /etc/keepalived/keepalived.conf --validate`;

export async function main(argv: string[]): Promise<number> {
  const args = await commandParser(argv, USAGE)
    .option('spec', { type: 'string', describe: 'spec file (YAML); default: the bundled example' })
    .option('node', {
      type: 'string',
      describe: 'render only this node; with --out: this machine is that node',
    })
    .option('out', {
      type: 'string',
      describe: "write this machine's node to FILE instead of printing",
      conflicts: 'out-dir',
    })
    .option('unit-out', {
      type: 'string',
      describe: `agent mode, with --out: write this node's ${AGENT_UNIT_NAME} to FILE`,
    })
    .option('out-dir', { type: 'string', describe: 'write DIR/<node>/keepalived.conf instead of printing' })
    .option('validate', {
      type: 'boolean',
      default: false,
      describe:
        'run `keepalived -t` on each rendered file before writing (needs keepalived and the interfaces)',
    })
    .parseAsync();

  // The output path is vetted before the filesystem sees it: recursive mkdir under /proc never ends.
  const outFlag = args.out !== undefined ? '--out' : args.outDir !== undefined ? '--out-dir' : undefined;
  const outPath = args.out ?? args.outDir;
  if (outFlag !== undefined && outPath !== undefined) {
    const problem = await problemWithUserPath(outPath, outFlag);
    if (problem !== undefined) throw new UsageError(problem);
  }
  if (args.unitOut !== undefined) {
    if (args.out === undefined) {
      throw new UsageError(
        '--unit-out goes with --out (with --out-dir the unit is written beside each config)',
      );
    }
    const problem = await problemWithUserPath(args.unitOut, '--unit-out');
    if (problem !== undefined) throw new UsageError(problem);
  }

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

  const agentMode = loaded.spec.agent.enabled;
  if (args.unitOut !== undefined && !agentMode) {
    throw new UsageError(
      `--unit-out: ${loaded.path} does not set agent.enabled: true, so there is no ${AGENT_UNIT_NAME} to write`,
    );
  }
  const onlyNode = args.out !== undefined ? findNode(loaded.spec, args.node).name : args.node;
  const rendered = renderAll(loaded, onlyNode);
  if (args.validate) {
    const failures = (await validateRendered(rendered)).filter((result) => !result.ok);
    if (failures.length > 0) {
      const nothing = outPath === undefined ? '' : '; nothing was written';
      throw new CommandFailed(failures.map((f) => `node ${f.node}: ${f.message}`).join('\n') + nothing);
    }
  }

  if (outPath === undefined) {
    process.stdout.write(
      rendered
        .map(
          ({ node, text, unit }) =>
            `### node ${node}\n${text}` +
            (unit === undefined ? '' : `\n### node ${node} ${AGENT_UNIT_NAME}\n${unit}`),
        )
        .join('\n'),
    );
    return 0;
  }
  const files: OutputFile[] = rendered.flatMap(({ node, text, unit }) => {
    const config: OutputFile = {
      path: args.out ?? join(outPath, node, 'keepalived.conf'),
      data: text,
      mode: 0o640,
      what: `${outFlag} (node ${node})`,
    };
    const unitPath = args.out !== undefined ? args.unitOut : join(outPath, node, AGENT_UNIT_NAME);
    if (unit === undefined || unitPath === undefined) return [config];
    const unitFlag = args.out !== undefined ? '--unit-out' : '--out-dir';
    return [config, { path: unitPath, data: unit, mode: 0o644, what: `${unitFlag} (node ${node})` }];
  });
  if (agentMode && args.out !== undefined && args.unitOut === undefined) {
    process.stderr.write(
      `warning: agent.enabled: this node also needs ${AGENT_UNIT_NAME}; add --unit-out /etc/systemd/system/${AGENT_UNIT_NAME}\n`,
    );
  }
  await writeFilesAtomic(files);
  for (const file of files) process.stdout.write(`wrote ${file.path}\n`);
  return 0;
}
