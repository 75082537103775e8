/**
 * keepalived.conf files of a pair → the equivalent hactl spec, as YAML text for review. Every value
 * keepalived.conf does not say (a node's own address when there is no unicast_src_ip, how a check
 * script maps onto a hactl check) is guessed and marked `# GUESSED:` so the operator edits it
 * before use. The YAML is written by hand: every value is vetted here against the spec's own
 * patterns, so nothing needs escaping and the comments sit next to what they explain.
 */
import { basename, dirname, join } from 'node:path';
import {
  buildModel,
  effectivePriority,
  trackedWeight,
  type ConfInstance,
  type ConfModel,
  type ConfScript,
} from './model.js';
import type { ParsedConf } from './parse.js';
import { readBoundedText, SCRIPT_SIZE_LIMIT } from './read.js';

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const SAFE_TOKEN = /^[/A-Za-z0-9._~:?&=%+,@;$*()[\]^|<>-]+$/;

export interface ImportResult {
  yaml: string;
  /** One line per guess or value left out, for the operator's terminal. */
  notes: string[];
}

export class ImportRefused extends Error {}

function identifierFrom(raw: string, fallback: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z]+/, '');
  return IDENTIFIER.test(cleaned) && cleaned.length <= 63 ? cleaned : fallback;
}

