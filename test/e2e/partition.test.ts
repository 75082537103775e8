/**
 * Partition and heal. ha1 is cut off from the switch (its links stay up, so keepalived sees no
 * fault): ha2 becomes MASTER too and the client's ARP entry for the VIP points at ha2. On heal
 * ha2 steps down, but the client only learns ha1's MAC again from a gratuitous ARP.
 *
 * What makes that GARP certain is the pair of lines render-config puts in global_defs:
 *   vrrp_higher_prio_send_advert true  → ha2, stepping down, first sends one (lower-priority) advert;
 *   vrrp_garp_lower_prio_repeat N      → ha1, hearing a lower-priority advert as MASTER, re-GARPs.
 * Without them ha1 hears ha2's lower-priority advert only if ha2's own 1 s advert timer fires before
 * ha1's advert reaches it — a race; when it loses, the client stays on ha2's MAC until its neighbour
 * entry goes stale (tens of seconds, DESIGN.md measured ~35 s).
 *
 * The bundled template is proven on ordinary heals: whichever advert comes first, ha1 hears a
 * lower-priority advert, re-GARPs and the client is back on ha1 within the window. Without the two
 * lines the outcome depends on the race, so each side of it is forced and asserted before its claim:
 * ha2 unable to reach ha1 until it has stepped down (ha1's advert won) strands the client; ha1
 * unable to reach ha2 until it has heard ha2 (ha2's advert won) brings it back.
 *
 * Before each heal the client's ARP entry must be older than its locktime (1 s): the kernel drops
 * an ARP that would change an entry updated more recently, so ha1's GARP right after ha2's last
 * one would be lost (seen: GARP sent, client still on ha2's MAC). The entry's update time also
 * moves whenever its state does (REACHABLE → DELAY → REACHABLE while the probe keeps using it), so
 * a burst of GARPs sent at one instant could still fall inside the locktime (CI runs v14, v15 and
 * v18: GARP sent, client left on ha2's MAC); the bundled template's vrrp_garp_interval 0.3 spreads
 * the 5 GARPs over 1.2 s, more than the locktime, so at least one lands outside it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keepalivedFiles } from '../../src/lab/keepalived.js';
import { labFail, labPaths, type LabNode } from '../../src/lab/lab.js';
import {
  addressOf,
  must,
  namespacesFor,
  NETWORKS,
  run,
  ROLES,
  setAttached,
  vipsOn,
} from '../../src/lab/network.js';
import { waitFor } from '../../src/lab/processes.js';
import { startProbe, type RunningProbe } from '../../src/lab/probe.js';
import { templatePath } from '../../src/spec/load.js';
import { LAB_PRIORITY } from '../../src/lab/spec.js';
import { assertBuilt } from '../support/cli.js';
import { requirementsMissing, titled } from '../support/requirements.js';
import {
  LAB_PROGRAMS,
  LAB_TEST_TIMEOUT_MS,
  SETTLE_MS,
  testLab,
  waitForHolder,
  type TestLab,
} from './lab-support.js';

const missing = requirementsMissing({ root: true, programs: LAB_PROGRAMS });
const lab = testLab('e2ept');
/**
 * From the GARP's trigger to the client's first answer from ha1: ha1's GARP, the next probe (every
 * 50 ms), with room for a loaded machine. A client without a GARP cannot come back this fast: its
 * neighbour entry was confirmed by answers from ha2 up to the heal, and re-resolving takes reachable
 * time, then delay (5 s) and 3 unicast probes. The trigger is ha2's lower-priority advert reaching
 * ha1; when none comes (the stranded case), the window counts from the heal.
 */
const WINDOW_MS = 3_000;
const REGARP_LINES = /^\s*(vrrp_higher_prio_send_advert|vrrp_garp_lower_prio_repeat)\b.*\n/gm;
// On either member: the sync group then re-GARPs for both VIPs.
const LOWER_PRIO_ADVERT = new RegExp(
  `\\((inside|outside)\\) Received advert from (192\\.0\\.2|198\\.51\\.100)\\.12 with lower priority ${LAB_PRIORITY.ha2}, ours ${LAB_PRIORITY.ha1}`,
);
const GARP_SET = /\(outside\) Sending\/queueing gratuitous ARPs on eth0 for 198\.51\.100\.50/g;
const OUTSIDE_VIP = '198.51.100.50';
const strippedTemplate = `/tmp/hactl-e2ept-no-regarp-${process.pid}.mustache`;

