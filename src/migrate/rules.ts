/**
 * The traps of hand-written keepalived.conf files, explained in plain words with file:line. Every
 * rule has an id (printed, and used by the tests) and works on the parsed files of the pair:
 * one file per node, in the order given.
 */
import { basename, join } from 'node:path';
import { KEYWORDS, type KeywordTree } from './keywords.js';
import { buildModel, effectivePriority, trackedWeight, type ConfInstance, type ConfModel } from './model.js';
import type { KeepalivedComplaint } from './keepalived-t.js';
import type { ParsedConf, Statement } from './parse.js';
import { readBoundedText, SCRIPT_SIZE_LIMIT } from './read.js';
import { inlineCannotFail, shellTextCannotFail } from './script-check.js';

export type RuleId =
  | 'syntax'
  | 'include'
  | 'unknown-keyword'
  | 'weight-cannot-flip'
  | 'nopreempt-under-master'
  | 'sync-group-drops-weight'
  | 'auth-pass-too-long'
  | 'check-cannot-fail'
  | 'keepalived-rejects'
  | 'nodes-disagree';

export interface ConfFinding {
  severity: 'error' | 'warning';
  rule: RuleId;
  file: string;
  line?: number;
  message: string;
}

export interface LintOptions {
  /** Where to look for scripts by base name when the path in the config cannot be read here. */
  scriptsDir?: string;
  /** Run the installed keepalived -t on each file (default true). */
  keepalived?: (file: string, text: string) => Promise<KeepalivedComplaint[] | string>;
}

// Roots whose keyword tables keepalived builds in one place; the LVS/BFD blocks are filled by
// helper functions in other files, so their sub-keywords are not checked (no false alarms).
const CHECKED_ROOTS = new Set([
  'global_defs',
  'vrrp_instance',
  'vrrp_script',
  'vrrp_sync_group',
  'vrrp_track_process',
  'track_file',
  'vrrp_track_file',
  'garp_group',
  'track_group',
]);
// lib/parser.c handles these itself, before any keyword table.
const BUILT_IN_ROOTS = new Set(['include']);

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length]!;
}

