/**
 * Spec checks: one entry per health check, with kind-specific params. Param names are the
 * `hactl check <kind>` flag names in snake_case (expect_status ↔ --expect-status), so a check in
 * the spec and the rendered vrrp_script line mean exactly the same thing.
 */
import { z } from 'zod';
import { absolutePath, identifier, intInRange, numberInRange, safeToken } from './fields.js';

const httpParams = z.strictObject({
  url: safeToken,
  expect_status: safeToken.optional(),
  expect_body: safeToken.optional(),
  host_header: safeToken.optional(),
  method: z.enum(['GET', 'HEAD']).optional(),
  insecure: z.boolean().optional(),
});

const tcpParams = z.strictObject({
  host: safeToken,
  port: intInRange(1, 65535),
});

const processParams = z.strictObject({
  name: identifier,
  min_count: intInRange(1, 10000).optional(),
  restart_cmd: z.array(safeToken).min(1).optional(),
  restart_wait: numberInRange(0, 60, ' seconds').optional(),
  restart_backoff: numberInRange(0, 86400, ' seconds').optional(),
});

const mysqlParams = z.strictObject({
  expect_role: z.enum(['primary', 'replica']).optional(),
  defaults_file: absolutePath.optional(),
});

const replicationParams = z.strictObject({
  max_lag: intInRange(0, 86400, ' seconds').optional(),
  allow_connecting: z.boolean().optional(),
  caught_up: z.boolean().optional(),
  defaults_file: absolutePath.optional(),
});

const common = {
  name: identifier,
  /** Whole seconds: keepalived 2.2.7 takes no fractions for vrrp_script interval/timeout. */
  interval: intInRange(1, 3600, ' seconds').default(2),
  timeout: intInRange(1, 3600, ' seconds').optional(),
  fall: intInRange(1, 255).default(2),
  rise: intInRange(1, 255).default(2),
  /** 0: `fall` failures put the instance in FAULT. Otherwise added (+) while OK or subtracted (−) while KO. */
  weight: intInRange(-253, 253).default(0),
  /** Nodes this check runs on; all nodes when absent. */
  nodes: z.array(identifier).min(1).optional(),
};

export const checkSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...common, kind: z.literal('http'), params: httpParams }),
  z.strictObject({ ...common, kind: z.literal('tcp'), params: tcpParams }),
  z.strictObject({ ...common, kind: z.literal('process'), params: processParams }),
  z.strictObject({ ...common, kind: z.literal('mysql'), params: mysqlParams.default({}) }),
  z.strictObject({ ...common, kind: z.literal('replication'), params: replicationParams.default({}) }),
]);

export type CheckSpec = z.infer<typeof checkSchema>;
export type CheckKindName = CheckSpec['kind'];
