// Pure parsing behind `hactl check`: status lists, body patterns, seconds, and the spec → argv
// mapping that must stay identical to what render-config writes into keepalived.conf.
import { describe, expect, it } from 'vitest';
import {
  bodyMatches,
  describeStatuses,
  parseBodyPattern,
  parseSeconds,
  parseStatusList,
  statusAccepted,
} from '../../src/checks/options.js';
import { checkArgs } from '../../src/checks/spec-args.js';
import { UsageError } from '../../src/errors.js';
import { renderAll } from '../../src/keepalived/render.js';
import { loadSpecBytes, parseSpecText } from '../../src/spec/load.js';

describe('parseStatusList', () => {
  it.each([
    ['200', [[200, 200]]],
    [
      '200,204',
      [
        [200, 200],
        [204, 204],
      ],
    ],
    [
      '200-299,301-302',
      [
        [200, 299],
        [301, 302],
      ],
    ],
    [
      ' 200 , 301 - 302 ',
      [
        [200, 200],
        [301, 302],
      ],
    ],
  ])('%j → %j', (text, expected) => {
    expect(parseStatusList(text)).toEqual(expected);
  });

  it.each(['', '20', '2000', 'abc', '302-301', '200,', '099', '600', '200-'])(
    'refuses %j with a UsageError',
    (text) => {
      expect(() => parseStatusList(text)).toThrow(UsageError);
    },
  );

  it('accepts statuses inside any range and describes the set back', () => {
    const set = parseStatusList('200,301-302');
    expect([200, 301, 302].map((s) => statusAccepted(s, set))).toEqual([true, true, true]);
    expect([201, 300, 303, 500].map((s) => statusAccepted(s, set))).toEqual([false, false, false, false]);
    expect(describeStatuses(set)).toBe('200,301-302');
  });
});

describe('parseBodyPattern', () => {
  it('treats plain text as a substring, including regex characters', () => {
    const pattern = parseBodyPattern('a.b (c)');
    expect(pattern.kind).toBe('substring');
    expect(bodyMatches('xx a.b (c) yy', pattern)).toBe(true);
    expect(bodyMatches('aXb (c)', pattern)).toBe(false);
  });

  it('treats /…/flags as a regular expression', () => {
    const pattern = parseBodyPattern('/^ha[12]$/im');
    expect(pattern.kind).toBe('regex');
    expect(bodyMatches('hello\nHA2\n', pattern)).toBe(true);
    expect(bodyMatches('ha3', pattern)).toBe(false);
  });

  it('keeps a lone slash or unclosed pattern as text', () => {
    expect(parseBodyPattern('/').kind).toBe('substring');
    expect(parseBodyPattern('/path/to').kind).toBe('substring');
  });

  it.each(['/(/', '/a/g', '/a/y'])('refuses %j', (text) => {
    expect(() => parseBodyPattern(text)).toThrow(UsageError);
  });
});

describe('parseSeconds', () => {
  it.each([
    ['0.8', 800],
    ['2', 2000],
    ['1.75', 1750],
  ])('%s s → %i ms', (text, ms) => {
    expect(parseSeconds(text, 'timeout', { min: 0.05, max: 3600 })).toBe(ms);
  });

  it.each(['', '-1', '1e3', '0.01', '5000', 'abc', '.5', '1,5'])('refuses %j', (text) => {
    expect(() => parseSeconds(text, 'timeout', { min: 0.05, max: 3600 })).toThrow(UsageError);
  });
});

/** SPEC sets no logging.file, so the rendered lines carry no --log-file. */
const LOG_ARGS: string[] = [];

