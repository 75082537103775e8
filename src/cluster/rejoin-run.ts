/**
 * The agent's strict rejoin, end to end: read the facts rule 7's strict rejoin judges
 * (src/cluster/rejoin-rule.ts), and when it allows, run hactl's one rebuild path
 * (src/mysql/rebuild.ts) with exactly the GTIDs it names — rebuild's own refusals re-check
 * the node (no VIP, read-only, the peer writable, the list exact) before anything changes.
 * Slow (a binlog scan, a full copy of the primary): the loop runs it off its ticks, bounded by
 * `timeoutMs` and cancellable by `signal`. Its own connections, never the loop's kept one:
 * the rebuild sets session variables (sql_log_bin=0) that must not outlive it.
 */
import { peerAddresses } from '../actions/addresses.js';
import { localTarget } from '../actions/mysql-common.js';
import type { Logger } from '../log.js';
import { connectWith, credentialsFor, type MysqlSession } from '../mysql/connection.js';
import { readOptionFile } from '../mysql/option-file.js';
import {
  observeForRebuild,
  readMarker,
  rebuild,
  RebuildStepFailed,
  refusals,
  type RebuildFacts,
} from '../mysql/rebuild.js';
import { readSemiSync } from '../mysql/server-state.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import { readLineage, rebuiltLineage, writeLineage } from './lineage.js';
import { rejoinVerdict, type RejoinFacts } from './rejoin-rule.js';
import { vipHolding } from './vips.js';

/** The whole rebuild's budget, copy included (hactl rebuild's default). */
export const REJOIN_TIMEOUT_MS = 3_600_000;
const CONNECT_MS = 5_000;

export type RejoinOutcome =
  /** Nothing this node holds is missing on the peer, and no rebuild was interrupted. */
  | { result: 'nothing'; reason: string }
  | { result: 'refused'; reason: string; extraGtids: string[] }
  | { result: 'rebuilt'; reason: string; discarded: string[]; savedBinlogDir: string; durationMs: number }
  | { result: 'failed'; reason: string; discarded?: string[]; step?: string };

