/** What a parsed keepalived.conf says about VRRP: scripts, instances, sync groups, with lines. */
import type { ParsedConf, Statement } from './parse.js';

export interface At<T> {
  value: T;
  line: number;
}

export interface ConfScript {
  name: string;
  line: number;
  script?: At<string>;
  weight?: At<number>;
  interval?: At<number>;
  fall?: At<number>;
  rise?: At<number>;
}

export interface TrackedScript {
  name: string;
  line: number;
  /** `weight W` written on the track_script line overrides the vrrp_script's. */
  weight?: number;
}

export interface ConfVip {
  address: string;
  prefix?: number;
  line: number;
}

export interface ConfInstance {
  name: string;
  line: number;
  state?: At<string>;
  interface?: At<string>;
  virtualRouterId?: At<number>;
  priority?: At<number>;
  advertInt?: At<number>;
  version?: At<number>;
  authType?: At<string>;
  authPass?: At<string>;
  vips: ConfVip[];
  nopreempt?: At<true>;
  trackScripts: TrackedScript[];
  unicastSrcIp?: At<string>;
  unicastPeers: At<string>[];
  notify: Partial<
    Record<'notify' | 'notify_master' | 'notify_backup' | 'notify_fault' | 'notify_stop', At<string>>
  >;
}

export interface ConfSyncGroup {
  name: string;
  line: number;
  members: At<string>[];
  trackingWeight?: At<string>;
}

export interface ConfModel {
  file: string;
  routerId?: At<string>;
  vrrpVersion?: At<number>;
  scripts: Map<string, ConfScript>;
  instances: ConfInstance[];
  syncGroups: ConfSyncGroup[];
}

const num = (s: Statement): At<number> | undefined => {
  const raw = s.args[0];
  if (raw === undefined || !/^-?\d+(\.\d+)?$/.test(raw)) return undefined;
  return { value: Number(raw), line: s.line };
};
const str = (s: Statement): At<string> | undefined =>
  s.args.length ? { value: s.args.join(' '), line: s.line } : undefined;

/** The default priority keepalived gives an instance that sets none (vrrp_data.c). */
export const DEFAULT_PRIORITY = 100;

export function effectivePriority(instance: ConfInstance): number {
  // A misspelled or missing priority under state MASTER becomes 255 (DESIGN.md); BACKUP gets 100.
  if (instance.priority) return instance.priority.value;
  return instance.state?.value === 'MASTER' ? 255 : DEFAULT_PRIORITY;
}

function parseScript(s: Statement): ConfScript {
  const script: ConfScript = { name: s.args[0] ?? '', line: s.line };
  for (const child of s.block ?? []) {
    if (child.keyword === 'script') {
      const value = str(child);
      if (value) script.script = value;
    } else if (
      child.keyword === 'weight' ||
      child.keyword === 'interval' ||
      child.keyword === 'fall' ||
      child.keyword === 'rise'
    ) {
      const value = num(child);
      if (value) script[child.keyword] = value;
    }
  }
  return script;
}

function parseInstance(s: Statement): ConfInstance {
  const instance: ConfInstance = {
    name: s.args[0] ?? '',
    line: s.line,
    vips: [],
    trackScripts: [],
    unicastPeers: [],
    notify: {},
  };
  for (const child of s.block ?? []) {
    switch (child.keyword) {
      case 'state':
      case 'interface': {
        const value = str(child);
        if (value) instance[child.keyword] = value;
        break;
      }
      case 'virtual_router_id':
      case 'priority':
      case 'advert_int':
      case 'version': {
        const value = num(child);
        const key = {
          virtual_router_id: 'virtualRouterId',
          priority: 'priority',
          advert_int: 'advertInt',
          version: 'version',
        } as const;
        if (value) instance[key[child.keyword]] = value;
        break;
      }
      case 'nopreempt':
        instance.nopreempt = { value: true, line: child.line };
        break;
      case 'unicast_src_ip': {
        const value = str(child);
        if (value) instance.unicastSrcIp = value;
        break;
      }
      case 'unicast_peer':
        for (const peer of child.block ?? [])
          instance.unicastPeers.push({ value: peer.keyword, line: peer.line });
        break;
      case 'authentication':
        for (const auth of child.block ?? []) {
          const value = str(auth);
          if (value && auth.keyword === 'auth_type') instance.authType = value;
          if (value && auth.keyword === 'auth_pass') instance.authPass = value;
        }
        break;
      case 'virtual_ipaddress':
        for (const vip of child.block ?? []) {
          const [address, prefix] = vip.keyword.split('/');
          instance.vips.push({
            address: address ?? vip.keyword,
            ...(prefix !== undefined && /^\d+$/.test(prefix) ? { prefix: Number(prefix) } : {}),
            line: vip.line,
          });
        }
        break;
      case 'track_script':
        for (const tracked of child.block ?? []) {
          const weightAt = tracked.args.indexOf('weight');
          const weight = weightAt === -1 ? undefined : Number(tracked.args[weightAt + 1]);
          instance.trackScripts.push({
            name: tracked.keyword,
            line: tracked.line,
            ...(weight !== undefined && Number.isFinite(weight) ? { weight } : {}),
          });
        }
        break;
      case 'notify':
      case 'notify_master':
      case 'notify_backup':
      case 'notify_fault':
      case 'notify_stop': {
        const value = str(child);
        if (value) instance.notify[child.keyword] = value;
        break;
      }
    }
  }
  return instance;
}

export function buildModel(parsed: ParsedConf): ConfModel {
  const model: ConfModel = { file: parsed.file, scripts: new Map(), instances: [], syncGroups: [] };
  for (const s of parsed.statements) {
    if (s.keyword === 'global_defs') {
      for (const child of s.block ?? []) {
        if (child.keyword === 'router_id') {
          const value = str(child);
          if (value) model.routerId = value;
        }
        if (child.keyword === 'vrrp_version') {
          const value = num(child);
          if (value) model.vrrpVersion = value;
        }
      }
    } else if (s.keyword === 'vrrp_script') {
      const script = parseScript(s);
      model.scripts.set(script.name, script);
    } else if (s.keyword === 'vrrp_instance') {
      model.instances.push(parseInstance(s));
    } else if (s.keyword === 'vrrp_sync_group') {
      const group: ConfSyncGroup = { name: s.args[0] ?? '', line: s.line, members: [] };
      for (const child of s.block ?? []) {
        if (child.keyword === 'group') {
          for (const member of child.block ?? [])
            group.members.push({ value: member.keyword, line: member.line });
        }
        // global_tracking is 2.2.7's deprecated alias: both set sgroup_tracking_weight (vrrp_parser.c).
        if (child.keyword === 'sync_group_tracking_weight' || child.keyword === 'global_tracking') {
          group.trackingWeight = { value: child.keyword, line: child.line };
        }
      }
      model.syncGroups.push(group);
    }
  }
  return model;
}

/** The weight keepalived applies for a tracked script: the track_script line's, else the script's. */
export function trackedWeight(model: ConfModel, tracked: TrackedScript): number {
  return tracked.weight ?? model.scripts.get(tracked.name)?.weight?.value ?? 0;
}
