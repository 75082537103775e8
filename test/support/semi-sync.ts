/** A server's semi-sync variables (src/mysql/server-state.ts) as tests build them. */
import { STRICT_TIMEOUT_MS } from '../../src/mysql/semi-sync.js';
import type { SemiSyncState } from '../../src/mysql/server-state.js';

/** What a strict semi-sync primary reports (AFTER_SYNC, no async fallback), unless told otherwise. */
export function strictPrimary(overrides: Partial<SemiSyncState> = {}): SemiSyncState {
  return {
    replicaEnabled: true,
    replicaActive: false,
    sourceEnabled: true,
    sourceActive: true,
    sourceClients: 1,
    waitPoint: 'AFTER_SYNC',
    timeoutMs: STRICT_TIMEOUT_MS,
    waitNoReplica: true,
    ...overrides,
  };
}
