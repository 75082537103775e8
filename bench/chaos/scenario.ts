/**
 * `npm run chaos -- [--reps N] [--faults a,b] [--mode async|semi-sync] [--profile default|fast]
 * [--json FILE] [--hold S] [--stall S] [--agents] [--fencing] [--prefix P]`: the lab pair under faults, counted by what an
 * application saw acknowledged (bench/chaos/faults.ts). One lab for the whole run; it is rebuilt
 * whenever a repetition leaves the pair unhealthy, so the next repetition starts from a sane pair.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDir, labDown, labPaths, labUp } from '../../src/lab/lab.js';
import { FAST_ADVERT_SEC, fastAdvertProblem } from '../../src/lab/spec.js';
import {
  CHAOS_FAULTS,
  FAULT_HELP,
  pairProblems,
  processlists,
  NotReadyForRep,
  runRep,
  type ChaosFault,
  type RepResult,
} from './faults.js';
import { writeNaiveTemplate } from './naive.js';

const USAGE = `npm run chaos -- [options]   (root: it runs the namespace lab)

  --reps N            repetitions per fault (default 3)
  --faults a,b        faults to run (default: all but agent-kill; agent-kill needs --agents)
  --mode M            async (default) or semi-sync: the lab as \`hactl lab up --semi-sync strict\`
                      (option files with AFTER_SYNC, no async fallback, init_rpl_role=SLAVE;
                      the spec says mysql.semi_sync: strict)
  --profile P         default (VRRPv2, advert 1 s) or fast (VRRPv3, advert 0.1 s)
  --advert S          with --profile fast: its advert interval instead (0.01–1 s; issue 12's
                      ≤ 0.5 s premise is 0.05)
  --agents            run the lab with one hactl agent per node (lab --mode agent)
  --fencing           the spec gets a fencing section (README "Split brain and fencing"): the
                      promoting node sets the old primary read-only over both networks first;
                      with --agents the client is the witness (wait-for-witness), without them
                      no witness can be probed and the policy is promote-anyway
  --naive             the comparison row: seed 004's notify script (STOP SLAVE; RESET SLAVE ALL;
                      read_only=0) instead of hactl notify
  --hold S            how long isolation and peer-link last (default 10)
  --stall S           how long mysql-unreachable keeps the standby's mariadbd stopped (default 5)
  --rate R            writer inserts per second (default 150)
  --json FILE         also write every repetition as JSON
  --prefix P          lab prefix (default chaos)
  --keep-logs         keep hactl's and both servers' logs of every repetition in /tmp (by default
                      only of a repetition that left the pair unhealthy)
  --table FILE        print the table of an earlier run's --json FILE and exit

faults:
${CHAOS_FAULTS.map((f) => `  ${f.padEnd(19)}${FAULT_HELP[f]}`).join('\n')}

example: npm run chaos -- --reps 5 --faults node-loss,isolation --json /tmp/chaos.json`;

interface Row {
  fault: ChaosFault;
  reps: RepResult[];
}

function range(values: (number | null)[], digits = 2): string {
  const known = values.filter((v): v is number => v !== null);
  const missing = values.length - known.length;
  if (known.length === 0) return missing > 0 ? '–' : '';
  const lo = Math.min(...known).toFixed(digits);
  const hi = Math.max(...known).toFixed(digits);
  return `${lo === hi ? lo : `${lo}–${hi}`}${missing > 0 ? ` (${missing}× none)` : ''}`;
}

/** Lost ids no table could place (a node unreadable at the end); absent from older JSON runs. */
function unplacedNote(reps: RepResult[]): string {
  const n = reps.reduce((sum, x) => sum + (x.lostUnplaced ?? 0), 0);
  return n > 0 ? `, ${n} unplaced` : '';
}

