/**
 * `proxy:` — the agent keeps each node's local database proxies in line with the pair (seed 004):
 * the read-write backend (the VIP, or the primary's own address) and the standby as read-only
 * backend once it has caught up. Rule 6 of the decision core (src/cluster/proxy-rule.ts), run by
 * hactl agent's loop on every tick that applies no state and right after each transition.
 */
import { z } from 'zod';
import { absolutePath, identifier, intInRange, LINT_ONLY, safeToken } from './fields.js';

const writer = z
  .enum(['vip', 'node'])
  .describe(
    "The read-write backend. `vip` (seed 004): the VIP on proxy.network, on every node's proxy, always — neither proxy is ever left without a writable backend. `node`: the address of the node that holds the VIPs; on failover the new primary is added before the old one is removed.",
  )
  .default('vip');

const onNodes = z
  .array(identifier)
  .min(1)
  .describe(
    `Only on these nodes (default: every node), e.g. where each node's proxy has its own socket path. Each must be a node of this spec ${LINT_ONLY}.`,
  )
  .optional();

const admin = (name: string, port: number) => ({
  admin_host: safeToken
    .describe(`Address of the ${name} admin interface (default 127.0.0.1).`)
    .default('127.0.0.1'),
  admin_port: intInRange(1, 65535)
    .describe(`Port of the ${name} admin interface (default ${port}).`)
    .default(port),
  credentials_file: absolutePath.describe(
    `Option file ([client] user= password=) of the ${name} admin account, mode 0600.`,
  ),
});

export const proxyEntrySchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z
          .literal('atlas')
          .describe('Atlas: backends through its admin SQL (ADD MASTER/SLAVE, REMOVE BACKEND).'),
        writer,
        nodes: onNodes,
        ...admin('Atlas', 2345),
        save_config: z
          .boolean()
          .describe(
            "After a change, run Atlas's `SAVE CONFIG` so a restarted Atlas keeps the backends (Atlas 2.2+; default false: older builds lack it, and a restarted Atlas then reads its config file until the agent's next tick).",
          )
          .default(false),
      })
      .describe('An Atlas on this node.'),
    z
      .strictObject({
        type: z
          .literal('proxysql')
          .describe('ProxySQL: rows of mysql_servers in a writer and a reader hostgroup (admin SQL).'),
        writer,
        nodes: onNodes,
        ...admin('ProxySQL', 6032),
        writer_hostgroup: intInRange(0, 2147483647).describe('Hostgroup id of the read-write backend.'),
        reader_hostgroup: intInRange(0, 2147483647).describe('Hostgroup id of the read-only backends.'),
      })
      .describe(
        'A ProxySQL on this node; a change is followed by LOAD MYSQL SERVERS TO RUNTIME and SAVE MYSQL SERVERS TO DISK.',
      ),
    z
      .strictObject({
        type: z
          .literal('haproxy')
          .describe(
            'HAProxy: servers of two backends set ready or maint through the runtime API (not persistent: a reloaded HAProxy starts from haproxy.cfg and the next tick of the agent corrects it).',
          ),
        writer,
        nodes: onNodes,
        socket: absolutePath.describe("HAProxy's stats socket (level admin)."),
        write_backend: identifier.describe(
          'The backend whose servers take writes; it needs a server for each address the writer can be.',
        ),
        read_backend: identifier.describe('The backend of read-only servers: one server per node address.'),
      })
      .describe('An HAProxy on this node.'),
  ])
  .describe('One proxy on this node; type decides which fields it takes.');

export const proxySchema = z
  .strictObject({
    network: identifier
      .describe(
        `Which network the proxies reach the databases on: the nodes' addresses there, and the VIP there for writer: vip (default: mysql.replication_network, else the first VIP's). Every node must have it ${LINT_ONLY}.`,
      )
      .optional(),
    proxies: z
      .array(proxyEntrySchema)
      .min(1)
      .describe("This node's proxies (the spec is the same on every node: each node keeps its own)."),
  })
  .describe(
    'Proxy upkeep by hactl agent (needs agent.enabled), a rule of its reconcile loop: right after every transition and on every tick (agent --interval, default 5 s) the read-write backend is made sure of, and the standby is the read-only backend only while it has caught up (threads running, lag 0, everything received applied — the failback rule).',
  );

export type ProxySpec = z.infer<typeof proxySchema>;
export type ProxyEntry = ProxySpec['proxies'][number];
