/**
 * Every spec field has an effect or is refused (issue 8). The published JSON Schema (`hactl schema`)
 * is walked, and every field (and every value of an enum) must be listed below either with a test
 * file that exercises it, or as refused by lint with the broken spec that proves it. A new field
 * without either fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

interface Exercised {
  /** A test file that exercises the field's effect and mentions it. */
  test: string;
  /** A spec fixture or helper the test loads, which mentions the field (the test then names it). */
  via?: string;
  /** The text to look for instead of the field's own name (e.g. the option it becomes). */
  mentions?: string;
}
interface Refused {
  /** A spec in test/lint/broken whose expected errors name the field: lint refuses it. */
  refused: string;
}
type Evidence = Exercised | Refused;

const RENDER = 'test/render/render.test.ts';
const EFFECTS = 'test/lint/field-effects.test.ts';
const PARSE = 'test/checks/parse.test.ts';

const NOTIFY = 'test/notify/notify-cli.test.ts';
const ACTIONS = 'test/actions/process-actions.test.ts';
const PROXIES = 'test/actions/proxies.test.ts';
const HAPROXY = 'test/actions/haproxy.test.ts';
const UPKEEP = 'test/proxy/upkeep.test.ts';
const PROMOTE = 'test/mysql/promote.test.ts';
const MYSQL_CHECKS = 'test/mysql/checks.test.ts';
const MYSQL_NOTIFY = 'test/notify/mysql-notify.test.ts';
const SEED001 = 'test/render/specs/seed001.yaml';
const SEED002 = 'test/render/specs/seed002.yaml';
const SEED004 = 'test/render/specs/seed004.yaml';
const WEIGHTED = 'test/render/specs/dual-vip-weighted.yaml';
const AGENT = 'test/render/specs/agent-after-catch-up.yaml';
const FENCE_RULE = 'test/fence/fencing-rule.test.ts';
const WITNESS_MONITOR = 'test/fence/witness-monitor.test.ts';
const SYNC_ARGV = 'test/sync/argv.test.ts';
const SYNC_E2E = 'test/e2e/sync.test.ts';
const render = (via: string): Exercised => ({ test: RENDER, via });

/**
 * Fields of the action lists backup/fault/stop are those of actions.master (one schema), listed once.
 * Where a test exercises an option object rather than the spec, `mentions` names that option: the
 * spec → option mapping is one line in the action module (src/actions/mysql-promote.ts).
 */
