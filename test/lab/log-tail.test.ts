import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logSince, logSize } from '../../src/lab/log-tail.js';

describe('a log tail from a byte offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hactl-log-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts right after what was there, whatever multi-byte text came before', () => {
    const file = join(dir, 'agent.log');
    writeFileSync(file, '{"msg":"ha1 → ha2 ✓"}\n');
    const offset = logSize(file);
    appendFileSync(file, '{"event":"agent.started"}\n');
    expect(logSince(file, offset)).toBe('{"event":"agent.started"}\n');
  });

  it('reads a missing file as empty', () => {
    expect(logSize(join(dir, 'none.log'))).toBe(0);
    expect(logSince(join(dir, 'none.log'), 0)).toBe('');
  });
});
