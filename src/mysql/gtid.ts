/**
 * MariaDB GTIDs: `domain-server-seq`, positions are comma-separated lists. Sequence numbers are
 * 64-bit, so they are bigint here. MySQL GTID sets (uuid:ranges) are compared by the server
 * itself (GTID_SUBSET / GTID_SUBTRACT); only their text is normalized here.
 */

export interface MariadbGtid {
  domain: number;
  server: number;
  seq: bigint;
}

export function parseGtid(text: string): MariadbGtid {
  const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a MariaDB GTID (domain-server-seq)`);
  return { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!) };
}

/** "0-1-100,1-2-5" → list; empty or NULL → []. */
export function parseGtidList(text: string | null | undefined): MariadbGtid[] {
  if (text === null || text === undefined) return [];
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map(parseGtid);
}

export function formatGtid(g: MariadbGtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

export function formatGtidList(list: readonly MariadbGtid[]): string {
  return list.map(formatGtid).join(',');
}

/**
 * Whether position `have` has reached position `want` in every domain of `want` (what
 * MASTER_GTID_WAIT waits for): per domain, only the sequence number counts.
 */
export function positionReached(have: readonly MariadbGtid[], want: readonly MariadbGtid[]): boolean {
  return positionGaps(have, want).length === 0;
}

/** Per domain, the entry with the highest sequence number (the first of equals): where a list ends. */
export function lastPerDomain(list: readonly MariadbGtid[]): MariadbGtid[] {
  const last = new Map<number, MariadbGtid>();
  for (const g of list) if ((last.get(g.domain)?.seq ?? -1n) < g.seq) last.set(g.domain, g);
  return [...last.values()];
}

/** One GTID per (domain, server_id), the highest: merges a binlog state with a replica position. */
export function lastPerServer(list: readonly MariadbGtid[]): MariadbGtid[] {
  const last = new Map<string, MariadbGtid>();
  for (const g of list) {
    const key = `${g.domain}-${g.server}`;
    if ((last.get(key)?.seq ?? -1n) < g.seq) last.set(key, g);
  }
  return [...last.values()];
}

/** The entries of `want` whose domain `have` has not reached. */
export function positionGaps(have: readonly MariadbGtid[], want: readonly MariadbGtid[]): MariadbGtid[] {
  return want.filter((w) => {
    const h = have.find((g) => g.domain === w.domain);
    return h === undefined || h.seq < w.seq;
  });
}

/**
 * A primary's binlog state cut back to what a copy taken at GTID `position` holds. An entry beyond
 * its domain's position is a transaction in the binlog but not in the copy — under semi-sync
 * AFTER_SYNC one still waiting for its ACK, which the rebuilt replica must receive and acknowledge,
 * so it must not claim it already: it is dropped, as is every entry of a domain the position lacks.
 * That server's earlier history comes back with the replicated transaction. Pure.
 */
export function binlogStateAt(
  state: readonly MariadbGtid[],
  position: readonly MariadbGtid[],
): { kept: MariadbGtid[]; dropped: MariadbGtid[] } {
  const within = (g: MariadbGtid) => {
    const at = position.find((p) => p.domain === g.domain);
    return at !== undefined && g.seq <= at.seq;
  };
  return { kept: state.filter(within), dropped: state.filter((g) => !within(g)) };
}

/**
 * Divergence check on binlog *states* (one entry per domain and server, `@@gtid_binlog_state`):
 * every transaction `local` logged must be known to `peer` under the same domain AND server id.
 * Comparing sequence numbers per domain alone misses 0-1-7 vs 0-2-7 (two different transactions).
 * Returns, per offending (domain, server), the local last GTID and what the peer has (if anything).
 */
export interface ExtraTransactions {
  local: MariadbGtid;
  peerHas: MariadbGtid | undefined;
}

export function extraTransactions(
  local: readonly MariadbGtid[],
  peer: readonly MariadbGtid[],
): ExtraTransactions[] {
  const extras: ExtraTransactions[] = [];
  for (const l of local) {
    const p = peer.find((g) => g.domain === l.domain && g.server === l.server);
    if (p === undefined || p.seq < l.seq) extras.push({ local: l, peerHas: p });
  }
  return extras;
}

/** The GTID a `SHOW BINLOG EVENTS` row of type Gtid starts ("BEGIN GTID 0-1-7"), else undefined. */
export function gtidOfBinlogEvent(event: Record<string, unknown>): MariadbGtid | undefined {
  if (String(event.Event_type) !== 'Gtid') return undefined;
  const m = /GTID (\d+)-(\d+)-(\d+)/.exec(String(event.Info ?? ''));
  return m ? { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!) } : undefined;
}

/** `g` is one of the transactions an ExtraTransactions entry stands for (beyond what the peer has). */
export function isExtra(g: MariadbGtid, extras: readonly ExtraTransactions[]): boolean {
  return extras.some(
    (x) =>
      x.local.domain === g.domain &&
      x.local.server === g.server &&
      g.seq <= x.local.seq &&
      (x.peerHas === undefined || g.seq > x.peerHas.seq),
  );
}

/** Human text for one ExtraTransactions entry, e.g. "0-1-101 (peer has 0-1-100)". */
export function describeExtra(extra: ExtraTransactions): string {
  const peer = extra.peerHas
    ? `peer has ${formatGtid(extra.peerHas)}`
    : `peer has nothing from server ${extra.local.server} in domain ${extra.local.domain}`;
  return `${formatGtid(extra.local)} (${peer})`;
}

/** MySQL prints GTID sets with newlines after commas; compare and log them without whitespace. */
export function normalizeMysqlGtidSet(text: string | null | undefined): string {
  return (text ?? '').replace(/\s+/g, '');
}