const EVIDENCE: Record<string, Evidence> = {
  cluster: render(SEED004),
  nodes: render(SEED001),
  'nodes[].name': render(SEED001),
  'nodes[].hostname': { test: EFFECTS },
  'nodes[].priority': render(SEED001),
  'nodes[].networks': render(SEED001),
  'nodes[].networks.*.interface': render(SEED001),
  'nodes[].networks.*.address': render(SEED001),
  vips: render(SEED001),
  'vips[].name': render(SEED001),
  'vips[].address': render(SEED001),
  'vips[].network': render(SEED001),
  'vips[].virtual_router_id': render(SEED001),
  election: render(SEED001),
  'election.advert_int': render(WEIGHTED),
  'election.vrrp_version': render(WEIGHTED),
  'election.vrrp_version=2': { ...render(SEED004), mentions: 'vrrp_version: 2' },
  'election.vrrp_version=3': { ...render(WEIGHTED), mentions: 'vrrp_version: 3' },
  'election.unicast': { test: EFFECTS },
  'election.authentication': render(SEED001),
  'election.authentication.password': render(SEED001),
  'election.realtime_priority': { test: RENDER },
  'election.garp_lower_prio_repeat': { test: EFFECTS },
  'election.garp_master_refresh': { test: EFFECTS },
  'election.garp_master_refresh_repeat': { test: EFFECTS },
  failback: render(SEED004),
  'failback=preempt': render(SEED001),
  'failback=nopreempt': { test: RENDER },
  'failback=after-catch-up': render(AGENT),
  checks: render(SEED002),
  'checks[].name': render(SEED002),
  'checks[].interval': render(SEED002),
  'checks[].timeout': render(SEED002),
  'checks[].fall': render(SEED002),
  'checks[].rise': render(SEED002),
  'checks[].weight': render(SEED002),
  'checks[].nodes': render(WEIGHTED),
  'checks[].only_on_master': { test: 'test/checks/master-only.test.ts' },
  'checks[kind=http].params': { test: PARSE },
  'checks[kind=http].params.url': { test: PARSE },
  'checks[kind=http].params.expect_status': { test: PARSE },
  'checks[kind=http].params.expect_body': { test: 'test/checks/cli.test.ts' },
  'checks[kind=http].params.host_header': { test: EFFECTS },
  'checks[kind=http].params.method': { test: EFFECTS },
  'checks[kind=http].params.method=GET': { test: EFFECTS },
  'checks[kind=http].params.method=HEAD': { test: EFFECTS },
  'checks[kind=http].params.insecure': { test: PARSE },
  'checks[kind=tcp].params': { test: PARSE },
  'checks[kind=tcp].params.host': { test: PARSE },
  'checks[kind=tcp].params.port': { test: PARSE },
  'checks[kind=process].params': { test: PARSE },
  'checks[kind=process].params.name': { test: PARSE },
  'checks[kind=process].params.min_count': { test: PARSE },
  'checks[kind=process].params.restart_cmd': { test: PARSE },
  'checks[kind=process].params.restart_wait': { test: PARSE },
  'checks[kind=process].params.restart_backoff': { test: PARSE },
  'checks[kind=mysql].params': { test: PARSE },
  'checks[kind=mysql].params.expect_role': { test: PARSE },
  'checks[kind=mysql].params.expect_role=primary': { test: PARSE },
  'checks[kind=mysql].params.expect_role=replica': {
    test: MYSQL_CHECKS,
    mentions: "'expect-role': 'replica'",
  },
  'checks[kind=mysql].params.defaults_file': { test: EFFECTS },
  'checks[kind=replication].params': { test: PARSE },
  'checks[kind=replication].params.max_lag': { test: PARSE },
  'checks[kind=replication].params.allow_connecting': { test: PARSE },
  'checks[kind=replication].params.caught_up': { test: MYSQL_CHECKS, mentions: "'caught-up': true" },
  'checks[kind=replication].params.defaults_file': { test: PARSE },
  actions: { test: NOTIFY },
  'actions.master': { test: NOTIFY },
  'actions.master[].timeout': { test: NOTIFY },
  'actions.master[].on_failure': { test: NOTIFY },
  'actions.master[].on_failure=continue': { test: EFFECTS },
  'actions.master[].on_failure=abort': { test: NOTIFY },
  'actions.master[type=service].name': { test: ACTIONS },
  'actions.master[type=service].op': { test: ACTIONS },
  'actions.master[type=service].op=start': { test: ACTIONS },
  'actions.master[type=service].op=stop': { test: ACTIONS },
  'actions.master[type=service].op=reload': { test: EFFECTS },
  'actions.master[type=service].op=restart': { test: EFFECTS },
  'actions.master[type=service].commands': { test: ACTIONS },
  'actions.master[type=service].commands.start': { test: ACTIONS },
  'actions.master[type=service].commands.stop': { test: ACTIONS },
  'actions.master[type=service].commands.reload': { test: EFFECTS },
  'actions.master[type=service].commands.restart': { test: EFFECTS },
  'actions.master[type=signal].pidfile': { test: ACTIONS },
  'actions.master[type=signal].signal': { test: ACTIONS },
  'actions.master[type=signal].signal=HUP': { test: EFFECTS },
  'actions.master[type=signal].signal=USR1': { test: EFFECTS },
  'actions.master[type=signal].signal=USR2': { test: EFFECTS },
  'actions.master[type=signal].signal=TERM': { test: EFFECTS },
  'actions.master[type=signal].signal=INT': { test: EFFECTS },
  'actions.master[type=signal].signal=QUIT': { test: EFFECTS },
  'actions.master[type=signal].signal=WINCH': { test: EFFECTS },
  'actions.master[type=command].argv': { test: ACTIONS },
  'actions.master[type=command].env': { test: ACTIONS },
  'actions.master[type=webhook].url': { test: 'test/actions/webhook.test.ts' },
  'actions.master[type=webhook].retries': { test: 'test/actions/webhook.test.ts' },
  'actions.master[type=haproxy].socket': { test: HAPROXY },
  'actions.master[type=haproxy].backend': { test: HAPROXY },
  'actions.master[type=haproxy].server': { test: HAPROXY },
  'actions.master[type=haproxy].op': { test: HAPROXY },
  'actions.master[type=haproxy].op=enable': { test: HAPROXY },
  'actions.master[type=haproxy].op=disable': { test: HAPROXY },
  'actions.master[type=haproxy].op=drain': { test: HAPROXY },
  'actions.master[type=proxysql].admin_host': { test: PROXIES },
  'actions.master[type=proxysql].admin_port': { test: PROXIES },
  'actions.master[type=proxysql].credentials_file': { test: PROXIES },
  'actions.master[type=proxysql].writer_hostgroup': { test: PROXIES },
  'actions.master[type=proxysql].reader_hostgroup': { test: PROXIES },
  'actions.master[type=proxysql].network': { test: EFFECTS },
  'actions.master[type=atlas].admin_host': { test: PROXIES },
  'actions.master[type=atlas].admin_port': { test: PROXIES },
  'actions.master[type=atlas].credentials_file': { test: PROXIES },
  'actions.master[type=atlas].network': { test: EFFECTS },
  'actions.backup': { test: EFFECTS },
  'actions.fault': { test: EFFECTS },
  'actions.stop': { test: EFFECTS },
  mysql: { test: MYSQL_NOTIFY, via: 'test/notify/mysql-pair.ts' },
  'mysql.credentials_file': { test: PARSE },
  'mysql.host': { test: EFFECTS },
  'mysql.port': { test: EFFECTS },
  'mysql.socket': { test: EFFECTS },
  'mysql.replication_credentials_file': { test: MYSQL_NOTIFY, via: 'test/notify/mysql-pair.ts' },
  'mysql.replication_network': { test: EFFECTS },
  'mysql.topology': { test: PROMOTE },
  'mysql.topology=one-way': { test: PROMOTE },
  'mysql.topology=dual-master': { test: PROMOTE },
  'mysql.catch_up_timeout': { test: EFFECTS },
  'mysql.on_catch_up_timeout': { test: PROMOTE, mentions: 'onCatchUpTimeout' },
  'mysql.on_catch_up_timeout=stay-read-only': { test: PROMOTE },
  'mysql.on_catch_up_timeout=promote-anyway': { test: PROMOTE },
  'mysql.repoint_wait': { test: EFFECTS },
  'mysql.semi_sync': { test: PROMOTE, mentions: 'semiSync' },
  'mysql.semi_sync=off': { test: PROMOTE, mentions: "semiSync: 'off'" },
  'mysql.semi_sync=expected': { test: PROMOTE, mentions: "semiSync: 'expected'" },
  'mysql.semi_sync=strict': { test: 'test/mysql/semi-sync-rejoin.test.ts', mentions: "semiSync: 'strict'" },
  proxy: { test: UPKEEP },
  'proxy.network': { test: UPKEEP },
  'proxy.proxies': { test: UPKEEP },
  'proxy.proxies[].writer': { test: UPKEEP },
  'proxy.proxies[].writer=vip': { test: UPKEEP },
  'proxy.proxies[].writer=node': { test: UPKEEP },
  'proxy.proxies[].nodes': { test: UPKEEP },
  'proxy.proxies[type=atlas].admin_host': { test: UPKEEP },
  'proxy.proxies[type=atlas].admin_port': { test: UPKEEP },
  'proxy.proxies[type=atlas].credentials_file': { test: UPKEEP },
  'proxy.proxies[type=atlas].save_config': { test: UPKEEP },
  'proxy.proxies[type=proxysql].admin_host': { test: UPKEEP },
  'proxy.proxies[type=proxysql].admin_port': { test: UPKEEP },
  'proxy.proxies[type=proxysql].credentials_file': { test: UPKEEP },
  'proxy.proxies[type=proxysql].writer_hostgroup': { test: UPKEEP },
  'proxy.proxies[type=proxysql].reader_hostgroup': { test: UPKEEP },
  'proxy.proxies[type=haproxy].socket': { test: UPKEEP },
  'proxy.proxies[type=haproxy].write_backend': { test: UPKEEP },
  'proxy.proxies[type=haproxy].read_backend': { test: UPKEEP },
  sync: { test: SYNC_E2E },
  'sync.paths': { test: SYNC_ARGV },
  'sync.paths[].source': { test: SYNC_ARGV },
  'sync.paths[].module': { test: SYNC_ARGV },
  'sync.paths[].destination': { test: SYNC_ARGV },
  'sync.network': { test: SYNC_ARGV },
  'sync.interval': { test: SYNC_E2E },
  'sync.timeout': { test: 'test/sync/run.test.ts' },
  'sync.delete': { test: SYNC_ARGV },
  'sync.bwlimit': { test: SYNC_ARGV },
  'sync.excludes': { test: SYNC_ARGV },
  'sync.auth': { test: SYNC_ARGV },
  'sync.auth.user': { test: SYNC_ARGV },
  'sync.auth.password_file': { test: SYNC_ARGV },
  'sync.ssh': { test: SYNC_ARGV },
  'sync.ssh.user': { test: SYNC_ARGV },
  'sync.ssh.port': { test: SYNC_ARGV },
  'sync.ssh.identity_file': { test: SYNC_ARGV },
  logging: { test: EFFECTS },
  'logging.file': { test: EFFECTS },
  'logging.level': { test: EFFECTS },
  'logging.level=info': { test: EFFECTS },
  'logging.level=warn': { test: EFFECTS },
  'logging.level=error': { test: EFFECTS },
  paths: render(SEED004),
  'paths.hactl': render(SEED004),
  'paths.spec': render(SEED004),
  'paths.runtime_dir': { test: NOTIFY },
  'paths.state_dir': { test: 'test/notify/stale-promotion.test.ts' },
  keepalived: render(WEIGHTED),
  agent: render(AGENT),
  'agent.enabled': render(AGENT),
  // Read by hactl agent (its heartbeat sentinel); nothing in keepalived.conf depends on it.
  'agent.heartbeat_timeout': {
    test: 'test/agent/liveness/liveness.test.ts',
    via: 'test/agent/liveness/fixtures/agent.mjs',
    mentions: 'heartbeatTimeoutSec',
  },
  'agent.track_process': { test: RENDER, mentions: 'track_process: false' },
  // The agent's HTTP API: served by hactl agent, asked by hactl status.
  'agent.api': { test: 'test/agent/api/api.test.ts' },
  'agent.api.network': { test: 'test/agent/api/api.test.ts' },
  'agent.api.port': { test: 'test/agent/api/api.test.ts' },
  'agent.api.token_file': { test: 'test/agent/api/api.test.ts' },
  'agent.api.metrics_listen': { test: 'test/agent/api/api.test.ts' },
  fencing: { test: FENCE_RULE },
  'fencing.unreachable': { test: FENCE_RULE },
  'fencing.unreachable=promote-anyway': { test: FENCE_RULE },
  'fencing.unreachable=wait-for-witness': { test: FENCE_RULE },
  'fencing.networks': { test: FENCE_RULE },
  'fencing.connect_timeout': { test: FENCE_RULE },
  'fencing.witness': { test: WITNESS_MONITOR },
  'fencing.witness_port': { test: WITNESS_MONITOR },
  'fencing.probe_interval': { test: WITNESS_MONITOR },
  'fencing.isolation_timeout': { test: WITNESS_MONITOR },
  'keepalived.notify': render(WEIGHTED),
  'keepalived.notify=script': render(WEIGHTED),
  // Without the agent nothing reads the FIFO; in agent mode the FIFO is always rendered.
  'keepalived.notify=fifo': { refused: 'notify-fifo.yaml' },
  'keepalived.template': { test: EFFECTS },
  'keepalived.script_user': { test: EFFECTS },
  'keepalived.script_user=root': { test: EFFECTS, mentions: 'script_user' },
};