const SPEC = `
version: 1
cluster: web
nodes:
  - { name: ha1, priority: 150, networks: { inside: { interface: eth1, address: 192.0.2.11 } } }
  - { name: ha2, priority: 120, networks: { inside: { interface: eth1, address: 192.0.2.12 } } }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
mysql: { credentials_file: /etc/hactl/mysql.cnf, port: 3307 }
checks:
  - { name: web, kind: http, interval: 2, params: { url: "http://127.0.0.1/", expect_status: "200,301-302", insecure: true, method: HEAD } }
  - { name: port, kind: tcp, interval: 1, params: { host: 127.0.0.1, port: 3306 } }
  - name: proc
    kind: process
    interval: 3
    timeout: 3
    params: { name: nginx, min_count: 2, restart_cmd: [/usr/sbin/nginx, -c, /etc/nginx/nginx.conf], restart_wait: 2, restart_backoff: 60 }
  - { name: db, kind: mysql, params: { expect_role: primary } }
  - { name: own, kind: replication, params: { max_lag: 5, allow_connecting: false, defaults_file: /etc/x.cnf } }
`;

/** `hactl check` argv per spec check, written out by hand (not derived from the code under test). */
const ARGV: Record<string, string[]> = {
  web: [
    'http',
    '--url',
    'http://127.0.0.1/',
    '--expect-status',
    '200,301-302',
    '--method',
    'HEAD',
    '--insecure',
  ],
  port: ['tcp', '--host', '127.0.0.1', '--port', '3306'],
  proc: [
    'process',
    '--name',
    'nginx',
    '--min-count',
    '2',
    '--restart-cmd',
    '/usr/sbin/nginx',
    '--restart-arg=-c',
    '--restart-arg=/etc/nginx/nginx.conf',
    '--restart-wait',
    '2',
    '--restart-backoff',
    '60',
    '--state-dir',
    '/run/hactl',
  ],
  db: [
    'mysql',
    '--expect-role',
    'primary',
    '--defaults-file',
    '/etc/hactl/mysql.cnf',
    '--host',
    '127.0.0.1',
    '--port',
    '3307',
  ],
  own: ['replication', '--max-lag', '5', '--defaults-file', '/etc/x.cnf'],
};

/** keepalived's script timeout (interval unless given) and the budget below it, for each check. */
const TIMING: Record<string, { timeout: string; budget: string }> = {
  web: { timeout: '2', budget: '1.75' },
  port: { timeout: '1', budget: '0.75' },
  proc: { timeout: '3', budget: '2.75' },
  db: { timeout: '2', budget: '1.75' },
  own: { timeout: '2', budget: '1.75' },
};

describe('spec check → argv', () => {
  const spec = parseSpecText(SPEC, 'test.yaml');

  it.each(Object.entries(ARGV))('%s', (name, expected) => {
    const check = spec.checks.find((c) => c.name === name)!;
    expect(checkArgs(spec, check)).toEqual(expected);
  });

  it('render-config writes exactly that argv, with the budget and --quiet, for every check on every node', () => {
    const rendered = renderAll(loadSpecBytes(Buffer.from(SPEC), 'test.yaml'));
    expect(rendered.map((node) => node.node)).toEqual(['ha1', 'ha2']);
    const expected = Object.entries(ARGV).map(([name, argv]) => ({
      name: `chk_${name}`,
      script: [
        '/usr/local/bin/hactl',
        'check',
        ...argv,
        '--check-name',
        name,
        ...LOG_ARGS,
        '--timeout',
        TIMING[name]!.budget,
        '--quiet',
      ].join(' '),
      interval: TIMING[name]!.timeout,
      timeout: TIMING[name]!.timeout,
    }));
    for (const { text } of rendered) {
      const scripts = [
        ...text.matchAll(/vrrp_script (\S+) \{\n\s+script "([^"]*)"\n\s+interval (\d+)\n\s+timeout (\d+)\n/g),
      ].map(([, name, script, interval, timeout]) => ({ name, script, interval, timeout }));
      expect(scripts).toEqual(expected);
      // Nothing else in the file runs a check under another form.
      expect(text.match(/hactl check/g)).toHaveLength(expected.length);
    }
  });
});
