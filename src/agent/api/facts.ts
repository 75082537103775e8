/**
 * What only the running agent knows, kept for its API: keepalived's latest word per VRRP instance
 * and sync group (from the notify FIFO, in order), the loop's last transitions, and a view of the
 * in-process checks. Memory is bounded: a handful of names, the last 20 transitions.
 */
import type { KeepalivedFact } from '../../cluster/observation.js';
import type { CheckStatus } from '../checks/index.js';
import type { TickRecord } from '../loop.js';
import type { SyncStatus, TransitionStatus, VrrpStateName } from '../../status/types.js';

export const MAX_TRANSITIONS = 20;
const MAX_NAMES = 64;

export interface HeardState {
  state: VrrpStateName;
  /** ISO 8601. */
  at: string;
  /** The priority on keepalived's line (instances; a group's is always 0). */
  priority: number | null;
  /** Order heard in (timestamps tie within a millisecond). */
  seq: number;
}

export class AgentFacts {
  private readonly instances = new Map<string, HeardState>();
  private readonly groups = new Map<string, HeardState>();
  private readonly ticks: TransitionStatus[] = [];
  private checkView: () => CheckStatus[] = () => [];
  private syncView: () => SyncStatus | undefined = () => undefined;
  private seq = 0;

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** A state line from the FIFO. */
  heard(fact: KeepalivedFact): void {
    const into = fact.text.startsWith('GROUP') ? this.groups : this.instances;
    const name = fact.name ?? '';
    into.delete(name);
    into.set(name, {
      state: fact.state,
      at: this.now().toISOString(),
      priority: fact.priority ?? null,
      seq: ++this.seq,
    });
    if (into.size > MAX_NAMES) into.delete(into.keys().next().value!);
  }

  /** A priority event of an instance (MASTER_PRIORITY, BACKUP_PRIORITY…): its state is unchanged. */
  priorityEvent(scope: 'INSTANCE' | 'GROUP', name: string, priority: number): void {
    const known = scope === 'INSTANCE' ? this.instances.get(name) : undefined;
    if (known) known.priority = priority;
  }

  /** Lines were lost: what keepalived said no longer describes now. */
  gap(): void {
    this.instances.clear();
    this.groups.clear();
  }

  /**
   * The state of `instance`: its own latest line or its sync group's, whichever came last
   * (keepalived moves every member of a group together and reports both).
   */
  vrrpState(instance: string, group: string | undefined): HeardState | undefined {
    const own = this.instances.get(instance);
    const grouped = group === undefined ? undefined : this.groups.get(group);
    if (!grouped) return own;
    if (!own || grouped.seq > own.seq) return { ...grouped, priority: own?.priority ?? null };
    return own;
  }

  tick(record: TickRecord): void {
    const decided =
      record.result === 'apply' ||
      record.result === 'refuse' ||
      record.result === 'error' ||
      record.result === 'rejoin';
    if (!decided) return;
    // The strict rejoin (rebuilding, then rebuilt / refused / failed / nothing) shows among the transitions.
    const outcome =
      record.result === 'rejoin'
        ? `rejoin ${record.rejoin ?? 'unknown'}`
        : record.result === 'refuse'
          ? 'refused'
          : record.result === 'error'
            ? 'error'
            : record.outcome === undefined
              ? 'nothing run'
              : record.outcome.ok
                ? 'ok'
                : record.outcome.diverged
                  ? 'diverged'
                  : record.outcome.aborted
                    ? 'aborted'
                    : 'partial';
    this.ticks.push({
      id: record.transitionId,
      state: record.target ?? null,
      source_event: record.lines.at(-1) ?? record.keepalived ?? null,
      at: this.now().toISOString(),
      outcome,
      reason: record.reason,
    });
    if (this.ticks.length > MAX_TRANSITIONS) this.ticks.splice(0, this.ticks.length - MAX_TRANSITIONS);
  }

  transitions(): TransitionStatus[] {
    return this.ticks.map((t) => ({ ...t }));
  }

  /** The check runner in service now (a reload replaces it). */
  watchChecks(view: () => CheckStatus[]): void {
    this.checkView = view;
  }

  checks(): CheckStatus[] {
    return this.checkView();
  }

  /** The file sync in service now (a reload replaces it); undefined without spec sync. */
  watchSync(view: () => SyncStatus | undefined): void {
    this.syncView = view;
  }

  sync(): SyncStatus | undefined {
    return this.syncView();
  }
}
