/**
 * Action types → their modules, imported only when a transition uses them (a notify that runs a
 * command never loads mysql2 or undici). Defaults for timeout and failure policy live here.
 */
import type { ActionSpec } from '../spec/actions-schema.js';
import type { Spec } from '../spec/schema.js';
import type { ActionRun } from './types.js';

type Loaders = {
  [T in ActionSpec['type']]: () => Promise<{ run: ActionRun<Extract<ActionSpec, { type: T }>> }>;
};

const loaders: Loaders = {
  'mysql.promote': () => import('./mysql-promote.js'),
  'mysql.demote': () => import('./mysql-demote.js'),
  service: () => import('./service.js'),
  signal: () => import('./signal.js'),
  command: () => import('./command.js'),
  webhook: () => import('./webhook.js'),
  haproxy: () => import('./haproxy.js'),
  proxysql: () => import('./proxysql.js'),
  atlas: () => import('./atlas.js'),
};

export async function loadAction(type: ActionSpec['type']): Promise<ActionRun> {
  const module = await loaders[type]();
  return module.run as ActionRun;
}

/**
 * Seconds an action may take when the spec sets no timeout. A promotion gets its catch-up budget
 * plus room to connect, stop replication and flip read_only.
 */
export function actionTimeoutSec(action: ActionSpec, spec: Spec): number {
  if (action.timeout !== undefined) return action.timeout;
  switch (action.type) {
    case 'mysql.promote':
      return (spec.mysql?.catch_up_timeout ?? 30) + 15;
    case 'mysql.demote':
      return (spec.mysql?.repoint_wait ?? 20) + 30;
    case 'service':
      return 60;
    case 'command':
      return 30;
    case 'signal':
    case 'haproxy':
      return 5;
    case 'webhook':
    case 'proxysql':
    case 'atlas':
      return 10;
  }
}

/**
 * A failed promotion aborts the rest of the MASTER list (don't start the application on a read-only
 * database); every other action is logged and the list goes on.
 */
export function failurePolicy(action: ActionSpec): 'continue' | 'abort' {
  return action.on_failure ?? (action.type === 'mysql.promote' ? 'abort' : 'continue');
}

/** A label for logs: the type plus what it acts on. */
export function actionLabel(action: ActionSpec): string {
  switch (action.type) {
    case 'service':
      return `service ${action.op} ${action.name}`;
    case 'signal':
      return `signal ${action.signal} ${action.pidfile}`;
    case 'command':
      return `command ${action.argv[0]}`;
    case 'webhook':
      return 'webhook';
    case 'haproxy':
      return `haproxy ${action.op} ${action.backend}/${action.server}`;
    default:
      return action.type;
  }
}
