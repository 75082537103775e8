/**
 * A node that can never be promoted by itself must not keep the VIPs from a peer that could be.
 * Today that is a node whose rebuild stopped half-way (its marker in paths.state_dir): its data is
 * partly the primary's copy, the promotion guard refuses it, and it stays so until the rebuild is
 * resumed. Holding the VIPs then means a pair with no writable database while its peer might be
 * promoted (chaos, strict notify-burst: a rejoin cancelled mid-copy by the VIPs moving to it).
 *
 * The agent writes the verdict to the unpromotable track file (weight 0: 1 is FAULT), so keepalived
 * releases the VIPs with a priority-0 advert whatever the failback policy, and the peer takes them
 * and is judged by its own promotion guard. Once raised the gate stays raised until the rebuild is
 * done: dropping back to BACKUP while the VIPs are gone would let a preempting node take them
 * again, and every transition would cancel the rebuild that ends it. A rebuild run as a standby
 * that never held a VIP raises nothing: that is the normal rejoin, and FAULT would cancel it.
 * Pure: the agent observes the inputs (src/agent/unpromotable.ts).
 */

export interface UnpromotableInput {
  /** An interrupted rebuild's marker is there (a file system that did not answer counts as yes). */
  rebuildUnfinished: boolean;
  /** This node holds at least one of the VIPs now. */
  holdsAnyVip: boolean;
  /** The gate was raised when last judged (read back from the track file after a restart). */
  raised: boolean;
}

export interface UnpromotableVerdict {
  /** The track file's value: 1 raises the gate (FAULT), 0 lowers it. */
  value: 0 | 1;
  reason: string;
}

export function unpromotableGate(input: UnpromotableInput): UnpromotableVerdict {
  if (!input.rebuildUnfinished)
    return { value: 0, reason: 'no rebuild is unfinished here: the promotion guard alone judges this node' };
  if (input.raised)
    return {
      value: 1,
      reason:
        'a rebuild is unfinished here: the VIPs stay with the peer until the rebuild is resumed and done (the strict rejoin resumes it, or run hactl rebuild)',
    };
  if (input.holdsAnyVip)
    return {
      value: 1,
      reason:
        'this node holds VIPs while a rebuild is unfinished here: its data is a partial copy that no promotion may expose, so it hands the VIPs to its peer (FAULT) until the rebuild is done',
    };
  return {
    value: 0,
    reason: 'a rebuild is unfinished here and this node holds no VIP: it goes on as a standby',
  };
}
