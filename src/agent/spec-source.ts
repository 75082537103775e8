/**
 * The agent's spec: read without a synchronous call (a reload runs beside the loop's timers, and
 * the path is the operator's), capped in size and time, then validated by the one loader every
 * command uses. A reload that fails, or that changes what a running agent cannot move (the node,
 * the cluster, the runtime directory holding its lock and FIFO), leaves the running spec alone.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { raceDeadline } from '../bounded/deadline.js';
import { ConfigError } from '../errors.js';
import { problemWithUserPath } from '../fs/user-path.js';
import { SPEC_SIZE_LIMIT } from '../spec/file.js';
import type { SpecProblem } from '../spec/load.js';
import type { NodeSpec, Spec } from '../spec/schema.js';

export interface AgentSpec {
  spec: Spec;
  node: NodeSpec;
  path: string;
  /** sha256 of the bytes, first 12 hex digits (as the rendered header names it). */
  hash: string;
}

/** A spec that cannot be used, with the findings that name its fields (and lines) when it is invalid. */
export class AgentSpecProblem extends ConfigError {
  readonly findings: readonly SpecProblem[];
  constructor(message: string, findings: readonly SpecProblem[] = []) {
    super(message);
    this.findings = findings;
  }
}

const READ_BUDGET_MS = 5_000;

async function readBytes(path: string, signal: AbortSignal): Promise<Buffer> {
  const problem = await problemWithUserPath(path, '--spec');
  if (problem) throw new AgentSpecProblem(problem);
  signal.throwIfAborted();
  const before = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new AgentSpecProblem(
      error.code === 'ENOENT'
        ? `spec file ${path} does not exist; pass --spec FILE or create one with \`hactl init\``
        : `cannot read spec file ${path}: ${error.code ?? error.message}`,
    );
  });
  if (!before.isFile())
    throw new AgentSpecProblem(`spec file ${path} is not a regular file; give the path of a YAML file`);
  if (before.size > SPEC_SIZE_LIMIT)
    throw new AgentSpecProblem(
      `spec file ${path} is larger than ${SPEC_SIZE_LIMIT / 1024 / 1024} MiB, which no spec needs`,
    );
  // O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of waiting for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const after = await handle.stat();
    if (!after.isFile()) throw new AgentSpecProblem(`spec file ${path} is not a regular file`);
    const buffer = Buffer.alloc(SPEC_SIZE_LIMIT + 1);
    let length = 0;
    // Bounded by the buffer: each read adds at least one byte or ends the loop.
    while (length < buffer.length) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > SPEC_SIZE_LIMIT)
      throw new AgentSpecProblem(
        `spec file ${path} grew beyond ${SPEC_SIZE_LIMIT / 1024 / 1024} MiB while read`,
      );
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** Reads and validates the spec and finds this node in it; throws AgentSpecProblem. */
export async function loadAgentSpec(path: string, nodeName: string | undefined): Promise<AgentSpec> {
  const bytes = await raceDeadline((signal) => readBytes(path, signal), {
    deadlineMs: performance.now() + READ_BUDGET_MS,
    reason: () => new Error(`reading ${path} took longer than ${READ_BUDGET_MS / 1000} s`),
    onTimeout: (why) => {
      throw new AgentSpecProblem(
        `spec file ${path} could not be read: ${why instanceof Error ? why.message : String(why)}`,
      );
    },
  });
  // Loaded here, not at the top: YAML and zod cost ~180 ms to import.
  const { loadSpecBytes, findNode, SpecInvalid } = await import('../spec/load.js');
  try {
    const loaded = loadSpecBytes(bytes, path);
    return { spec: loaded.spec, node: findNode(loaded.spec, nodeName), path, hash: loaded.hash };
  } catch (error) {
    if (error instanceof SpecInvalid) throw new AgentSpecProblem(error.message, error.findings);
    if (error instanceof ConfigError) throw new AgentSpecProblem(error.message);
    throw error;
  }
}

/**
 * Why a reloaded spec cannot replace the running one, or undefined when it can. The agent holds
 * its instance lock and reads its FIFO under paths.runtime_dir, and is this node of this cluster:
 * moving any of them takes a restart.
 */
export function reloadRefusal(running: AgentSpec, next: AgentSpec): string | undefined {
  if (next.spec.cluster !== running.spec.cluster)
    return `cluster changed from ${running.spec.cluster} to ${next.spec.cluster}: restart the agent to serve another cluster`;
  if (next.node.name !== running.node.name)
    return `this host is now node ${next.node.name} instead of ${running.node.name}: restart the agent (or pass --node)`;
  if (next.spec.paths.runtime_dir !== running.spec.paths.runtime_dir)
    return `paths.runtime_dir changed from ${running.spec.paths.runtime_dir} to ${next.spec.paths.runtime_dir}: the agent's lock and FIFO live there; restart the agent to move it`;
  return undefined;
}