export function nearestKeyword(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

const CONSEQUENCE: Record<string, string> = {
  vrrp_sync_group:
    'so this node has no sync group at all: its instances fail over one by one and the VIPs can end up split between the nodes',
  vrrp_instance: 'so this whole instance is ignored: this node never holds its VIP',
  vrrp_script: 'so this check does not exist and every track_script naming it is dropped',
  priority: 'so the instance runs with the default priority (100, or 255 under state MASTER)',
  nopreempt: 'so this node preempts after all',
  track_script: 'so no check is tracked by this instance',
  virtual_ipaddress: 'so the instance has no VIP',
};

function keywordFindings(conf: ParsedConf, skipped: Set<number>): ConfFinding[] {
  const findings: ConfFinding[] = [];
  const visit = (statements: Statement[], tree: KeywordTree, where: string) => {
    for (const s of statements) {
      if (s.keyword.startsWith('@') || s.keyword.startsWith('$') || s.keyword.startsWith('~')) continue;
      const known = Object.hasOwn(tree, s.keyword) || (where === '' && BUILT_IN_ROOTS.has(s.keyword));
      if (!known) {
        const suggestion = nearestKeyword(s.keyword, Object.keys(tree));
        const what = s.block ? 'block' : 'keyword';
        const consequence = suggestion ? CONSEQUENCE[suggestion] : undefined;
        for (let line = s.line; line <= (s.endLine ?? s.line); line++) skipped.add(line);
        findings.push({
          severity: 'error',
          rule: 'unknown-keyword',
          file: conf.file,
          line: s.line,
          message:
            `keepalived 2.2.7 has no ${what} "${s.keyword}"${where ? ` inside ${where}` : ''}` +
            (suggestion ? `: did you mean "${suggestion}"?` : '') +
            ` keepalived skips it${s.block ? ' and everything in its braces' : ''}` +
            (consequence ? `, ${consequence}` : '') +
            '.',
        });
        continue;
      }
      const sub = Object.hasOwn(tree, s.keyword) ? tree[s.keyword] : undefined;
      const checkInside = where !== '' || CHECKED_ROOTS.has(s.keyword);
      if (s.block && sub && Object.keys(sub).length > 0 && checkInside) {
        visit(s.block, sub, where ? `${where} → ${s.keyword}` : s.keyword);
      }
    }
  };
  visit(conf.statements, KEYWORDS, '');
  return findings;
}

function instanceLabel(instance: ConfInstance): string {
  return `vrrp_instance ${instance.name}`;
}

function perFileRules(model: ConfModel): ConfFinding[] {
  const findings: ConfFinding[] = [];
  for (const instance of model.instances) {
    if (instance.nopreempt && instance.state?.value === 'MASTER') {
      findings.push({
        severity: 'error',
        rule: 'nopreempt-under-master',
        file: model.file,
        line: instance.nopreempt.line,
        message: `${instanceLabel(instance)} sets nopreempt under state MASTER (line ${instance.state.line}): keepalived ignores nopreempt there, so this node takes the VIPs back whenever it returns. Use state BACKUP on both nodes with nopreempt.`,
      });
    }
    if (instance.authPass && instance.authPass.value.length > 8) {
      findings.push({
        severity: 'warning',
        rule: 'auth-pass-too-long',
        file: model.file,
        line: instance.authPass.line,
        message: `${instanceLabel(instance)}: auth_pass is ${instance.authPass.value.length} characters; keepalived uses only the first 8, so anything after the 8th character protects nothing (and a peer whose password differs only there is accepted). Use at most 8 characters.`,
      });
    }
  }
  for (const group of model.syncGroups) {
    if (group.trackingWeight) continue;
    for (const member of group.members) {
      const instance = model.instances.find((i) => i.name === member.value);
      for (const tracked of instance?.trackScripts ?? []) {
        const weight = trackedWeight(model, tracked);
        if (weight === 0) continue;
        findings.push({
          severity: 'error',
          rule: 'sync-group-drops-weight',
          file: model.file,
          line: tracked.line,
          message: `${instanceLabel(instance!)} is in vrrp_sync_group ${group.name} (line ${group.line}) and tracks script ${tracked.name} with weight ${weight}: keepalived 2.2.7 drops weighted track scripts of sync-group members ("ignoring tracked script … due to SYNC group"), so this check never does anything. Add sync_group_tracking_weight to the sync group, or use weight 0 (FAULT).`,
        });
      }
    }
  }
  return findings;
}

async function scriptFindings(model: ConfModel, options: LintOptions): Promise<ConfFinding[]> {
  const findings: ConfFinding[] = [];
  const tracked = new Set(model.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
  for (const script of model.scripts.values()) {
    if (!script.script) continue;
    const command = script.script.value;
    const base = `vrrp_script ${script.name} (script "${command}")`;
    const consequence = tracked.has(script.name)
      ? 'so this check never reports a failure and never moves the VIPs'
      : 'so this check would never report a failure';
    const inline = inlineCannotFail(command);
    if (inline) {
      findings.push({
        severity: 'error',
        rule: 'check-cannot-fail',
        file: model.file,
        line: script.script.line,
        message: `${base}: ${inline}, ${consequence}.`,
      });
      continue;
    }
    const program = command.trim().split(/\s+/)[0] ?? '';
    if (!program.startsWith('/')) continue;
    let read = await readBoundedText(program, SCRIPT_SIZE_LIMIT);
    let shown = program;
    if (!read.ok && options.scriptsDir) {
      const candidate = join(options.scriptsDir, basename(program));
      const second = await readBoundedText(candidate, SCRIPT_SIZE_LIMIT);
      if (second.ok) {
        read = second;
        shown = candidate;
      }
    }
    if (!read.ok) continue;
    if (!read.text.startsWith('#!') || !/^#!\s*\S*\b(ba|da|k|z)?sh\b/.test(read.text)) continue;
    const verdict = shellTextCannotFail(read.text);
    if (verdict) {
      findings.push({
        severity: 'error',
        rule: 'check-cannot-fail',
        file: model.file,
        line: script.script.line,
        message: `${base}: the script ${shown === program ? program : `${program} (read as ${shown})`} ${verdict}, ${consequence}. End it with \`exit 1\` when the service is down.`,
      });
    }
  }
  return findings;
}

function pairRules(a: ConfModel, b: ConfModel): ConfFinding[] {
  const findings: ConfFinding[] = [];
  const disagree = (line: number | undefined, message: string, severity: 'error' | 'warning' = 'error') =>
    findings.push({
      severity,
      rule: 'nodes-disagree',
      file: b.file,
      ...(line === undefined ? {} : { line }),
      message,
    });

  for (const ia of a.instances) {
    const ib = b.instances.find((i) => i.name === ia.name);
    if (!ib) {
      findings.push({
        severity: 'error',
        rule: 'nodes-disagree',
        file: a.file,
        line: ia.line,
        message: `${instanceLabel(ia)} exists here but not in ${b.file}: that node never takes over this VIP.`,
      });
      continue;
    }
    const where = `${instanceLabel(ia)} (${a.file}:${ia.line})`;
    const vridA = ia.virtualRouterId?.value;
    const vridB = ib.virtualRouterId?.value;
    if (vridA !== vridB) {
      disagree(
        ib.virtualRouterId?.line ?? ib.line,
        `${where}: virtual_router_id is ${vridA ?? 'missing'} on one node and ${vridB ?? 'missing'} on the other: they are two separate routers, both nodes become MASTER and both hold the VIP.`,
      );
    }
    const addresses = (i: ConfInstance) => new Map(i.vips.map((v) => [v.address, v]));
    const va = addresses(ia);
    const vb = addresses(ib);
    const onlyA = [...va.keys()].filter((k) => !vb.has(k));
    const onlyB = [...vb.keys()].filter((k) => !va.has(k));
    if (onlyA.length || onlyB.length) {
      disagree(
        ib.vips[0]?.line ?? ib.line,
        `${where}: the nodes disagree on the VIPs (only in ${a.file}: ${onlyA.join(', ') || 'none'}; only in ${b.file}: ${onlyB.join(', ') || 'none'}): after a failover clients lose the addresses the new holder does not carry.`,
      );
    }
    for (const [address, vipA] of va) {
      const vipB = vb.get(address);
      if (vipB && (vipA.prefix ?? 32) !== (vipB.prefix ?? 32)) {
        disagree(
          vipB.line,
          `${where}: VIP ${address} is /${vipA.prefix ?? 32} in ${a.file} (line ${vipA.line}) but /${vipB.prefix ?? 32} here (keepalived's default without a prefix is /32): the subnet route differs depending on which node holds it.`,
          'warning',
        );
      }
    }
    const typeA = ia.authType?.value ?? 'none';
    const typeB = ib.authType?.value ?? 'none';
    if (
      typeA !== typeB ||
      (ia.authPass?.value ?? '').slice(0, 8) !== (ib.authPass?.value ?? '').slice(0, 8)
    ) {
      disagree(
        ib.authPass?.line ?? ib.authType?.line ?? ib.line,
        `${where}: the nodes' authentication differs (auth_type ${typeA} vs ${typeB}${typeA === typeB ? ', auth_pass differs' : ''}): each drops the other's adverts, so both become MASTER.`,
      );
    }
    if ((ia.advertInt?.value ?? 1) !== (ib.advertInt?.value ?? 1)) {
      disagree(
        ib.advertInt?.line ?? ib.line,
        `${where}: advert_int is ${ia.advertInt?.value ?? 1} on one node and ${ib.advertInt?.value ?? 1} on the other: keepalived drops adverts with another interval, so both become MASTER.`,
      );
    }
    weightRule(a, ia, b, ib, findings);
  }
  for (const ib of b.instances) {
    if (!a.instances.some((i) => i.name === ib.name)) {
      disagree(
        ib.line,
        `${instanceLabel(ib)} exists here but not in ${a.file}: that node never takes over this VIP.`,
      );
    }
  }
  const groups = (m: ConfModel) =>
    m.syncGroups
      .map((g) => g.name)
      .sort()
      .join(',');
  if (groups(a) !== groups(b)) {
    const missing = a.syncGroups.length ? b : a;
    const having = a.syncGroups.length ? a : b;
    findings.push({
      severity: 'error',
      rule: 'nodes-disagree',
      file: missing.file,
      message: `${having.file} has vrrp_sync_group ${having.syncGroups.map((g) => g.name).join(', ')} (line ${having.syncGroups[0]?.line ?? '?'}) but ${missing.file} has ${missing.syncGroups.map((g) => g.name).join(', ') || 'none'}: on that node the instances move one by one, so the VIPs can split between the nodes.`,
    });
  }
  return findings;
}

/** A weight moves the VIPs only if it is larger than the priority gap between the nodes. */
function weightRule(
  a: ConfModel,
  ia: ConfInstance,
  b: ConfModel,
  ib: ConfInstance,
  findings: ConfFinding[],
): void {
  const pa = effectivePriority(ia);
  const pb = effectivePriority(ib);
  const [high, hi, low, li] = pa >= pb ? [a, ia, b, ib] : [b, ib, a, ia];
  const gap = Math.abs(pa - pb);
  const inSyncGroupWithoutWeights = (m: ConfModel, i: ConfInstance) =>
    m.syncGroups.some((g) => !g.trackingWeight && g.members.some((mm) => mm.value === i.name));
  if (inSyncGroupWithoutWeights(high, hi)) return; // sync-group-drops-weight says it already
  for (const tracked of hi.trackScripts) {
    const weight = trackedWeight(high, tracked);
    if (weight === 0) continue;
    if (Math.max(pa, pb) === 255) continue;
    if (Math.abs(weight) <= gap) {
      findings.push({
        severity: 'error',
        rule: 'weight-cannot-flip',
        file: high.file,
        line: tracked.line,
        message: `${instanceLabel(hi)}: script ${tracked.name} has weight ${weight}, but the priorities are ${Math.max(pa, pb)} here and ${Math.min(pa, pb)} in ${low.file} (gap ${gap}): when it fails on this node the other still does not outrank it${Math.abs(weight) === gap ? ' (a tie goes to the higher IP address, not to the healthy node)' : ''}, so the VIPs never move. Use a |weight| above ${gap}, or weight 0 (FAULT).`,
      });
    } else if (li.nopreempt) {
      findings.push({
        severity: 'warning',
        rule: 'weight-cannot-flip',
        file: high.file,
        line: tracked.line,
        message: `${instanceLabel(hi)}: script ${tracked.name} has weight ${weight}, but ${low.file} sets nopreempt (line ${li.nopreempt.line}): a nopreempt BACKUP never takes over from a running MASTER, whatever the priorities, so only weight 0 (FAULT) moves the VIPs.`,
      });
    }
  }
}

export async function lintConfs(
  confs: { parsed: ParsedConf; text: string }[],
  options: LintOptions = {},
): Promise<ConfFinding[]> {
  const findings: ConfFinding[] = [];
  const models = confs.map(({ parsed }) => buildModel(parsed));
  for (const [index, { parsed, text }] of confs.entries()) {
    for (const problem of parsed.problems) {
      findings.push({
        severity: problem.kind === 'include' ? 'warning' : 'error',
        rule: problem.kind === 'include' ? 'include' : 'syntax',
        file: parsed.file,
        line: problem.line,
        message: problem.message,
      });
    }
    // keepalived complains about every line of a block it skipped: our finding on its first line says it.
    const explained = new Set<number>();
    findings.push(...keywordFindings(parsed, explained));
    const model = models[index]!;
    findings.push(...perFileRules(model));
    findings.push(...(await scriptFindings(model, options)));
    if (options.keepalived) {
      for (const f of findings) if (f.file === parsed.file && f.line !== undefined) explained.add(f.line);
      const verdict = await options.keepalived(parsed.file, text);
      if (typeof verdict === 'string') {
        findings.push({
          severity: 'warning',
          rule: 'keepalived-rejects',
          file: parsed.file,
          message: verdict,
        });
      } else {
        for (const complaint of verdict) {
          // Lines our own rules explain already (unknown keywords, stray braces) are said once.
          if (complaint.line !== undefined && explained.has(complaint.line)) continue;
          findings.push({
            severity: complaint.warning ? 'warning' : 'error',
            rule: 'keepalived-rejects',
            file: parsed.file,
            ...(complaint.line === undefined ? {} : { line: complaint.line }),
            message: `the installed keepalived says: ${complaint.message}`,
          });
        }
      }
    }
  }
  if (models.length === 2) findings.push(...pairRules(models[0]!, models[1]!));
  return findings;
}