/** Which side of the post-heal race is forced, by blackholing one node's adverts to the other. */
type Race = 'free' | 'ha1-advert-first' | 'ha2-advert-first';

interface Heal {
  /** ms from the heal until ha1 was seen logging ha2's lower-priority advert, if it was. */
  heardMs: number | null;
  /**
   * ms from the window's start (that advert seen, else the heal) to the client's first answer from
   * ha1 (the holder after heal), if within the window; ≤ 0 when the client was back before the test
   * read the line.
   */
  reachedMs: number | null;
  /** ha1 logged a lower-priority advert from ha2 within the window (and so re-sent its GARPs). */
  lowerPrioAdvert: boolean;
  garpSent: boolean;
  /** The client's ARP entry for the outside VIP, at the end of the window: ha1's MAC? */
  neighbourOnHa1: boolean;
  /** ms from the heal to the client's first answer from ha1 at all (window or not), if within SETTLE_MS. */
  backMs: number | null;
  /** Each node's keepalived lines after the heal (the first 40), for failure messages. */
  ha1Log: string[];
  ha2Log: string[];
  /** ha1's log during the partition, and both nodes' neighbour tables just before the heal. */
  ha1DuringPartition: string[];
  neighboursAtHeal: Record<string, string>;
  /** How long re-attaching ha1's switch ports took. */
  attachMs: number;
  /** The client's entry for the outside VIP and the switch's ports, at the end of the window. */
  clientNeighbour: string;
  switchPorts: string;
}

async function macOf(ns: string, ifname: string): Promise<string> {
  const links = JSON.parse((await must(['ip', '-n', ns, '-j', 'link', 'show', ifname])) || '[]') as {
    address: string;
  }[];
  return links[0]?.address ?? '?';
}

async function clientNeighbour(prefix: string): Promise<string> {
  return (await run(['ip', '-n', namespacesFor(prefix).client, 'neigh', 'show', OUTSIDE_VIP])).stdout;
}

/**
 * The kernel ignores an ARP that would change a neighbour entry updated less than `locktime` ago
 * (net.ipv4.neigh.<dev>.locktime, 1 s by default): a GARP from ha1 that soon after ha2's last
 * one is dropped. True once the client's entry for the VIP was last updated longer ago than that.
 */
async function clientEntryOlderThanLocktime(prefix: string): Promise<boolean> {
  const client = namespacesFor(prefix).client;
  const iface = NETWORKS.outside.iface;
  const locktime = Number(
    (await must(['ip', 'netns', 'exec', client, 'sysctl', '-n', `net.ipv4.neigh.${iface}.locktime`])).trim(),
  );
  // `ip -s neigh`: "used A/B/C" = seconds since last use / confirmation / update.
  const shown = (await run(['ip', '-s', '-n', client, 'neigh', 'show', OUTSIDE_VIP, 'dev', iface])).stdout;
  const updated = /used \d+\/\d+\/(\d+)/.exec(shown)?.[1];
  // locktime is in USER_HZ (1/100 s); `updated` is whole seconds, rounded down.
  return updated !== undefined && Number(updated) > Math.ceil(locktime / 100);
}

/** A MAC no lab interface has: frames sent to it reach nobody. */
const NOWHERE_MAC = '02:00:00:00:00:00';

/**
 * `from` can (or again can) send nothing to `to`'s addresses: a permanent neighbour entry with a MAC
 * nobody has. keepalived's sockets are bound to their interface, so a route (even a blackhole)
 * cannot stop its adverts; the interface's neighbour table can, and ARP does not override it.
 */
async function cutOff(prefix: string, from: LabNode, to: LabNode, on: boolean): Promise<void> {
  const ns = namespacesFor(prefix)[from];
  for (const role of ROLES) {
    const entry = [addressOf(to, role), 'dev', NETWORKS[role].iface];
    await must(
      on
        ? ['ip', '-n', ns, 'neigh', 'replace', ...entry, 'lladdr', NOWHERE_MAC, 'nud', 'permanent']
        : ['ip', '-n', ns, 'neigh', 'del', ...entry],
    );
  }
}