export interface RejoinOptions {
  spec: Spec;
  node: NodeSpec;
  log: Logger;
  signal: AbortSignal;
  timeoutMs?: number;
  /** Where the VIPs are read (default: this host's interfaces). */
  addresses?: () => ReadonlySet<string>;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function statusNumber(rows: Record<string, unknown>[], name: string): number | null {
  const row = rows.find((r) => String(r.Variable_name ?? r.VARIABLE_NAME ?? '').toLowerCase() === name);
  if (!row) return null;
  const value = Number(row.Value ?? row.VALUE);
  return Number.isFinite(value) ? value : null;
}

/** The rule's facts from what rebuild observed plus the semi-sync state of both servers. */
async function rejoinFacts(
  rebuildFacts: RebuildFacts,
  local: MysqlSession,
  peer: MysqlSession,
  peerNode: { node: string; address: string },
  spec: Spec,
  node: NodeSpec,
): Promise<RejoinFacts & { counters: Record<string, number | null> }> {
  const [localSemi, peerSemi, status, hosts, lineage] = await Promise.all([
    readSemiSync(local),
    readSemiSync(peer),
    local.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_no_t%'"),
    local.query('SHOW SLAVE HOSTS'),
    readLineage(spec.paths.state_dir, node.name),
  ]);
  const record = lineage.kind === 'ok' ? lineage.lineage : undefined;
  return {
    counters: {
      noTimes: statusNumber(status, 'rpl_semi_sync_master_no_times'),
      noTx: statusNumber(status, 'rpl_semi_sync_master_no_tx'),
    },
    vipsHeld: rebuildFacts.vipsHeld,
    localReadOnly: rebuildFacts.localReadOnly,
    localServerId: rebuildFacts.localServerId,
    peer: {
      ...peerNode,
      writable: rebuildFacts.peerReadOnly === false,
      serverId: rebuildFacts.peerServerId ?? -1,
    },
    local: localSemi,
    peerSemiSync: peerSemi,
    extraGtids: rebuildFacts.extraGtids,
    // Only a record about this peer, and only one that found a divergence, bounds what was written when.
    recordedDiverged:
      record && record.primary === peerNode.node && record.diverged.length > 0 ? record.diverged : null,
    replicaServerIds: hosts.map((h) => Number(h.Server_id ?? h.server_id)),
    marker: rebuildFacts.resumed
      ? {
          discarded: rebuildFacts.extraGtids,
          savedBinlogDir: rebuildFacts.resumed.savedBinlogDir,
          at: rebuildFacts.resumed.at,
        }
      : null,
  };
}

export async function runStrictRejoin(options: RejoinOptions): Promise<RejoinOutcome> {
  const { spec, node, log, signal } = options;
  const timeoutMs = options.timeoutMs ?? REJOIN_TIMEOUT_MS;
  const mysql = spec.mysql;
  if (!mysql?.replication_credentials_file)
    return { result: 'refused', reason: 'no mysql.replication_credentials_file in the spec', extraGtids: [] };
  const peers = peerAddresses(spec, node);
  const peerAddress = peers.length === 1 ? peers[0]! : undefined;
  if (!peerAddress) return { result: 'refused', reason: 'a rejoin needs exactly one peer', extraGtids: [] };
  const peerText = { node: peerAddress.node, address: `${peerAddress.host}:${peerAddress.port}` };
  const stepLog = (event: string, fields: Record<string, unknown>) => {
    const { level, ...rest } = fields;
    const chosen = level === 'warn' || level === 'error' ? level : 'info';
    log[chosen]({ ...rest, event });
  };

  let localCredentials;
  let session: MysqlSession;
  let admin;
  let repl;
  try {
    localCredentials = await credentialsFor(localTarget(mysql));
    admin = await readOptionFile(mysql.credentials_file);
    repl = await readOptionFile(mysql.replication_credentials_file);
    if (repl.user === undefined || repl.password === undefined)
      throw new Error(
        `${mysql.replication_credentials_file} needs user and password in its [client] section`,
      );
    session = await connectWith(localCredentials, { timeoutMs: CONNECT_MS, queryTimeoutMs: 60_000, signal });
  } catch (error) {
    return {
      result: 'failed',
      reason: `cannot read the local database or the accounts: ${messageOf(error)}`,
    };
  }
  const peerCredentials = {
    user: admin.user ?? 'root',
    ...(admin.password !== undefined ? { password: admin.password } : {}),
    host: peerAddress.host,
    port: peerAddress.port,
  };
  try {
    let facts: RebuildFacts;
    let rule: Awaited<ReturnType<typeof rejoinFacts>>;
    let peer: MysqlSession;
    try {
      peer = await connectWith(peerCredentials, { timeoutMs: CONNECT_MS, queryTimeoutMs: 30_000, signal });
    } catch (error) {
      return {
        result: 'refused',
        reason: `${peerText.node} (${peerText.address}) does not answer: ${messageOf(error)}`,
        extraGtids: [],
      };
    }
    try {
      const marker = await readMarker(spec.paths.state_dir, node.name);
      const held = vipHolding(spec, options.addresses?.()).held;
      facts = await observeForRebuild(session, peer, held, marker);
      rule = await rejoinFacts(facts, session, peer, peerText, spec, node);
    } finally {
      await peer.close();
    }
    const verdict = rejoinVerdict(rule, spec);
    if (verdict === undefined)
      return { result: 'nothing', reason: `this node holds nothing ${peerText.node} lacks` };
    if (!verdict.allow) return { result: 'refused', reason: verdict.reason, extraGtids: facts.extraGtids };
    // rebuild's own conditions, judged on the same facts: the list must be exact.
    const refused = refusals(facts, verdict.discard);
    if (refused.length > 0)
      return {
        result: 'refused',
        reason: `rebuild refused: ${refused.map((r) => r.reason).join('; ')}`,
        extraGtids: facts.extraGtids,
      };
    stepLog('rejoin.rebuilding', {
      discard: verdict.discard,
      resume: verdict.resume,
      reason: verdict.reason,
      // Evidence for a human, not judged: both also count what the demotion itself did.
      rpl_semi_sync_master_no_times: rule.counters.noTimes,
      rpl_semi_sync_master_no_tx: rule.counters.noTx,
    });
    let report;
    try {
      report = await rebuild(session, facts, {
        local: localCredentials,
        peer: peerCredentials,
        replication: { user: repl.user!, password: repl.password! },
        stateDir: spec.paths.state_dir,
        node: node.name,
        topology: mysql.topology,
        semiSync: mysql.semi_sync,
        discard: verdict.discard,
        timeoutMs,
        log: stepLog,
        signal,
      });
    } catch (error) {
      return {
        result: 'failed',
        reason: messageOf(error),
        discarded: verdict.discard,
        ...(error instanceof RebuildStepFailed ? { step: error.step } : {}),
      };
    }
    try {
      await writeLineage(
        spec.paths.state_dir,
        rebuiltLineage(
          node.name,
          peerText.node,
          report.dumpPosition,
          `rebuilt by the agent from ${peerText.node} (strict semi-sync), discarding ${report.discarded.join(',')}`,
        ),
      );
    } catch (error) {
      stepLog('rejoin.lineage_not_saved', { level: 'error', reason: messageOf(error) });
    }
    return {
      result: 'rebuilt',
      reason: verdict.reason,
      discarded: report.discarded,
      savedBinlogDir: report.savedBinlogDir,
      durationMs: report.durationMs,
    };
  } catch (error) {
    return { result: 'failed', reason: messageOf(error) };
  } finally {
    await session.close();
  }
}