type JsonSchema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
};

/**
 * Field paths in spec notation: `nodes[].networks.*.address`, `checks[kind=http].params.url`;
 * enum values as `failback=preempt`. Fields common to every member of a union are listed once
 * (`checks[].interval`); an object schema identical to one already walked (the action lists of
 * backup/fault/stop share master's) is not walked again.
 */
export function schemaFields(root: JsonSchema): string[] {
  const fields: string[] = [];
  const walked = new Set<string>();
  const resolveRef = (schema: JsonSchema): JsonSchema => {
    if (schema.$ref === undefined) return schema;
    const name = schema.$ref.replace(/^#\/(\$defs|definitions)\//, '');
    const target = root.$defs?.[name] ?? root.definitions?.[name];
    if (!target) throw new Error(`unresolved $ref ${schema.$ref}`);
    return resolveRef(target);
  };
  const field = (path: string, schema: JsonSchema) => {
    fields.push(path);
    for (const value of schema.enum ?? []) fields.push(`${path}=${String(value)}`);
    walk(path, schema);
  };
  const walkObject = (path: string, schema: JsonSchema, skip: Set<string> = new Set()) => {
    const key = JSON.stringify(schema);
    if (walked.has(key)) return;
    walked.add(key);
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      if (skip.has(name) || resolveRef(child).const !== undefined) continue;
      field(path === '' ? name : `${path}.${name}`, resolveRef(child));
    }
    if (typeof schema.additionalProperties === 'object') walk(`${path}.*`, schema.additionalProperties);
  };
  const walk = (path: string, raw: JsonSchema): void => {
    const schema = resolveRef(raw);
    const members = (schema.oneOf ?? schema.anyOf)?.map(resolveRef);
    if (members) {
      const key = JSON.stringify(schema);
      if (walked.has(key)) return;
      walked.add(key);
      const objects = members.filter((member) => member.properties !== undefined);
      if (objects.length === 0) return;
      const names = Object.keys(objects[0]!.properties!).filter((name) =>
        objects.every(
          (member) =>
            JSON.stringify(member.properties![name]) === JSON.stringify(objects[0]!.properties![name]),
        ),
      );
      const common = new Set(names);
      for (const name of names) {
        const child = resolveRef(objects[0]!.properties![name]!);
        if (child.const === undefined) field(`${path}.${name}`, child);
      }
      for (const member of objects) {
        const [discriminator, value] =
          Object.entries(member.properties!).find(([, child]) => resolveRef(child).const !== undefined) ?? [];
        const qualified = discriminator
          ? `${path.replace(/\[\]$/, '')}[${discriminator}=${String(resolveRef(value!).const)}]`
          : path;
        walkObject(qualified, member, common);
      }
      return;
    }
    if (schema.type === 'array' && schema.items) return walk(`${path}[]`, schema.items);
    if (schema.type === 'object' || schema.properties) walkObject(path, schema);
  };
  walk('', root);
  return fields;
}

