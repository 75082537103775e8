/** Builds an ActionContext from a small spec for calling action modules directly. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionContext } from '../../src/actions/types.js';
import { createLogger } from '../../src/log.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { NotifyState } from '../../src/notify/event.js';

export function baseSpecYaml(extra = ''): string {
  return `version: 1
cluster: t
nodes:
  - name: ha1
    priority: 150
    networks: { inside: { interface: eth1, address: 192.0.2.11 } }
  - name: ha2
    priority: 120
    networks: { inside: { interface: eth1, address: 192.0.2.12 } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
${extra}`;
}

export interface TestContext {
  context: ActionContext;
  dir: string;
  cleanup(): void;
}

export function makeContext(
  state: NotifyState,
  options: { previous?: NotifyState; extraYaml?: string; node?: string } = {},
): TestContext {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-action-'));
  const spec = parseSpecText(baseSpecYaml(options.extraYaml), 'test.yaml');
  const node = spec.nodes.find((n) => n.name === (options.node ?? 'ha1'))!;
  const context: ActionContext = {
    spec,
    node,
    state,
    previous: options.previous,
    runtimeDir: dir,
    log: createLogger({ level: 'silent' }),
  };
  return { context, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const never = new AbortController().signal;

export function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}
