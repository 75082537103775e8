/**
 * What keepalived told us: its generic `notify` form (`GROUP|INSTANCE <name> <STATE> <priority>`) or
 * the short form `master|backup|fault|stop` an operator or a `notify_master` line can use.
 */
import type { KeepalivedFact, VrrpState } from '../cluster/observation.js';
import { VRRP_STATES as STATES } from '../cluster/observation.js';
import { UsageError } from '../errors.js';

export type NotifyState = VrrpState;

export interface NotifyEvent {
  source: 'GROUP' | 'INSTANCE' | 'short';
  /** The sync group or instance name keepalived passed (absent in the short form). */
  name?: string;
  state: NotifyState;
  priority?: number;
  /** The words as received, for the log. */
  text: string;
}

const USAGE =
  'hactl notify [--spec FILE] [--node NAME] GROUP|INSTANCE <name> <STATE> <priority>  or  hactl notify master|backup|fault|stop';

function stateOf(word: string): NotifyState {
  const upper = word.toUpperCase();
  // keepalived says DELETED when a reload removes the instance: this node no longer runs it.
  if (upper === 'DELETED') return 'STOP';
  if ((STATES as readonly string[]).includes(upper)) return upper as NotifyState;
  throw new UsageError(`"${word}" is not a VRRP state (MASTER, BACKUP, FAULT, STOP)`, USAGE);
}

export function parseEvent(words: string[]): NotifyEvent {
  const text = words.join(' ');
  if (words.length === 1) return { source: 'short', state: stateOf(words[0]!), text };
  const [kind, name, state, priority] = words;
  if (words.length === 4 && (kind === 'GROUP' || kind === 'INSTANCE')) {
    const prio = Number(priority);
    if (!Number.isInteger(prio) || prio < 0 || prio > 255) {
      throw new UsageError(`priority "${priority}" is not a number 0..255`, USAGE);
    }
    return { source: kind, name: name!, state: stateOf(state!), priority: prio, text };
  }
  throw new UsageError(`cannot read the notify arguments "${text}"`, USAGE);
}

/** What the event tells the decision core: keepalived's word on this node's state. */
export function keepalivedFact(event: NotifyEvent): KeepalivedFact {
  return {
    state: event.state,
    source: 'event',
    text: event.text,
    ...(event.name === undefined ? {} : { name: event.name }),
    ...(event.priority === undefined ? {} : { priority: event.priority }),
  };
}

export { USAGE as NOTIFY_USAGE };
