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
 * the first probe; so a run still going after ANSWER_WITHIN_MS has heard nobody, and is stopped
 * and counted as free rather than left to its whole-second deadline.
 */
import { baseEnv } from '../actions/spawn.js';
import type { HeldVip, ContestAnswer } from './vip-contest.js';

/** arping's own deadline is whole seconds; ours ends it sooner. */
const DEADLINE_S = 1;
export const ANSWER_WITHIN_MS = 300;
// A reply to our probe, or a request another host sent from the address: both mean it holds it
// (arping counts either as a duplicate; chaos peer-link: "1 request(s)" while the peer ARPed from the VIP).
const CLAIM = /(?:reply|request) from \S+ \[([0-9A-Fa-f:]{17})\]/;

export type ArpProbe = (vip: HeldVip, signal: AbortSignal) => Promise<ContestAnswer>;

/** `launcher` runs arping elsewhere (the lab's tests: `ip netns exec <ns>`). */
export const probeVipClaim = async (
  vip: HeldVip,
  signal: AbortSignal,
  launcher: readonly string[] = [],
): Promise<ContestAnswer> => {
  const { execa } = await import('execa');
  const [file, ...prefix] = [...launcher, 'arping'];
  const result = await execa(
    file!,
    [...prefix, '-D', '-f', '-c', '2', '-w', String(DEADLINE_S), '-I', vip.iface, vip.address],
    {
      reject: false,
      timeout: ANSWER_WITHIN_MS,
      cancelSignal: signal,
      stdin: 'ignore',
      all: true,
      // PATH only: the agent's own environment may hold secrets.
      env: baseEnv({}),
      extendEnv: false,
    },
  );
  return answerOf(vip, {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    canceled: result.isCanceled,
    missing: (result as { code?: string }).code === 'ENOENT',
    output: (result.all ?? '').trim(),
  });
};

/** What one arping run said about `vip` (pure). */
export function answerOf(
  vip: HeldVip,
  run: {
    exitCode: number | undefined;
    signal?: string | undefined;
    timedOut: boolean;
    canceled: boolean;
    missing: boolean;
    output: string;
  },
): ContestAnswer {
  const { exitCode, output } = run;
  if (run.missing)
    return { vip, answer: 'unknown', detail: 'arping is not installed (Debian: iputils-arping)' };
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
