/**
 * `mysql.demote`: make the local database read-only, end client sessions, and re-point it to the
 * peer when the peer really is the writable primary (src/mysql/demote.ts). Diverged data is a
 * failed result flagged `diverged`: notify exits non-zero and the log says what a human must do.
 */
import { writeLineage, type Lineage } from '../cluster/lineage.js';
import { connect } from '../mysql/connection.js';
import { demote, DivergedError } from '../mysql/demote.js';
import { readMarker } from '../mysql/rebuild.js';
import { peerAddresses } from './addresses.js';
import { localTarget, mysqlSpec, replicationAccount, stepLogger } from './mysql-common.js';
import { failed, messageOf, ok, type ActionContext, type ActionOf, type ActionRun } from './types.js';

/**
 * What demotion learnt about the primary is what a later promotion of this node is judged by:
 * a failed record is reported at error level (that promotion then relies on replica status alone).
 */
async function remember(
  context: ActionContext,
  record: Omit<Lineage, 'node' | 'at'>,
  log: ReturnType<typeof stepLogger>,
): Promise<void> {
  try {
    await writeLineage(context.spec.paths.state_dir, {
      ...record,
      node: context.node.name,
      at: new Date().toISOString(),
    });
    log('demote.lineage', {
      primary: record.primary,
      primary_position: record.primaryPosition,
      following: record.following,
      diverged: record.diverged,
    });
  } catch (error) {
    log('demote.lineage_not_saved', {
      level: 'error',
      reason: `the lineage record could not be written: ${messageOf(error)}`,
    });
  }
}

/**
 * Why this server must not be re-pointed because a rebuild stopped half-way (its marker in
 * paths.state_dir), or undefined. The server then holds a partial copy of the primary: starting
 * replication into it would apply the primary's changes onto rows that are missing or half there.
 * A marker that cannot be read counts as one: re-pointing is what must not happen by mistake.
 */
async function rebuildInProgress(stateDir: string, node: string): Promise<string | undefined> {
  try {
    const marker = await readMarker(stateDir, node);
    if (marker === null) return undefined;
    return `a rebuild from ${marker.peer} stopped half-way (${marker.at}; binlogs saved in ${marker.savedBinlogDir}): \`hactl rebuild --discard ${marker.discarded.join(',')}\` resumes it (the agent does by itself under strict semi-sync)`;
  } catch (error) {
    return `the rebuild marker cannot be read (${messageOf(error)}): a rebuild may have stopped half-way; inspect it, then run hactl rebuild`;
  }
}

export const run: ActionRun<ActionOf<'mysql.demote'>> = async (_action, context, signal) => {
  const mysql = mysqlSpec(context);
  const log = stepLogger(context, 'mysql.demote');
  const peers = peerAddresses(context.spec, context.node);
  // With more than two nodes the primary is not known from here: stay read-only, re-point nothing.
  const peer = peers.length === 1 ? { host: peers[0]!.host, port: peers[0]!.port } : undefined;
  const peerName = peers.length === 1 ? peers[0]!.node : undefined;
  // A broken replication credentials file must not stop the read-only part: it only skips re-pointing.
  const { account: replication, problem: credentialsProblem } = await replicationAccount(mysql);
  const unfinishedRebuild = await rebuildInProgress(context.spec.paths.state_dir, context.node.name);
  let session;
  try {
    session = await connect(localTarget(mysql), { timeoutMs: 3000, signal });
  } catch (error) {
    return failed(`cannot reach the local database to make it read-only: ${messageOf(error)}`);
  }
  try {
    const report = await demote(session, {
      topology: mysql.topology,
      semiSync: mysql.semi_sync,
      ...(peer && replication && unfinishedRebuild === undefined ? { peer, replication } : {}),
      log,
      // Same server, same account: ends commits waiting for a semi-sync ACK while read_only waits.
      openSession: () => connect(localTarget(mysql), { timeoutMs: 3000, queryTimeoutMs: 2000, signal }),
      connectTimeoutSec: 5,
      // Stop waiting for the peer to become primary as soon as the core sees this node take a
      // VIP: then a MASTER decision for this node is on its way and must not queue behind us.
      waitForPrimary: {
        timeoutSec: mysql.repoint_wait,
        keepWaiting: context.keepWaitingForPeer ?? (() => true),
        signal,
      },
    });
    if (unfinishedRebuild !== undefined) {
      log('demote.repoint_skipped', { level: 'error', reason: unfinishedRebuild });
      return {
        ok: false,
        diverged: true,
        detail: `read-only, ${report.killedSessions.length} client session(s) ended, not re-pointed: ${unfinishedRebuild}`,
        fields: { killed_sessions: report.killedSessions.length, gtid_position: report.gtidPosition },
      };
    }
    if (!replication)
      log('demote.repoint_skipped', {
        reason: credentialsProblem ?? 'no mysql.replication_credentials_file in the spec: read-only only',
      });
    const { repoint } = report;
    if (peerName && repoint.peerPosition !== null && repoint.result !== 'skipped') {
      await remember(
        context,
        {
          primary: peerName,
          primaryPosition: repoint.peerPosition,
          following: true,
          diverged: [],
          reason: `replicating from ${peerName}, the writable primary (${repoint.result})`,
        },
        log,
      );
    }
    const killed = report.killedSessions.length;
    if (credentialsProblem)
      return failed(
        `read-only, ${killed} client session(s) ended, but not re-pointed: ${credentialsProblem}`,
      );
    const result = ok(
      `read-only, ${killed} client session(s) ended, gtid ${report.gtidPosition}; re-point: ${report.repoint.result} (${report.repoint.reason})`,
      {
        killed_sessions: killed,
        gtid_position: report.gtidPosition,
        repoint: report.repoint.result,
        peer: report.repoint.peer,
      },
    );
    // The peer was unreachable or not yet writable: the next transition into this state re-points.
    return peer && replication && repoint.result === 'skipped'
      ? { ...result, unfinished: `not re-pointed: ${repoint.reason}` }
      : result;
  } catch (error) {
    if (error instanceof DivergedError) {
      if (peerName) {
        await remember(
          context,
          {
            primary: peerName,
            primaryPosition: error.peerPosition,
            following: false,
            diverged: error.extraGtids.length > 0 ? error.extraGtids : ['(see the replication error)'],
            reason: `diverged from ${peerName}, the writable primary: not re-pointed`,
          },
          log,
        );
      }
      return {
        ok: false,
        diverged: true,
        detail: error.message,
        fields: { extra_gtids: error.extraGtids, peer: error.peer },
      };
    }
    return failed(`demotion incomplete: ${messageOf(error)}`);
  } finally {
    await session.close();
  }
};
