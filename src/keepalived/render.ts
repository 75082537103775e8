/** NodeConfig → keepalived.conf text through a mustache template (bundled or the operator's own). */
import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { ConfigError } from '../errors.js';
import { templatePath, type LoadedSpec } from '../spec/load.js';
import { version as hactlVersion } from '../version.js';
import { buildNodeConfig, type NodeConfig } from './model.js';

export interface RenderedNode {
  node: string;
  text: string;
}

function readTemplate(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read template ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

export function renderNodeConfig(
  config: NodeConfig,
  template: string,
  loaded: Pick<LoadedSpec, 'path' | 'hash'>,
): string {
  const view = { ...config, version: hactlVersion, specPath: loaded.path, specHash: loaded.hash };
  // Values are validated at the spec boundary; HTML escaping would only corrupt them.
  return Mustache.render(template, view, {}, { escape: (value: string) => value });
}

/** Renders every node of the spec (or only `onlyNode`), in spec order. */
export function renderAll(loaded: LoadedSpec, onlyNode?: string): RenderedNode[] {
  const { spec } = loaded;
  const template = readTemplate(spec.keepalived.template ?? templatePath('keepalived.conf.mustache'));
  const nodes = onlyNode === undefined ? spec.nodes : spec.nodes.filter((node) => node.name === onlyNode);
  if (nodes.length === 0) {
    throw new ConfigError(
      `--node ${JSON.stringify(onlyNode)} is not in the spec; its nodes are: ${spec.nodes.map((n) => n.name).join(', ')}`,
    );
  }
  return nodes.map((node) => ({
    node: node.name,
    text: renderNodeConfig(buildNodeConfig(spec, node), template, loaded),
  }));
}