function logOf(testLab: TestLab, node: LabNode): string {
  return keepalivedFiles(labPaths(testLab.dir).node[node].dir).log;
}

/** A log's lines without their timestamps, the first 40: enough to see what a heal did. */
function linesOf(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .slice(0, 40)
    .map((line) => line.replace(/^[^:]*:[^:]*:[^:]*: /, ''));
}

function logSince(file: string, offset: number): string {
  return readFileSync(file, 'utf8').slice(offset);
}

/** Both instances of `node` logged `state` after `offset` of its log. */
function loggedSince(testLab: TestLab, node: LabNode, offset: number, state: string): boolean {
  const text = logSince(logOf(testLab, node), offset);
  return ROLES.every((role) => text.includes(`(${role}) Entering ${state} STATE`));
}

/**
 * keepalived sends a second GARP set 5 s after the first (vrrp_garp_master_delay, and after a
 * lower-priority advert vrrp_garp_lower_prio_delay); a set still pending must not land in the next
 * window, nor may a node's pending set pull the client back after it stepped down.
 */
async function waitForSecondGarpSet(file: string, offset: number, who: string): Promise<void> {
  await waitFor(
    `${who}'s second GARP set`,
    () => (logSince(file, offset).match(GARP_SET) ?? []).length >= 2,
    { timeoutMs: 30_000, everyMs: 200 },
  );
}

/** ha2's neighbour entry for one of ha1's addresses was unresolved when the heal began. */
function ha2CouldNotReachHa1(heal: Heal): boolean {
  return (heal.neighboursAtHeal.ha2 ?? '')
    .split('\n')
    .some(
      (line) =>
        ROLES.some((role) => line.startsWith(`${addressOf('ha1', role)} `)) && /INCOMPLETE|FAILED/.test(line),
    );
}