/** Diverged old primaries: left out (unhealthy), or back by themselves (under strict semi-sync, the agent's rebuild). */
export function divergedNote(reps: readonly RepResult[]): string {
  const out = reps.filter((x) => x.diverged && !x.healthy).length;
  const back = reps.filter((x) => x.diverged && x.healthy).length;
  const parts = [
    ...(out > 0 ? [`${out} diverged`] : []),
    ...(back > 0 ? [`${back} diverged, rejoined by itself`] : []),
  ];
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

export function markdownTable(rows: Row[]): string {
  const header = [
    'fault',
    'reps',
    'acked',
    'lost: received by standby / not (still on the other node)',
    'dup',
    'both writable s',
    'VIP on 2/0 nodes s',
    'time to VIP s',
    'first write s',
    'longest write gap s',
    'healthy after',
  ];
  const lines = rows.map((row) => {
    const r = row.reps;
    const sum = (f: (x: RepResult) => number) => r.reduce((s, x) => s + f(x), 0);
    return [
      row.fault,
      String(r.length),
      String(sum((x) => x.acked)),
      `${range(
        r.map((x) => x.lostReceived),
        0,
      )} / ${range(
        r.map((x) => x.lost - x.lostReceived),
        0,
      )} (${range(
        r.map((x) => x.lostButOnOther),
        0,
      )})${unplacedNote(r)}`,
      range(
        r.map((x) => x.duplicated),
        0,
      ),
      range(r.map((x) => x.bothWritableS)),
      range(r.map((x) => x.vipNotOnOneS)),
      range(r.map((x) => x.timeToVipS)),
      range(r.map((x) => x.firstWriteS)),
      range(r.map((x) => x.longestWriteGapS)),
      `${r.filter((x) => x.healthy).length}/${r.length}` + divergedNote(r),
    ];
  });
  const fmt = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [fmt(header), fmt(header.map(() => '---')), ...lines.map(fmt)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      reps: { type: 'string', default: '3' },
      faults: { type: 'string' },
      mode: { type: 'string', default: 'async' },
      profile: { type: 'string', default: 'default' },
      advert: { type: 'string' },
      agents: { type: 'boolean', default: false },
      naive: { type: 'boolean', default: false },
      fencing: { type: 'boolean', default: false },
      hold: { type: 'string', default: '10' },
      stall: { type: 'string', default: '5' },
      rate: { type: 'string', default: '150' },
      json: { type: 'string' },
      prefix: { type: 'string', default: 'chaos' },
      table: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.table !== undefined) {
    const run = JSON.parse(readFileSync(values.table, 'utf8')) as { faults: Row[] };
    console.log(markdownTable(run.faults));
    return 0;
  }
  const reps = Number(values.reps);
  const hold = Number(values.hold);
  const stall = Number(values.stall);
  const rate = Number(values.rate);
  const bad = (flag: string, why: string) => {
    console.error(`chaos: --${flag} ${why}\n\n${USAGE}`);
    return 2;
  };
  if (!Number.isInteger(reps) || reps < 1 || reps > 100) return bad('reps', 'must be a whole number 1–100');
  if (!(hold > 0 && hold <= 120)) return bad('hold', 'must be seconds, more than 0 and at most 120');
  if (!(stall > 0 && stall <= 60)) return bad('stall', 'must be seconds, more than 0 and at most 60');
  if (!(rate > 0 && rate <= 1000))
    return bad('rate', 'must be inserts per second, more than 0 and at most 1000');
  if (values.mode !== 'async' && values.mode !== 'semi-sync')
    return bad('mode', `is ${JSON.stringify(values.mode)}: use async or semi-sync`);
  if (values.profile !== 'default' && values.profile !== 'fast')
    return bad('profile', `is ${JSON.stringify(values.profile)}: use default or fast`);
  const advert = values.advert === undefined ? undefined : Number(values.advert);
  if (advert !== undefined) {
    const problem =
      values.profile === 'fast' ? fastAdvertProblem(advert) : 'applies only with --profile fast';
    if (problem) return bad('advert', problem);
  }
  const defaults = CHAOS_FAULTS.filter((f) => values.agents || f !== 'agent-kill');
  const faults = (values.faults?.split(',').map((f) => f.trim()) ?? defaults) as ChaosFault[];
  const unknown = faults.filter((f) => !CHAOS_FAULTS.includes(f));
  if (unknown.length > 0)
    return bad('faults', `names unknown fault(s) ${unknown.join(', ')}: see the list below`);
  if (faults.includes('agent-kill') && !values.agents)
    return bad(
      'faults',
      'includes agent-kill, which needs --agents (the lab then runs one hactl agent per node)',
    );
  if (values.naive && values.mode === 'semi-sync')
    return bad(
      'naive',
      "is the async comparison row: seed 004's script knows nothing of semi-sync (run it with --mode async)",
    );
  if (values.naive && values.fencing)
    return bad('naive', 'replaces hactl notify, which is what fences: it cannot run with --fencing');
  if (values.naive && values.agents)
    return bad('naive', 'replaces hactl notify: it cannot run with --agents');
  if (process.getuid?.() !== 0) {
    console.error('chaos: needs root (the lab creates network namespaces); run it with sudo');
    return 2;
  }

  const lab = { prefix: values.prefix, dir: defaultDir(values.prefix) };
  const semiSync = values.mode === 'semi-sync';
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Ctrl-C, or a SIGTERM from a job's timeout, ends the run with the lab torn down: Node's default
  // is to exit at once, leaving namespaces, keepalived and the servers behind. A second signal
  // finds no handler and ends the process as before.
  const stopOn = (signal: NodeJS.Signals) => {
    say(`chaos: ${signal}: tearing the lab down (prefix ${lab.prefix})`);
    void labDown(lab).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stopOn);
  process.once('SIGTERM', stopOn);
  const naive = values.naive ? writeNaiveTemplate(lab.dir) : undefined;
  const flavour = values.naive
    ? 'naive seed-004 notify'
    : values.agents
      ? 'hactl agents'
      : 'hactl notify scripts';
  const flavourFenced = values.fencing ? `${flavour} + fencing` : flavour;
  const up = async () => {
    await labDown(lab);
    say(`lab up (prefix ${lab.prefix}, ${values.profile} profile, ${flavourFenced}, ${values.mode})…`);
    await labUp({
      ...lab,
      fast: values.profile === 'fast',
      ...(advert !== undefined ? { fastAdvertSec: advert } : {}),
      mode: values.agents ? 'agent' : 'scripts',
      ...(naive ? { template: naive.path } : {}),
      ...(semiSync ? { semiSync: 'strict' as const } : {}),
      ...(values.fencing ? { fencing: true } : {}),
    });
  };
  const rows: Row[] = [];
  const startedOver: string[] = [];
  const started = Date.now();
  try {
    await up();
    for (const fault of faults) {
      const row: Row = { fault, reps: [] };
      rows.push(row);
      for (let rep = 1; rep <= reps; rep++) {
        const once = () =>
          runRep(lab, fault, {
            holdSec: hold,
            stallSec: stall,
            rate,
            say,
            strictSemiSync: semiSync,
            agentsRejoin: semiSync && values.agents,
          });
        // A pair a previous repetition left unusable (the naive row's pairs do) is rebuilt once,
        // and said so, instead of ending the whole run; a second refusal ends it as before.
        const result = await once().catch(async (error: unknown) => {
          if (!(error instanceof NotReadyForRep)) throw error;
          const why = `${fault} #${rep} started over on a rebuilt lab: ${error.message}`;
          say(why);
          startedOver.push(why);
          await up();
          return once();
        });
        row.reps.push(result);
        say(
          `${fault} #${rep}: ${result.from}→${result.to ?? 'nobody'} acked ${result.acked} lost ${result.lost} (received by the standby ${result.lostReceived}) ` +
            `(${result.lostButOnOther} on the other node) both-writable ${result.bothWritableS}s ` +
            `vip-not-on-one ${result.vipNotOnOneS}s vip ${result.timeToVipS ?? '-'}s first-write ${result.firstWriteS ?? '-'}s ` +
            `gap ${result.longestWriteGapS}s ${result.healthy ? 'healthy' : `UNHEALTHY: ${result.problems.join('; ')}`}` +
            (result.diverged
              ? ` (old primary diverged: ${result.diverged}${result.healthy ? '; rejoined by itself' : ''})`
              : '') +
            (result.vanished.length > 0
              ? ` VANISHED (on neither node): ${JSON.stringify(result.vanished)}`
              : '') +
            ((result.lostUnplaced ?? 0) > 0
              ? ` UNPLACED (a table could not be read: ${result.unreadable.join('; ')}): ${result.lostUnplaced}`
              : '') +
            ((result.failedReads ?? []).length > 0
              ? ` (reads of a table that failed: ${result.failedReads.join('; ')})`
              : '') +
            (result.evidenceFile ? ` evidence: ${result.evidenceFile}` : ''),
        );
        const unhealthy = (await pairProblems(lab)).problems.length > 0;
        if (values['keep-logs'] || unhealthy) {
          // The rebuild removes the lab's hactl.log: keep it for whoever reads the table.
          const kept = `/tmp/hactl-chaos-${lab.prefix}-${fault}-${rep}.log`;
          try {
            copyFileSync(labPaths(lab.dir).log, kept);
            say(`hactl's log of this repetition: ${kept}`);
          } catch {
            /* no log to keep */
          }
          // And each server's own log: a wedged mariadbd says more there than through a session.
          for (const node of ['ha1', 'ha2'] as const) {
            const server = `/tmp/hactl-chaos-${lab.prefix}-${fault}-${rep}-${node}-mariadbd.log`;
            try {
              copyFileSync(join(labPaths(lab.dir).node[node].dbDir, 'mariadbd.log'), server);
              say(`${node}'s mariadbd log: ${server}`);
            } catch {
              /* no log to keep */
            }
          }
          const listed = `/tmp/hactl-chaos-${lab.prefix}-${fault}-${rep}-processlist.json`;
          writeFileSync(listed, JSON.stringify(await processlists(lab), null, 1) + '\n');
          say(`both servers' processlists: ${listed}`);
          say(
            `${unhealthy ? 'the pair is not healthy' : '--keep-logs'}: rebuilding the lab for the next repetition`,
          );
          await up();
        }
      }
    }
  } finally {
    await labDown(lab);
    naive?.remove();
    process.off('SIGINT', stopOn);
    process.off('SIGTERM', stopOn);
  }
  const profile =
    values.profile === 'fast'
      ? `fast profile (VRRPv3, advert ${advert ?? FAST_ADVERT_SEC} s)`
      : 'default profile (VRRPv2, advert 1 s)';
  console.log(
    `\nchaos: ${reps} rep(s) per fault, ${values.mode}, ${profile}, ${flavourFenced}, ` +
      `writer ${rate}/s through the inside VIP, hold ${hold} s, stall ${stall} s, ${new Date().toISOString().slice(0, 10)}\n`,
  );
  console.log(markdownTable(rows));
  for (const line of startedOver) console.log(`\n${line}`);
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          reps,
          mode: values.mode,
          profile: values.profile,
          agents: values.agents,
          naive: values.naive,
          fencing: values.fencing,
          holdSec: hold,
          stallSec: stall,
          rate,
          startedOver,
          faults: rows,
        },
        null,
        2,
      ) + '\n',
    );
  }
  return 0;
}
