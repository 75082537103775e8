/**
 * Does another host answer ARP for an address this node holds? Duplicate-address detection by
 * iputils `arping -D` (sender address 0.0.0.0): a host holding the address replies straight to
 * our MAC, so the answer needs neither a route nor a neighbour entry between the nodes — it
 * crosses a cut that drops every node-to-node IP packet as long as both still share the link the
 * clients use. Node has no raw sockets, hence the spawned program; it runs only while the peer is
 * silent (src/fence/vip-contest.ts) and while a promotion that fenced nothing waits for the old
 * primary to let go of the VIPs (src/fence/before-promote.ts).
 *
 * With -f, arping exits at the first reply, which on a shared link comes within a millisecond of
 * the first probe. So a run that has sent its probe and heard nobody for QUIET_AFTER_PROBE_MS is
 * stopped and counted as free, rather than left to its whole-second deadline. The window opens at
 * arping's "ARPING …" line, printed just before the first probe (line-buffered through coreutils'
 * stdbuf; a pipe would hold it until exit): how long the program took to start, on a busy
 * machine, neither shortens the listening nor lengthens the promotion that waits for the answer.
 *
 * Spawned with node:child_process, not execa: the first question is often asked during a
 * promotion, and loading execa there cost 60–120 ms before arping even started (chaos, fast
 * profile: 235–472 ms per question, of which 120 ms listening).
 */
import { spawn } from 'node:child_process';
import { baseEnv } from '../actions/spawn.js';
import type { HeldVip, ContestAnswer } from './vip-contest.js';

/** arping's own deadline is whole seconds; ours ends it sooner. */
const DEADLINE_S = 1;
/** Listening after the probe went out: a reply takes under a millisecond on a shared link. */
export const QUIET_AFTER_PROBE_MS = 120;
/** A run that has not even printed its first line by then is stopped: unknown, not free. */
const START_WITHIN_MS = 1_500;
const KILL_GRACE_MS = 1_000;
/** arping prints a few lines; anything past this is not read. */
const OUTPUT_KEPT = 8 * 1024;
// A reply to our probe, or a request another host sent from the address: both mean it holds it
// (arping counts either as a duplicate; chaos peer-link: "1 request(s)" while the peer ARPed from the VIP).
const CLAIM = /(?:reply|request) from \S+ \[([0-9A-Fa-f:]{17})\]/;

export type ArpProbe = (vip: HeldVip, signal: AbortSignal) => Promise<ContestAnswer>;

/** `launcher` runs arping elsewhere (the lab's tests: `ip netns exec <ns>`). */
export const probeVipClaim = (
  vip: HeldVip,
  signal: AbortSignal,
  launcher: readonly string[] = [],
): Promise<ContestAnswer> =>
  new Promise((resolve) => {
    const [file, ...prefix] = [...launcher, 'stdbuf'];
    const argv = [...prefix, '-oL', 'arping', '-D', '-f', '-c', '2', '-w', String(DEADLINE_S)];
    const spawnedAt = performance.now();
    const child = spawn(file!, [...argv, '-I', vip.iface, vip.address], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // PATH only: the agent's own environment may hold secrets.
      env: baseEnv({}),
    });
    let output = '';
    let probedMs: number | undefined;
    let heardNothing = false;
    let startedLate = false;
    let canceled = false;
    let missing = false;
    let quiet: NodeJS.Timeout | undefined;
    let forced: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill('SIGTERM');
      forced ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const keep = (chunk: Buffer) => {
      if (output.length < OUTPUT_KEPT) output += chunk.toString();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (probedMs !== undefined || !output.includes('ARPING ')) return;
      probedMs = Math.round(performance.now() - spawnedAt);
      quiet = setTimeout(() => {
        heardNothing = true;
        stop();
      }, QUIET_AFTER_PROBE_MS);
    });
    child.stderr.on('data', keep);
    // Bounds the whole run, whatever arping does; before its probe it means "unknown".
    const bound = setTimeout(() => {
      startedLate = probedMs === undefined;
      stop();
    }, START_WITHIN_MS);
    const cancel = () => {
      canceled = true;
      stop();
    };
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      missing = error.code === 'ENOENT';
    });
    child.on('close', (exitCode: number | null, exitSignal: NodeJS.Signals | null) => {
      for (const timer of [quiet, forced, bound]) clearTimeout(timer);
      signal.removeEventListener('abort', cancel);
      const answer = answerOf(vip, {
        exitCode: missing || exitCode === null ? undefined : exitCode,
        signal: exitSignal ?? undefined,
        timedOut: heardNothing,
        startedLate,
        canceled,
        missing,
        output: output.trim(),
      });
      const timing = {
        ...(probedMs !== undefined ? { probedMs } : {}),
        answeredMs: Math.round(performance.now() - spawnedAt),
      };
      resolve({ ...answer, timing });
    });
  });

/** What one arping run said about `vip` (pure). */
export function answerOf(
  vip: HeldVip,
  run: {
    exitCode: number | undefined;
    signal?: string | undefined;
    /** Stopped after listening QUIET_AFTER_PROBE_MS past its probe. */
    timedOut: boolean;
    /** Stopped before it printed its first line (it never probed). */
    startedLate?: boolean;
    canceled: boolean;
    missing: boolean;
    output: string;
  },
): ContestAnswer {
  const { exitCode, output } = run;
  if (run.missing)
    return {
      vip,
      answer: 'unknown',
      detail: 'arping or stdbuf is not installed (Debian: iputils-arping, coreutils)',
    };
  if (run.startedLate && !CLAIM.test(output))
    return {
      vip,
      answer: 'unknown',
      detail: `arping sent no probe within ${START_WITHIN_MS} ms (a busy machine?)`,
    };
  if (exitCode === 0 || (run.timedOut && !CLAIM.test(output))) return { vip, answer: 'free' };
  const claim = CLAIM.exec(output);
  if (exitCode === 1 && claim) return { vip, answer: 'claimed', by: claim[1]!.toLowerCase() };
  // A duplicate counted whose line did not reach us: still a claim, by a MAC we cannot name.
  if (exitCode === 1 && /Received [1-9]\d* response/.test(output))
    return { vip, answer: 'claimed', by: 'another host (MAC not shown)' };
  if (run.canceled) return { vip, answer: 'unknown', detail: 'stopped' };
  const last = output.split('\n').at(-1)?.slice(0, 200) ?? '';
  return { vip, answer: 'unknown', detail: `arping exit ${exitCode ?? run.signal}: ${last}` };
}

/** Where arping is on PATH, if anywhere: checked at start so a missing one is named before a cut. */
export async function findArping(
  path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  for (const dir of path.split(':').filter((d) => d.startsWith('/'))) {
    const candidate = `${dir}/arping`;
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}