async function partitionAndHeal(testLab: TestLab, race: Race): Promise<Heal> {
  const { prefix, dir } = testLab;
  const ns = namespacesFor(prefix);
  const ha1Log = logOf(testLab, 'ha1');
  const ha2Log = logOf(testLab, 'ha2');
  const probe: RunningProbe = startProbe(prefix, { everyMs: 50, timeoutMs: 400, maxDurationMs: 180_000 });
  try {
    const ha2Offset = readFileSync(ha2Log, 'utf8').length;
    const ha1CutOffset = readFileSync(ha1Log, 'utf8').length;
    const cutAt = await labFail({ prefix, dir, node: 'ha1', how: 'partition' });
    expect(
      await probe.waitForAnswer('ha2', cutAt, SETTLE_MS),
      'during the partition the client reaches ha2',
    ).toBeDefined();
    // ha2 is MASTER for both instances, holds both VIPs, and has sent both of its GARP sets.
    await waitFor(
      'ha2 MASTER holding both VIPs',
      async () =>
        loggedSince(testLab, 'ha2', ha2Offset, 'MASTER') && (await vipsOn(prefix, 'ha2')).length === 2,
      { timeoutMs: SETTLE_MS, everyMs: 200 },
    );
    await waitForSecondGarpSet(ha2Log, ha2Offset, 'ha2');
    await waitFor(
      "the client's entry to be older than its ARP locktime",
      () => clientEntryOlderThanLocktime(prefix),
      {
        timeoutMs: 30_000,
        everyMs: 200,
      },
    );
    const ha2Mac = await macOf(ns.ha2, 'eth0');
    const before = await clientNeighbour(prefix);
    expect(before, 'before the heal the client points at ha2').toContain(ha2Mac);
    expect(before, "and its entry was confirmed by ha2's answers").toMatch(/REACHABLE|DELAY/);

    if (race === 'ha1-advert-first') await cutOff(prefix, 'ha2', 'ha1', true);
    if (race === 'ha2-advert-first') await cutOff(prefix, 'ha1', 'ha2', true);
    const logOffset = readFileSync(ha1Log, 'utf8').length;
    const ha1DuringPartition = linesOf(readFileSync(ha1Log, 'utf8').slice(ha1CutOffset, logOffset)).slice(
      -15,
    );
    const ha2HealOffset = readFileSync(ha2Log, 'utf8').length;
    const neighboursAtHeal = {
      ha1: (await run(['ip', '-s', '-n', ns.ha1, 'neigh', 'show'])).stdout,
      ha2: (await run(['ip', '-s', '-n', ns.ha2, 'neigh', 'show'])).stdout,
    };
    // The heal of a partition is re-attaching ha1's switch ports (what `lab heal` does for it, minus
    // its checks of every daemon, which would eat into the window on a loaded machine).
    const healedAt = Date.now();
    await setAttached(prefix, 'ha1', true);
    const attachMs = Date.now() - healedAt;
    if (race === 'ha1-advert-first') {
      // ha1's advert reached ha2 and it stepped down; from BACKUP it sends no advert, so the route can go.
      await waitFor('ha2 to step down', () => loggedSince(testLab, 'ha2', ha2HealOffset, 'BACKUP'), {
        timeoutMs: SETTLE_MS,
        everyMs: 100,
      });
      await cutOff(prefix, 'ha2', 'ha1', false);
    }
    // ha2's lower-priority advert reaches ha1 after ha2's advert timer or its step-down, then its
    // delivery and keepalived's log write: over 3 s on a loaded machine (CI run v31 saw no line in
    // the first 3 s). That is scheduling, not the re-GARP settings, so the client's window counts
    // from the advert, waited for with a bound sized for load. A missing line fails the assertions
    // below with ha1's log in the message.
    let heardAt: number | null = null;
    if (race !== 'ha1-advert-first') {
      await waitFor(
        'ha1 to hear a lower-priority advert',
        () => LOWER_PRIO_ADVERT.test(logSince(ha1Log, logOffset)),
        { timeoutMs: SETTLE_MS, everyMs: 50 },
      ).then(
        () => (heardAt = Date.now()),
        () => undefined,
      );
    }
    if (race === 'ha2-advert-first') await cutOff(prefix, 'ha1', 'ha2', false);
    const windowStart = heardAt ?? healedAt;
    const answer = await probe.waitForAnswer(
      'ha1',
      healedAt,
      Math.max(0, windowStart + WINDOW_MS - Date.now()),
    );
    const reachedMs = answer && answer.t - windowStart <= WINDOW_MS ? answer.t - windowStart : null;
    // What the window saw, before anything after it (e.g. a later re-resolution) can blur it.
    const inWindow = logSince(ha1Log, logOffset);
    const neighbours = await clientNeighbour(prefix);
    // Then, with the window's record taken, how long the client took to come back at all.
    const back =
      answer ?? (await probe.waitForAnswer('ha1', healedAt, Math.max(0, healedAt + SETTLE_MS - Date.now())));
    // Both masters meet again: the higher priority (ha1) keeps the VIPs, whatever the client thinks.
    await waitForHolder(prefix, 'ha1');
    const garpSent = (inWindow.match(GARP_SET) ?? []).length > 0;
    if (garpSent) await waitForSecondGarpSet(ha1Log, logOffset, 'ha1');
    return {
      heardMs: heardAt === null ? null : heardAt - healedAt,
      reachedMs,
      backMs: back ? back.t - healedAt : null,
      lowerPrioAdvert: LOWER_PRIO_ADVERT.test(inWindow),
      garpSent,
      neighbourOnHa1: neighbours.includes(await macOf(ns.ha1, 'eth0')),
      ha1Log: linesOf(inWindow),
      ha2Log: linesOf(logSince(ha2Log, ha2HealOffset)),
      ha1DuringPartition,
      neighboursAtHeal,
      attachMs,
      clientNeighbour: neighbours,
      switchPorts: (await run(['bridge', '-n', ns.sw, 'link', 'show'])).stdout,
    };
  } finally {
    await probe.stop();
    // Undo a cut-off a failed wait left behind (the lab goes down after the test anyway).
    if (race === 'ha1-advert-first') await cutOff(prefix, 'ha2', 'ha1', false).catch(() => undefined);
    if (race === 'ha2-advert-first') await cutOff(prefix, 'ha1', 'ha2', false).catch(() => undefined);
  }
}

