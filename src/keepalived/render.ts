/** NodeConfig → keepalived.conf text through a mustache template (bundled or the operator's own). */
import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { ConfigError } from '../errors.js';
import { templatePath, type LoadedSpec } from '../spec/load.js';
import { version as hactlVersion } from '../version.js';
import { dirname } from 'node:path/posix';
import { AGENT_GONE, agentTrackFile, checkTrackFile } from '../agent/contract.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import {
  AGENT_FILE_TRACK,
  AGENT_PROCESS_TRACK,
  UNPROMOTABLE_TRACK,
  buildNodeConfig,
  type NodeConfig,
} from './model.js';

export interface RenderedNode {
  node: string;
  text: string;
  /** Agent mode only: the node's hactl-agent.service. */
  unit?: string;
}

export const AGENT_UNIT_NAME = 'hactl-agent.service';

function readTemplate(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read template ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

/** Longest text one header field may take: keepalived 2.2.7 cuts lines at about 1 KiB and parses the rest. */
const HEADER_FIELD_MAX = 200;
const PLAIN = /^[A-Za-z0-9._+@/-]+$/;

function escapeChar(char: string): string {
  if (char === '"' || char === '\\') return `\\${char}`;
  const code = char.codePointAt(0)!;
  if (code >= 0x20 && code < 0x7f) return char;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * A file name (from argv) as it may appear in the header comment: the name itself when it is made
 * of plain characters, else a quoted string with every other character escaped, so no newline or
 * carriage return can end the comment and start a block keepalived would parse. Long names keep
 * their start and end; the sha256 beside it identifies the spec anyway.
 */
export function headerText(value: string): string {
  if (PLAIN.test(value) && value.length <= HEADER_FIELD_MAX) return value;
  const pieces = [...value].map(escapeChar);
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (length <= HEADER_FIELD_MAX) return `"${pieces.join('')}"`;
  const head: string[] = [];
  let headLength = 0;
  for (const piece of pieces) {
    if (headLength + piece.length > HEADER_FIELD_MAX / 2) break;
    head.push(piece);
    headLength += piece.length;
  }
  const tail: string[] = [];
  let tailLength = 0;
  for (const piece of pieces.slice(head.length).reverse()) {
    if (tailLength + piece.length > HEADER_FIELD_MAX / 2 - 3) break;
    tail.unshift(piece);
    tailLength += piece.length;
  }
  return `"${head.join('')}...${tail.join('')}"`;
}

export function renderNodeConfig(
  config: NodeConfig,
  template: string,
  loaded: Pick<LoadedSpec, 'path' | 'hash'>,
): string {
  const view = {
    ...config,
    version: hactlVersion,
    specPath: headerText(loaded.path),
    specHash: loaded.hash,
  };
  // Spec values are validated at the spec boundary, and the spec's file name (the one value from
  // argv) is made safe above; HTML escaping would only corrupt them.
  return Mustache.render(template, view, {}, { escape: (value: string) => value });
}

/** systemd's RuntimeDirectory= takes a path below /run only. */
function runtimeDirectoryUnder(runtimeDir: string): string | undefined {
  return runtimeDir.startsWith('/run/') ? runtimeDir.slice('/run/'.length) : undefined;
}

/** The node's hactl-agent.service (agent mode). Spec paths are validated tokens: nothing to quote. */
export function renderAgentUnit(
  spec: Spec,
  node: NodeSpec,
  template: string,
  loaded: Pick<LoadedSpec, 'path' | 'hash'>,
): string {
  const runtimeDir = spec.paths.runtime_dir;
  const view = {
    version: hactlVersion,
    specPath: headerText(loaded.path),
    specHash: loaded.hash,
    node: node.name,
    cluster: spec.cluster,
    hactl: spec.paths.hactl,
    spec: spec.paths.spec,
    // The directory of the check files (and, above it, of the agent's and the gate's).
    checksDir: dirname(checkTrackFile(runtimeDir, node.name, 'any')),
    agentFile: agentTrackFile(runtimeDir, node.name),
    agentGone: AGENT_GONE,
    runtimeDirectory: runtimeDirectoryUnder(runtimeDir),
  };
  return Mustache.render(template, view, {}, { escape: (value: string) => value });
}

/**
 * In agent mode the node must be FAULT whenever its agent is not running or marks it unfit to hold
 * the VIPs; an operator's own template that drops those track_file or track_process entries would
 * silently lose that, so it is refused.
 */
function withAgentFailSafe(spec: Spec, templateFile: string, text: string): string {
  if (!spec.agent.enabled) return text;
  const required = [
    AGENT_FILE_TRACK,
    ...(spec.agent.track_process ? [AGENT_PROCESS_TRACK] : []),
    // Without it a half-rebuilt node would keep the VIPs (src/cluster/unpromotable-gate.ts).
    UNPROMOTABLE_TRACK,
  ];
  const missing = required.filter((name) => !new RegExp(`^\\s+${name}$`, 'm').test(text));
  if (missing.length === 0) return text;
  throw new ConfigError(
    `keepalived.template: ${templateFile} does not make the VRRP instances track ${missing.join(' and ')} (agent.enabled: true), so keepalived would keep a node healthy that the agent marks as unfit (a dead agent, a half-rebuilt database); render the instances' track_file and track_process lists as hactl's templates/keepalived.conf.mustache does, or remove keepalived.template`,
  );
}

/** Renders every node of the spec (or only `onlyNode`), in spec order. */
export function renderAll(
  loaded: Pick<LoadedSpec, 'spec' | 'path' | 'hash'>,
  onlyNode?: string,
): RenderedNode[] {
  const { spec } = loaded;
  const templateFile = spec.keepalived.template ?? templatePath('keepalived.conf.mustache');
  const template = readTemplate(templateFile);
  try {
    Mustache.parse(template);
  } catch (error) {
    throw new ConfigError(
      `keepalived.template: ${templateFile} is not a valid mustache template (${(error as Error).message.split('\n')[0]}); fix it or remove keepalived.template to use the bundled one`,
    );
  }
  const nodes = onlyNode === undefined ? spec.nodes : spec.nodes.filter((node) => node.name === onlyNode);
  if (nodes.length === 0) {
    throw new ConfigError(
      `--node ${JSON.stringify(onlyNode)} is not in the spec; its nodes are: ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  const unitTemplate = spec.agent.enabled ? readTemplate(templatePath('hactl-agent.service.mustache')) : '';
  return nodes.map((node) => ({
    node: node.name,
    text: withAgentFailSafe(
      spec,
      templateFile,
      renderNodeConfig(buildNodeConfig(spec, node), template, loaded),
    ),
    ...(spec.agent.enabled ? { unit: renderAgentUnit(spec, node, unitTemplate, loaded) } : {}),
  }));
}
