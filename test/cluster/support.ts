/**
 * Small builders for the decision core's tests, in the manner of Patroni's test helpers: a pair
 * spec (with or without a promoting database), observations built from a few named facts.
 */
import type { Intent } from '../../src/cluster/decide.js';
import {
  freezeObservation,
  type AppliedState,
  type DatabaseFacts,
  type KeepalivedFact,
  type Observation,
  type VipFacts,
  type VrrpState,
} from '../../src/cluster/observation.js';
import type { PromotionFacts } from '../../src/cluster/promotion-guard.js';
import { parseSpecText } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/schema.js';

const base = `version: 1
cluster: t
nodes:
  - name: ha1
    priority: 150
    networks:
      inside: { interface: eth1, address: 192.0.2.11 }
      outside: { interface: eth0, address: 198.51.100.11 }
  - name: ha2
    priority: 120
    networks:
      inside: { interface: eth1, address: 192.0.2.12 }
      outside: { interface: eth0, address: 198.51.100.12 }
vips:
  - { name: inside, address: 192.0.2.50/24, network: inside, virtual_router_id: 51 }
  - { name: outside, address: 198.51.100.50/24, network: outside, virtual_router_id: 52 }
`;

/** The two-node, two-VIP pair every test here uses, with `rest` (top-level YAML) appended. */
export function pairSpec(rest: string, file: string): Spec {
  return parseSpecText(`${base}${rest}`, file);
}

/** Command actions only: no database in play. */
export const PLAIN: Spec = pairSpec(
  `actions:
  master:
    - { type: command, argv: [/usr/local/bin/app-up] }
  backup:
    - { type: command, argv: [/usr/local/bin/app-down] }
  fault:
    - { type: command, argv: [/usr/local/bin/app-down] }
`,
  'plain.yaml',
);

/** A MASTER list that promotes the database between two other steps. */
export const DB: Spec = pairSpec(
  `mysql:
  credentials_file: /etc/hactl/mysql.cnf
actions:
  master:
    - { type: command, argv: [/usr/local/bin/fence-peer] }
    - { type: mysql.promote }
    - { type: service, name: app, op: start }
  backup:
    - { type: mysql.demote }
    - { type: service, name: app, op: stop }
`,
  'db.yaml',
);

export const ALL: VipFacts = { held: ['192.0.2.50', '198.51.100.50'], missing: [] };
export const NONE: VipFacts = { held: [], missing: ['192.0.2.50', '198.51.100.50'] };
export const SPLIT: VipFacts = { held: ['192.0.2.50'], missing: ['198.51.100.50'] };

export const TID = 'ha1-20261129T100000Z-beef';

export function said(state: VrrpState, source: KeepalivedFact['source'] = 'event'): KeepalivedFact {
  return { state, source, text: `INSTANCE inside ${state} 150` };
}

export function applied(state: VrrpState, ok = true): AppliedState {
  return { state, ok, at: 'then', event: 'x' };
}

/** A database that is reachable, read-only, a replica of nobody, unless told otherwise. */
export function database(overrides: Partial<Extract<DatabaseFacts, { kind: 'ok' }>> = {}): DatabaseFacts {
  return { kind: 'ok', readOnly: true, replica: null, coverage: undefined, ...overrides };
}

export function observation(overrides: Partial<Observation> = {}): Observation {
  return freezeObservation({
    transitionId: TID,
    node: 'ha1',
    at: '2026-11-29T10:00:00.000Z',
    vips: ALL,
    keepalived: said('MASTER'),
    lastApplied: undefined,
    lineage: undefined,
    database: undefined,
    checks: undefined,
    lease: undefined,
    ...overrides,
  });
}

/** The promotion guard's facts (test/cluster/guard-cases.ts) as what ha1 observes holding every VIP. */
export function fromGuardFacts(facts: Partial<PromotionFacts>): { observation: Observation; intent: Intent } {
  return {
    observation: observation({
      lineage: facts.lineage ?? { kind: 'none' },
      database: database({ replica: facts.replica ?? null, coverage: facts.coverage }),
    }),
    intent: facts.acceptStale === undefined ? {} : { acceptStale: facts.acceptStale },
  };
}
