/**
 * One line of keepalived's notify_fifo, read strictly. keepalived 2.2.7 writes, per VRRP instance
 * or sync group (vrrp_notify.c, `"%s \"%s\" %s %d\n"`):
 *
 *   INSTANCE "VI_1" MASTER 150        a state change, with the instance's effective priority
 *   GROUP "web_vips" BACKUP 0         a sync group's state change (a group's priority is always 0)
 *
 * The states are MASTER, BACKUP, FAULT, STOP (keepalived stopping), DELETED (a reload removed the
 * instance) and {UNKNOWN}; an instance also reports events that are not state changes:
 * MASTER_RX_LOWER_PRI, MASTER_PRIORITY and BACKUP_PRIORITY (its effective priority moved). The
 * global notify_fifo also carries the checker's virtual/real server lines, which are not ours.
 * Anything else is refused with a reason, never guessed at.
 */
import type { KeepalivedFact, VrrpState } from '../cluster/observation.js';

/** Longer than any line keepalived writes for a name hactl's spec accepts; a longer one is noise. */
export const MAX_FIFO_LINE = 512;

export type FifoLine =
  /** A transition: what the loop is woken with. */
  | { kind: 'state'; fact: KeepalivedFact }
  /** A priority event of an instance: no transition, nothing to apply. */
  | {
      kind: 'event';
      scope: 'INSTANCE' | 'GROUP';
      name: string;
      event: string;
      priority: number;
      text: string;
    }
  /** Not a line hactl acts on; `why` says what it is. */
  | { kind: 'ignored'; why: string; text: string };

const STATE_WORDS: Record<string, VrrpState> = {
  MASTER: 'MASTER',
  BACKUP: 'BACKUP',
  FAULT: 'FAULT',
  STOP: 'STOP',
  // A reload removed the instance: this node no longer runs it (as `hactl notify` reads it).
  DELETED: 'STOP',
};

const EVENT_WORDS = new Set(['MASTER_RX_LOWER_PRI', 'MASTER_PRIORITY', 'BACKUP_PRIORITY']);

// Names keepalived accepts are printable and without spaces; hactl's are identifiers. The quotes
// are keepalived's own, so a name never contains one.
const LINE = /^(INSTANCE|GROUP) "([\x21\x23-\x7e]{1,128})" ([A-Z_{}]{1,32}) (\d{1,3})$/;

/** Shown in logs: control characters made visible, length bounded. */
export function printable(text: string): string {
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  return shown.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `raw` is one line without its newline. */
export function parseFifoLine(raw: string): FifoLine {
  const text = printable(raw);
  if (raw.length > MAX_FIFO_LINE) return { kind: 'ignored', why: `longer than ${MAX_FIFO_LINE} bytes`, text };
  const match = LINE.exec(raw);
  if (!match) {
    if (/^(VS|RS) /.test(raw))
      return { kind: 'ignored', why: 'a checker (LVS) line: hactl runs no virtual_server', text };
    return { kind: 'ignored', why: 'not a keepalived VRRP notify line', text };
  }
  const [, scope, name, word, digits] = match as unknown as [
    string,
    'INSTANCE' | 'GROUP',
    string,
    string,
    string,
  ];
  const priority = Number(digits);
  if (priority > 255) return { kind: 'ignored', why: `priority ${priority} is above 255`, text };
  const state = STATE_WORDS[word];
  if (state !== undefined) {
    return { kind: 'state', fact: { state, source: 'fifo', name, priority, text: raw } };
  }
  if (EVENT_WORDS.has(word)) return { kind: 'event', scope, name, event: word, priority, text: raw };
  return { kind: 'ignored', why: `"${word}" is not a VRRP state keepalived reports`, text };
}