describe.skipIf(missing)(
  titled('hactl lab: partition and heal, and what the re-GARP settings are worth', missing),
  { timeout: LAB_TEST_TIMEOUT_MS },
  () => {
    beforeAll(() => {
      assertBuilt();
      const bundled = readFileSync(templatePath('keepalived.conf.mustache'), 'utf8');
      const stripped = bundled.replace(REGARP_LINES, '');
      // If the bundled template ever drops these lines, this comparison no longer proves anything.
      expect(stripped.length).toBeLessThan(bundled.length);
      writeFileSync(strippedTemplate, stripped);
    });
    afterEach(async (context) => {
      if (context.task.result?.state === 'fail') await lab.downForGood();
      else await lab.down();
    });
    afterAll(async () => {
      await lab.downForGood();
      rmSync(strippedTemplate, { force: true });
    });

    it(`bundled template: after each heal ha1 re-GARPs on ha2's advert and the client reaches it within ${WINDOW_MS} ms of that advert`, async () => {
      await lab.up();
      const conf = readFileSync(keepalivedFiles(labPaths(lab.dir).node.ha1.dir).conf, 'utf8');
      expect(conf).toMatch(/^\s*vrrp_higher_prio_send_advert true$/m);
      expect(conf).toMatch(/^\s*vrrp_garp_lower_prio_repeat \d+$/m);
      expect(conf).toMatch(/^\s*vrrp_garp_interval 0\.3$/m);
      for (let round = 1; round <= 2; round++) {
        const heal = await partitionAndHeal(lab, 'free');
        const why = `round ${round}: ${JSON.stringify(heal)}`;
        if (!heal.lowerPrioAdvert && ha2CouldNotReachHa1(heal)) {
          // The one advert ha2 sends as it steps down waited behind its unresolved neighbour entry
          // for ha1 (unicast adverts to a cut-off peer leave it INCOMPLETE) and was lost: no
          // template line can re-GARP on an advert that never arrives (CI runs v42, v46). The client
          // then comes back only through its own ARP re-resolution; that bound is asserted instead.
          console.warn(
            `partition round ${round}: ha2's step-down advert never reached ha1; the client came back after ${heal.backMs} ms (its own re-resolution)`,
          );
          expect(heal.garpSent, why).toBe(false);
          expect(heal.backMs, why).not.toBeNull();
          expect(heal.backMs!, why).toBeLessThanOrEqual(SETTLE_MS);
          continue;
        }
        expect(heal.lowerPrioAdvert, why).toBe(true);
        expect(heal.garpSent, why).toBe(true);
        expect(heal.reachedMs, why).not.toBeNull();
        expect(heal.reachedMs!, why).toBeLessThanOrEqual(WINDOW_MS);
        expect(heal.neighbourOnHa1, why).toBe(true);
      }
    });

    it("without the two lines, a heal in which ha2's advert never reaches ha1 (ha1's advert won the race) strands the client on ha2's MAC", async () => {
      await lab.up({ template: strippedTemplate });
      const conf = readFileSync(keepalivedFiles(labPaths(lab.dir).node.ha1.dir).conf, 'utf8');
      expect(conf).not.toMatch(/vrrp_higher_prio_send_advert|vrrp_garp_lower_prio_repeat/);
      const heal = await partitionAndHeal(lab, 'ha1-advert-first');
      const why = JSON.stringify(heal);
      // The precondition: ha1 heard no lower-priority advert after the heal …
      expect(heal.lowerPrioAdvert, why).toBe(false);
      // … so it sent no GARP, and the client still sends to ha2, which no longer holds the VIP.
      expect(heal.garpSent, why).toBe(false);
      expect(heal.reachedMs, why).toBeNull();
      expect(heal.neighbourOnHa1, why).toBe(false);
      // ha1 holds both VIPs again (partitionAndHeal waited for it): the next test, on the same
      // template, may run its partition on this pair, as the first test's second round does.
      lab.handOn();
    });

    it("without the two lines, a heal in which ha2's advert reaches ha1 first brings the client back through ha1's re-GARP", async () => {
      await lab.up({ template: strippedTemplate });
      const heal = await partitionAndHeal(lab, 'ha2-advert-first');
      const why = JSON.stringify(heal);
      // The precondition: ha1 heard ha2's lower-priority advert after the heal …
      expect(heal.lowerPrioAdvert, why).toBe(true);
      // … and that alone (keepalived's default lower-priority GARP) brings the client back.
      expect(heal.garpSent, why).toBe(true);
      expect(heal.reachedMs, why).not.toBeNull();
      expect(heal.reachedMs!, why).toBeLessThanOrEqual(WINDOW_MS);
      expect(heal.neighbourOnHa1, why).toBe(true);
    });
  },
);
