/**
 * `hactl rebuild`: the explicitly confirmed way back for a standby that diverged from the primary
 * (issue 12 item 6, async): observe, refuse with the reason and the fix unless it is safe and the
 * operator listed exactly the transactions it discards, then replace this node's data with a copy
 * of the primary and replicate from it (src/mysql/rebuild.ts). Never silent, never writable.
 */
import { CommandFailed, ConfigError } from '../errors.js';
import { commandFlags, secondsFlag, SPEC_AND_NODE } from './flags.js';

const HELP = `Usage: hactl rebuild [--spec FILE] [--node NAME] --discard GTID[,GTID…] [--dry-run] [--json] [--timeout SEC]

Run on a standby that holds transactions the primary never received (hactl status and the
demotion log list them: "has diverged from its primary … Extra transactions here: …"). It
replaces this node's data with a copy of the primary and makes it replicate again. Those
transactions are DISCARDED from this node: --discard must list exactly them (order does not
matter), so nothing is thrown away unseen; a mismatch prints the actual list.

Refused (exit 1, with the reason and the fix) unless: this node holds none of the spec's VIPs,
the local server is read-only, the peer answers and is writable (the primary), and this server
holds GTIDs the peer lacks. Then, each step logged:
  1 STOP ALL SLAVES
  2 copy this server's binlogs into <paths.state_dir>/discarded-<time>/ (read them with mariadb-binlog)
  3 RESET MASTER (the discarded GTIDs leave the binlog state; gtid_strict_mode stays happy)
  4 DROP the databases the primary does not have
  5 mariadb-dump --single-transaction --gtid --master-data=1 --all-databases … from the peer,
    streamed into mariadb here with sql_log_bin=0 (it sets gtid_slave_pos to the copy's position);
    then gtid_binlog_state = the primary's, cut back to the copy's position (commits still
    waiting for an ACK come with replication), so a later failover the other way does not take
    the pair's history for transactions only this node has
  6 CHANGE MASTER TO the peer, MASTER_USE_GTID=slave_pos, START SLAVE (hactl's re-point path)
read_only stays ON throughout. Credentials go to the clients only through 0600 defaults files:
the dump reads the primary with the account of mysql.credentials_file (it needs SELECT, SHOW VIEW,
TRIGGER, EVENT, LOCK TABLES, RELOAD and BINLOG MONITOR there); re-pointing uses
mysql.replication_credentials_file.

Options:
  --spec FILE        the pair spec (default /etc/hactl/hactl.yaml)
  --node NAME        this node's name in the spec (default: found by hostname)
  --discard LIST     the GTIDs to discard, comma-separated (exactly those this node holds beyond the primary)
  --dry-run          check and print the plan and what it would discard; change nothing
  --json             the result as JSON
  --timeout SEC      budget for the whole rebuild, copy included (default 3600, 10..86400)
  --help             this text

Examples:
  hactl rebuild --dry-run --discard 0-1-1042
  hactl rebuild --node ha1 --discard 0-1-1042,0-1-1043

Exit 0: rebuilt and replicating (or dry run passed); 1: refused or a step failed (which one, the
node's state and what to run next are printed); 2: usage or spec error.`;

