/**
 * One spec check per kind, as an operator would write it: the `--help` examples are these checks
 * rendered by the same code as render-config (spec-args.ts exampleBlock), and a test renders them
 * through a real spec to prove the two agree. Defaults (interval 2, fall 2, rise 2, weight 0) are
 * written out because the zod defaults are not applied here.
 */
import type { CheckSpec } from '../spec/checks-schema.js';

export const EXAMPLE_CHECKS = {
  http: {
    name: 'nginx',
    kind: 'http',
    interval: 2,
    fall: 2,
    rise: 2,
    weight: 0,
    params: { url: 'http://127.0.0.1/health', expect_body: 'ok' },
  },
  tcp: {
    name: 'mariadb_port',
    kind: 'tcp',
    interval: 1,
    fall: 3,
    rise: 2,
    weight: -50,
    params: { host: '127.0.0.1', port: 3306 },
  },
  process: {
    name: 'nginx_proc',
    kind: 'process',
    interval: 3,
    fall: 2,
    rise: 1,
    weight: -50,
    params: { name: 'nginx', restart_cmd: ['/usr/sbin/nginx'], restart_wait: 2, restart_backoff: 60 },
  },
  mysql: {
    name: 'mysql',
    kind: 'mysql',
    interval: 2,
    fall: 3,
    rise: 2,
    weight: -50,
    params: {},
  },
  replication: {
    name: 'replication',
    kind: 'replication',
    interval: 2,
    fall: 3,
    rise: 2,
    weight: -20,
    nodes: ['ha2'],
    params: { max_lag: 30 },
  },
} satisfies Record<string, CheckSpec>;
