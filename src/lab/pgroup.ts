/**
 * Whole process groups for the lab's "node loss": a daemon we started detached leads its own group
 * (its workers and children stay in it), so SIGKILL to the group kills nginx workers and keepalived
 * children along with their parent, as a power cut would. The leader's cmdline is checked first.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandLineOf } from './processes.js';

/** PIDs whose process group is `pgid` (from /proc/<pid>/stat, field 5). */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the ")" that closes the command name: state ppid pgrp …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
    } catch {
      /* exited while we looked */
    }
  }
  return members;
}

/** SIGKILL to the group led by `leader` if the leader is still ours; waits (bounded) until it is empty. */
export async function killGroup(leader: number, marker: string, waitMs = 3_000): Promise<boolean> {
  if (!commandLineOf(leader)?.includes(marker)) return false;
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {
    return false;
  }
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && groupMembers(leader).length > 0) await sleep(25);
  return true;
}