export async function main(argv: string[]): Promise<number> {
  const values = commandFlags('rebuild', HELP, argv, {
    ...SPEC_AND_NODE,
    discard: { type: 'string', multiple: true, default: [] },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '3600' },
  });
  if (!values) return 0;
  const timeoutSec = secondsFlag('timeout', values.timeout, 10, 86_400, 3600);
  const { loadSpec, findNode } = await import('../spec/load.js');
  const { spec } = loadSpec(values.spec);
  const node = findNode(spec, values.node);
  const mysql = spec.mysql;
  if (!mysql) throw new ConfigError('mysql: the spec has no mysql section; hactl rebuild needs it');
  if (!mysql.replication_credentials_file)
    throw new ConfigError(
      'mysql.replication_credentials_file is missing: a rebuilt node replicates with that account; add it to the spec',
    );
  const { peerAddresses } = await import('../actions/addresses.js');
  const peers = peerAddresses(spec, node);
  if (peers.length !== 1)
    throw new ConfigError(
      `nodes: hactl rebuild needs a pair (exactly one peer); the spec has ${peers.length}`,
    );
  const peer = peers[0]!;
  const peerText = `${peer.node} (${peer.host}:${peer.port})`;

  const { credentialsFor, connect, connectWith } = await import('../mysql/connection.js');
  const { localTarget } = await import('../actions/mysql-common.js');
  const { readOptionFile } = await import('../mysql/option-file.js');
  const { vipHolding } = await import('../cluster/vips.js');
  const rebuild = await import('../mysql/rebuild.js');
  const { createLogger } = await import('../log.js');
  const log = createLogger({ base: { command: 'rebuild', node: node.name } });
  const stepLog = (event: string, fields: Record<string, unknown>) => {
    const { level, ...rest } = fields;
    const chosen = level === 'warn' || level === 'error' ? level : 'info';
    log[chosen]({ ...rest, event });
  };
  const out = (text: string) => {
    if (!values.json) process.stdout.write(text + '\n');
  };

  const local = localTarget(mysql);
  const localCredentials = await credentialsFor(local);
  const admin = await readOptionFile(mysql.credentials_file);
  const repl = await readOptionFile(mysql.replication_credentials_file);
  if (repl.user === undefined || repl.password === undefined)
    throw new ConfigError(
      `${mysql.replication_credentials_file} (mysql.replication_credentials_file) needs user and password in its [client] section`,
    );
  const peerCredentials = {
    user: admin.user ?? 'root',
    ...(admin.password !== undefined ? { password: admin.password } : {}),
    host: peer.host,
    port: peer.port,
  };

  let session;
  try {
    session = await connect(local, { timeoutMs: 5_000, queryTimeoutMs: 60_000 });
  } catch (error) {
    throw new CommandFailed(
      `rebuild refused: the local database does not answer: ${(error as Error).message}`,
    );
  }
  try {
    let peerSession: Awaited<ReturnType<typeof connectWith>> | { problem: string };
    try {
      peerSession = await connectWith(peerCredentials, { timeoutMs: 5_000, queryTimeoutMs: 30_000 });
    } catch (error) {
      peerSession = { problem: `${peerText}: ${(error as Error).message}` };
    }
    let facts;
    try {
      let marker;
      try {
        marker = await rebuild.readMarker(spec.paths.state_dir, node.name);
      } catch (error) {
        throw new ConfigError(`paths.state_dir: ${(error as Error).message}`);
      }
      facts = await rebuild.observeForRebuild(session, peerSession, vipHolding(spec).held, marker);
    } finally {
      if (!('problem' in peerSession)) await peerSession.close();
    }
    stepLog('rebuild.seen', { ...facts, peer: peerText });
    const refused = rebuild.refusals(facts, values.discard);
    if (refused.length > 0) {
      if (values.json)
        process.stdout.write(
          JSON.stringify({ result: 'refused', refusals: refused, extra_gtids: facts.extraGtids }) + '\n',
        );
      throw new CommandFailed(
        `rebuild refused, nothing changed:\n${refused.map((r) => `  - ${r.reason}; fix: ${r.fix}`).join('\n')}`,
      );
    }
    const plan = rebuild.planLines(facts, peerText, spec.paths.state_dir);
    if (values['dry-run']) {
      for (const line of plan) out(line);
      out('dry run: nothing changed');
      if (values.json)
        process.stdout.write(
          JSON.stringify({ result: 'dry-run', discard: facts.extraGtids, plan, facts }) + '\n',
        );
      return 0;
    }
    for (const line of plan) out(line);
    let report;
    try {
      report = await rebuild.rebuild(session, facts, {
        local: localCredentials,
        peer: peerCredentials,
        replication: { user: repl.user, password: repl.password },
        stateDir: spec.paths.state_dir,
        node: node.name,
        topology: mysql.topology,
        semiSync: mysql.semi_sync,
        discard: [...values.discard],
        timeoutMs: timeoutSec * 1000,
        log: stepLog,
      });
    } catch (error) {
      if (error instanceof rebuild.RebuildStepFailed) {
        if (values.json)
          process.stdout.write(
            JSON.stringify({ result: 'failed', step: error.step, message: error.message }) + '\n',
          );
        throw new CommandFailed(error.message);
      }
      throw error;
    }
    const { rebuiltLineage, writeLineage } = await import('../cluster/lineage.js');
    try {
      await writeLineage(
        spec.paths.state_dir,
        rebuiltLineage(
          node.name,
          peer.node,
          report.dumpPosition,
          `rebuilt from ${peer.node}, discarding ${report.discarded.join(',')}`,
        ),
      );
    } catch (error) {
      stepLog('rebuild.lineage_not_saved', { level: 'error', reason: (error as Error).message });
    }
    out(`saved binlogs (holding the discarded transactions): ${report.savedBinlogDir}`);
    out(`discarded: ${report.discarded.join(',')}`);
    out(`copied ${report.bytesCopied} bytes from ${peerText} at GTID ${report.dumpPosition}`);
    const r = report.replication;
    out(
      `replication: IO ${r?.io ?? 'unknown'}, SQL ${r?.sql ? 'running' : 'stopped'}${r?.caughtUp ? ', caught up' : ''}; read_only ON`,
    );
    out(`done in ${(report.durationMs / 1000).toFixed(1)} s`);
    if (values.json) process.stdout.write(JSON.stringify({ result: 'rebuilt', ...report }) + '\n');
    return 0;
  } finally {
    await session.close();
  }
}