function nodeName(model: ConfModel, index: number): { name: string; guessed: boolean } {
  if (model.routerId && IDENTIFIER.test(model.routerId.value))
    return { name: model.routerId.value, guessed: false };
  const file = basename(model.file).replace(/\.conf$/, '');
  const stem = file === 'keepalived' ? basename(dirname(model.file)) : file;
  return { name: identifierFrom(stem, `node${index + 1}`), guessed: true };
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** A placeholder address next to the VIP, distinct per node and never the VIP itself. */
function guessedAddress(vip: string, nodeIndex: number, taken: Set<string>): string {
  const base = ipToInt(vip);
  for (let step = 1; step < 250; step++) {
    const host = ((base % 256) + step * (nodeIndex + 1)) % 254 || 1;
    const candidate = intToIp(base - (base % 256) + host);
    if (candidate !== vip && !taken.has(candidate)) {
      taken.add(candidate);
      return candidate;
    }
  }
  throw new ImportRefused(`no free placeholder address near ${vip}`);
}

interface CheckGuess {
  lines: string[];
  note?: string;
}

async function scriptText(path: string, scriptsDir: string | undefined): Promise<string | undefined> {
  if (!path.startsWith('/')) return undefined;
  // Only scripts (#!): a program like /bin/true holds strings that would look like a check.
  const direct = await readBoundedText(path, SCRIPT_SIZE_LIMIT);
  if (direct.ok) return direct.text.startsWith('#!') ? direct.text : undefined;
  if (!scriptsDir) return undefined;
  const fallback = await readBoundedText(join(scriptsDir, basename(path)), SCRIPT_SIZE_LIMIT);
  return fallback.ok && fallback.text.startsWith('#!') ? fallback.text : undefined;
}

async function checkFor(
  script: ConfScript,
  weight: number,
  nopreempt: boolean,
  scriptsDir: string | undefined,
): Promise<CheckGuess> {
  const command = script.script?.value ?? '';
  const program = command.split(/\s+/)[0] ?? '';
  const body = (await scriptText(program, scriptsDir)) ?? command;
  const name = identifierFrom(script.name, 'check');
  const processName =
    /\b(?:killall\s+-0|pidof|pgrep(?:\s+-x)?)\s+([A-Za-z][A-Za-z0-9_.-]*)/.exec(body)?.[1] ??
    /\bps\s+-C\s+([A-Za-z][A-Za-z0-9_.-]*)/.exec(body)?.[1];
  const url = /\bhttps?:\/\/[A-Za-z0-9._~:?&=%+,@;$*()[\]^|<>/-]+/.exec(body)?.[0];
  let kindLines: string[];
  let why: string;
  if (processName) {
    kindLines = ['    kind: process', `    params: { name: ${processName} }`];
    why = `it looks for the process "${processName}"`;
  } else if (url && SAFE_TOKEN.test(url)) {
    kindLines = ['    kind: http', `    params: { url: "${url}" }`];
    why = `it requests ${url}`;
  } else if (/mysql/i.test(body)) {
    kindLines = ['    kind: mysql'];
    why = 'it talks to MySQL';
  } else {
    return {
      lines: [
        `  # NOT IMPORTED: vrrp_script ${script.name} runs "${command.replace(/[\r\n]/g, ' ')}"; hactl checks are`,
        '  # http, tcp, process, mysql and replication: add the one that tests the same thing.',
      ],
      note: `vrrp_script ${script.name}: not imported (no hactl check kind recognised in it)`,
    };
  }
  const interval = Math.max(1, Math.round(script.interval?.value ?? 1));
  const keptWeight = nopreempt ? 0 : Math.max(-253, Math.min(253, weight));
  return {
    lines: [
      `  - name: ${name}                # GUESSED from vrrp_script ${script.name}: ${why}`,
      ...kindLines,
      `    interval: ${interval}`,
      `    fall: ${Math.max(1, script.fall?.value ?? 1)}`,
      `    rise: ${Math.max(1, script.rise?.value ?? 1)}`,
      `    weight: ${keptWeight}${
        nopreempt && weight !== 0
          ? `                   # was ${weight}: under nopreempt only weight 0 (FAULT) moves the VIPs`
          : ''
      }`,
    ],
    note: `vrrp_script ${script.name} → check ${name} (${why}): review it`,
  };
}

const DB_FAILOVER =
  /mysqlrpladmin|mysqlreplicate|change\s+master|show\s+slave\s+status|start\s+slave|read_only/i;
const ATLAS = /remove\s+backend|add\s+slave|mysql-proxy|-P\s*2345\b/i;

export async function importPair(
  confs: ParsedConf[],
  options: { scriptsDir?: string; sources: string[]; now?: Date },
): Promise<ImportResult> {
  if (confs.length !== 2)
    throw new ImportRefused(`import needs exactly two files, one per node (got ${confs.length})`);
  const models = confs.map(buildModel);
  const [first, second] = models as [ConfModel, ConfModel];
  if (first.instances.length === 0)
    throw new ImportRefused(`${first.file} has no vrrp_instance: nothing to import`);
  const notes: string[] = [];
  const out: string[] = [];
  const names = models.map(nodeName);
  if (names[0]!.name === names[1]!.name) names[1] = { name: `${names[1]!.name}_2`, guessed: true };

  out.push(`# hactl spec imported by \`hactl import\` from ${options.sources.join(' and ')}.`);
  out.push('# Review it before use: every "GUESSED" value is not in the keepalived.conf files, and every');
  out.push('# "NOT IMPORTED" line is something hactl does differently. Then: hactl lint --spec THIS_FILE');
  out.push('version: 1');
  const group = first.syncGroups[0] ?? second.syncGroups[0];
  out.push(
    group
      ? `cluster: ${identifierFrom(group.name, 'imported')}            # from vrrp_sync_group ${group.name}`
      : 'cluster: imported              # GUESSED: the files have no vrrp_sync_group to name the pair',
  );
  out.push('');

  // One network role per instance interface, named after the first instance that uses it.
  const roles = new Map<string, { role: string; instance: ConfInstance }>();
  for (const instance of first.instances) {
    const iface = instance.interface?.value;
    if (!iface || !INTERFACE.test(iface)) {
      throw new ImportRefused(
        `${first.file}:${instance.line}: vrrp_instance ${instance.name} has no usable interface`,
      );
    }
    if (!roles.has(iface))
      roles.set(iface, { role: identifierFrom(instance.name, `net${roles.size + 1}`), instance });
  }

  const taken = new Set(models.flatMap((m) => m.instances.flatMap((i) => i.vips.map((v) => v.address))));
  out.push('nodes:');
  for (const [index, model] of models.entries()) {
    const { name, guessed } = names[index]!;
    const main = model.instances[0];
    const priority = main ? effectivePriority(main) : 100;
    out.push(
      `  - name: ${name}${guessed ? `              # GUESSED from the file name ${basename(model.file)} (no router_id)` : ''}`,
    );
    out.push(
      `    priority: ${Math.min(254, Math.max(1, priority))}${priority > 254 ? '              # GUESSED: 255 (or a missing priority under state MASTER) ignores every weight' : ''}`,
    );
    out.push('    networks:');
    for (const [iface, { role, instance }] of roles) {
      const own = model.instances.find((i) => i.name === instance.name);
      const ownIface =
        own?.interface?.value && INTERFACE.test(own.interface.value) ? own.interface.value : iface;
      const src = own?.unicastSrcIp?.value;
      const vip = instance.vips[0]?.address;
      if (src && IPV4.test(src)) {
        taken.add(src);
        out.push(`      ${role}: { interface: ${ownIface}, address: ${src} }`);
      } else {
        if (!vip || !IPV4.test(vip)) {
          throw new ImportRefused(
            `${first.file}:${instance.line}: vrrp_instance ${instance.name} has no IPv4 VIP`,
          );
        }
        const address = guessedAddress(vip, index, taken);
        out.push(
          `      ${role}: { interface: ${ownIface}, address: ${address} }   # GUESSED: keepalived.conf does not say this node's address on ${ownIface}; set it`,
        );
        notes.push(`node ${name}: address on ${ownIface} guessed as ${address}: set the real one`);
      }
    }
  }
  out.push('');

  out.push('vips:                           # all move together in one vrrp_sync_group');
  for (const instance of first.instances) {
    const role = roles.get(instance.interface!.value)!.role;
    const peer = second.instances.find((i) => i.name === instance.name);
    for (const [n, vip] of instance.vips.entries()) {
      if (!IPV4.test(vip.address)) {
        out.push(`  # NOT IMPORTED: VIP ${vip.address} of ${instance.name} (hactl takes IPv4 VIPs only)`);
        continue;
      }
      const peerVip = peer?.vips.find((v) => v.address === vip.address);
      const prefix = vip.prefix ?? peerVip?.prefix ?? 32;
      const guessedPrefix =
        vip.prefix === undefined || (peerVip && (peerVip.prefix ?? 32) !== (vip.prefix ?? 32))
          ? `   # GUESSED: the nodes write /${vip.prefix ?? 32} and /${peerVip?.prefix ?? 32}; hactl needs one prefix`
          : '';
      out.push(
        `  - name: ${identifierFrom(n === 0 ? instance.name : `${instance.name}_${n + 1}`, `vip${n + 1}`)}`,
      );
      out.push(`    address: ${vip.address}/${prefix}${guessedPrefix}`);
      out.push(`    network: ${role}`);
      out.push(
        `    virtual_router_id: ${instance.virtualRouterId?.value ?? 51}${instance.virtualRouterId ? '' : '   # GUESSED: the file sets none'}`,
      );
      if (n > 0) {
        out.push(
          '    # NOTE: hactl makes one vrrp_instance per VIP; this one had its own line in the same instance',
        );
      }
    }
  }
  out.push('');

  const main = first.instances[0]!;
  const version = main.version?.value ?? first.vrrpVersion?.value ?? 2;
  const advert = main.advertInt?.value ?? 1;
  const unicast = first.instances.some((i) => i.unicastPeers.length > 0);
  out.push('election:');
  out.push(`  advert_int: ${advert}`);
  out.push(`  vrrp_version: ${version === 3 ? 3 : 2}`);
  out.push(
    `  unicast: ${unicast}${unicast ? '' : '                # the files use multicast (no unicast_peer); true sends adverts to the peer only'}`,
  );
  const pass = main.authType?.value === 'PASS' ? main.authPass?.value : undefined;
  if (pass !== undefined && version !== 3) {
    const kept = pass.slice(0, 8);
    if (SAFE_TOKEN.test(kept)) {
      out.push('  authentication:');
      out.push('    type: PASS');
      out.push(
        `    password: "${kept}"${pass.length > 8 ? '               # cut to the 8 characters keepalived really used' : ''}`,
      );
    } else {
      out.push(
        '  # NOT IMPORTED: the auth_pass holds characters a spec value cannot; set election.authentication',
      );
    }
  }
  out.push('');

  const nopreempt = models.some((m) => m.instances.some((i) => i.nopreempt));
  out.push(
    nopreempt
      ? 'failback: nopreempt             # the files set nopreempt: both nodes start BACKUP'
      : 'failback: preempt               # the files do not set nopreempt: the preferred node takes the VIPs back',
  );
  out.push('');

  const checkLines: string[] = [];
  const seen = new Set<string>();
  for (const instance of first.instances) {
    for (const tracked of instance.trackScripts) {
      const script = first.scripts.get(tracked.name);
      if (!script || seen.has(script.name)) continue;
      seen.add(script.name);
      const guess = await checkFor(script, trackedWeight(first, tracked), nopreempt, options.scriptsDir);
      checkLines.push(...guess.lines);
      if (guess.note) notes.push(guess.note);
    }
  }
  if (checkLines.some((line) => line.startsWith('  - '))) {
    out.push('checks:');
    out.push(...checkLines);
    out.push('');
  } else if (checkLines.length) {
    out.push(...checkLines);
    out.push('');
  }

  // Transition scripts: read them (or their namesakes under --scripts-dir) to see what they did.
  const notifyPaths = new Set(
    models.flatMap((m) =>
      m.instances.flatMap((i) => Object.values(i.notify).map((n) => n.value.split(/\s+/)[0]!)),
    ),
  );
  let promotes = false;
  let atlas = false;
  const unread: string[] = [];
  for (const path of notifyPaths) {
    const text = await scriptText(path, options.scriptsDir);
    if (text === undefined) {
      unread.push(path);
      continue;
    }
    promotes ||= DB_FAILOVER.test(text);
    atlas ||= ATLAS.test(text);
  }
  for (const path of unread) {
    out.push(`# NOT IMPORTED: notify script ${path} could not be read (pass --scripts-dir with a copy);`);
    out.push('# if it promoted or re-pointed MySQL, add mysql.promote / mysql.demote actions below.');
    notes.push(`notify ${path}: not read, its actions are not imported`);
  }
  if (promotes) {
    out.push('mysql:');
    out.push(
      '  credentials_file: /etc/hactl/mysql.cnf        # GUESSED path: [client] user= password=, mode 0600',
    );
    out.push('  replication_credentials_file: /etc/hactl/replication.cnf   # GUESSED path, mode 0600');
    out.push('  topology: one-way');
    out.push('');
    out.push('actions:                        # the notify scripts promoted/re-pointed MySQL');
    out.push('  master:');
    out.push(
      '    - type: mysql.promote       # drains the relay log first (the scripts used mysqlrpladmin failover)',
    );
    out.push('      on_failure: abort');
    if (atlas) {
      out.push('    - type: atlas               # the scripts edited Atlas backends (REMOVE BACKEND)');
      out.push(
        '      credentials_file: /etc/hactl/atlas.cnf   # GUESSED path: the Atlas admin account, mode 0600',
      );
    }
    out.push('  backup:');
    out.push('    - type: mysql.demote        # read_only=1, end sessions, re-point to the new primary');
    out.push('  fault:');
    out.push('    - type: mysql.demote');
    out.push('');
    notes.push(
      'notify scripts promote MySQL: mysql.promote/mysql.demote actions added; create the credential files',
    );
  }
  return { yaml: out.join('\n'), notes };
}