/** What a test must mention: the option or the last word of the path (`params.url` → `url`). */
function token(path: string, evidence: Exercised): string {
  if (evidence.mentions !== undefined) return evidence.mentions;
  const value = /=([^\]=]+)$/.exec(path);
  if (value) return value[1]!;
  return path
    .replace(/\[[^\]]*\]/g, '')
    .split('.')
    .pop()!;
}

function mentions(file: string, word: string): boolean {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_-])${escaped}($|[^A-Za-z0-9_-])`, 'm').test(readFileSync(file, 'utf8'));
}

/** `failback=x` → `failback`, `checks[kind=http]` → `checks`, `sync.module` → `sync`, `cluster` → ''. */
function parentOf(path: string): string {
  let parent = '';
  if (/=[^=\]]*$/.test(path)) parent = path.replace(/=[^=\]]*$/, '');
  else if (path.endsWith(']')) parent = path.replace(/\[[^\]]*\]$/, '');
  else if (path.includes('.')) parent = path.replace(/\.[^.]*$/, '');
  return parent.length < path.length ? parent : '';
}

function refusedBy(path: string): Refused | undefined {
  // Bounded by the path's length: every step removes at least one character.
  for (let prefix = path; prefix !== ''; prefix = parentOf(prefix)) {
    const evidence = EVIDENCE[prefix];
    if (evidence && 'refused' in evidence) return evidence;
  }
  return undefined;
}

/** `keepalived.notify=fifo` → the lint error line starts `keepalived.notify: fifo`. */
function expectedErrorStart(field: string): string {
  const [path, value] = field.split('=');
  return value === undefined ? `${path}: ` : `${path}: ${value}`;
}

describe('every spec field has an effect or is refused', () => {
  let fields: string[] = [];
  beforeAll(async () => {
    const { stdout } = await run(resolve('bin/hactl'), ['schema'], { timeout: 20_000 });
    fields = schemaFields(JSON.parse(stdout) as JsonSchema);
  });

  it('the walk finds the fields of every part of the schema', () => {
    for (const sample of [
      'nodes[].networks.*.address',
      'checks[].weight',
      'checks[kind=http].params.url',
      'actions.master[].on_failure=abort',
      'actions.master[type=webhook].url',
      'failback=nopreempt',
      'sync.paths[].source',
    ]) {
      expect(fields).toContain(sample);
    }
  });

  it('lists every field, and nothing that is not a field', () => {
    const unlisted = fields.filter((field) => EVIDENCE[field] === undefined && !refusedBy(field));
    expect(unlisted).toEqual([]);
    expect(Object.keys(EVIDENCE).filter((field) => !fields.includes(field))).toEqual([]);
  });

  it('each exercising test exists and mentions the field (directly or through the fixture it loads)', () => {
    const problems: string[] = [];
    for (const [field, evidence] of Object.entries(EVIDENCE)) {
      if ('refused' in evidence) continue;
      const word = token(field, evidence);
      if (!/\.test\.ts$/.test(evidence.test) || !existsSync(evidence.test)) {
        problems.push(`${field}: ${evidence.test} is not a test file`);
        continue;
      }
      if (evidence.via === undefined) {
        if (!mentions(evidence.test, word))
          problems.push(`${field}: ${evidence.test} never mentions ${word}`);
        continue;
      }
      if (!existsSync(evidence.via)) {
        problems.push(`${field}: ${evidence.via} does not exist`);
        continue;
      }
      if (!mentions(evidence.via, word)) problems.push(`${field}: ${evidence.via} never mentions ${word}`);
      const loaded = [
        basename(evidence.via),
        basename(evidence.via).replace(/\.[a-z]+$/, ''),
        dirname(evidence.via),
      ];
      if (!loaded.some((name) => readFileSync(evidence.test, 'utf8').includes(name)))
        problems.push(`${field}: ${evidence.test} does not load ${evidence.via}`);
    }
    expect(problems).toEqual([]);
  });

  it('each refused field is refused by lint in a broken spec of the corpus', () => {
    const problems: string[] = [];
    for (const [field, evidence] of Object.entries(EVIDENCE)) {
      if (!('refused' in evidence)) continue;
      const file = `test/lint/broken/${evidence.refused}`;
      const expected = existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((line) => line.startsWith('# expect: '))
            .map((line) => line.slice('# expect: '.length))
        : [];
      if (!expected.some((line) => line.startsWith(expectedErrorStart(field))))
        problems.push(`${field}: ${file} expects no error starting "${expectedErrorStart(field)}"`);
    }
    expect(problems).toEqual([]);
  });
});
