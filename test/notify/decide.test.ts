/** The decision table and the argument forms keepalived uses. */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/notify/decide.js';
import { parseEvent, type NotifyState } from '../../src/notify/event.js';
import type { AppliedState } from '../../src/notify/state-file.js';
import { vipHolding, type VipHolding } from '../../src/notify/vips.js';
import { parseSpecText } from '../../src/spec/load.js';
import { baseSpecYaml } from '../actions/context.js';

const ALL: VipHolding = { held: ['192.0.2.50', '198.51.100.50'], missing: [] };
const NONE: VipHolding = { held: [], missing: ['192.0.2.50', '198.51.100.50'] };
const SPLIT: VipHolding = { held: ['192.0.2.50'], missing: ['198.51.100.50'] };
const applied = (state: NotifyState, ok = true): AppliedState => ({ state, ok, at: 'then', event: 'x' });

describe('parseEvent', () => {
  it.each([
    [
      ['GROUP', 'web_vips', 'MASTER', '0'],
      { source: 'GROUP', name: 'web_vips', state: 'MASTER', priority: 0 },
    ],
    [
      ['INSTANCE', 'inside', 'BACKUP', '150'],
      { source: 'INSTANCE', name: 'inside', state: 'BACKUP', priority: 150 },
    ],
    [['INSTANCE', 'inside', 'DELETED', '150'], { source: 'INSTANCE', state: 'STOP' }],
    [['master'], { source: 'short', state: 'MASTER' }],
    [['fault'], { source: 'short', state: 'FAULT' }],
  ])('%j', (words, expected) => {
    expect(parseEvent(words)).toMatchObject(expected);
  });

  it.each([
    [[]],
    [['GROUP', 'g', 'MASTER']],
    [['INSTANCE', 'i', 'MASTERX', '1']],
    [['GROUP', 'g', 'MASTER', 'high']],
    [['primary']],
  ])('refuses %j with a usage error', (words) => {
    expect(() => parseEvent(words)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('decide: act on the present, not the event', () => {
  const ev = (state: NotifyState) => parseEvent([state.toLowerCase()]);
  it.each<[string, NotifyState, VipHolding, AppliedState | undefined, NotifyState | undefined]>([
    ['MASTER with all VIPs', 'MASTER', ALL, undefined, 'MASTER'],
    ['BACKUP that arrives after MASTER while all VIPs are held', 'BACKUP', ALL, undefined, 'MASTER'],
    ['stale MASTER without VIPs', 'MASTER', NONE, applied('BACKUP'), undefined],
    ['stale MASTER without VIPs at boot', 'MASTER', NONE, undefined, undefined],
    ['MASTER without VIPs when MASTER was applied last: demote', 'MASTER', NONE, applied('MASTER'), 'BACKUP'],
    ['BACKUP without VIPs', 'BACKUP', NONE, applied('MASTER'), 'BACKUP'],
    ['FAULT without VIPs', 'FAULT', NONE, applied('MASTER'), 'FAULT'],
    ['STOP without VIPs', 'STOP', NONE, applied('BACKUP'), 'STOP'],
    ['split with MASTER event: the safe side', 'MASTER', SPLIT, undefined, 'BACKUP'],
    ['split with FAULT event', 'FAULT', SPLIT, undefined, 'FAULT'],
    ['repeat of an applied MASTER', 'MASTER', ALL, applied('MASTER'), undefined],
    ['repeat of an applied BACKUP', 'BACKUP', NONE, applied('BACKUP'), undefined],
    ['repeat of a MASTER whose run aborted: retried', 'MASTER', ALL, applied('MASTER', false), 'MASTER'],
  ])('%s', (_title, state, holding, last, expected) => {
    expect(decide(ev(state), holding, last, false).apply).toBe(expected);
  });

  it('--force runs an applied state again', () => {
    expect(decide(ev('MASTER'), ALL, applied('MASTER'), true).apply).toBe('MASTER');
  });

  it('every decision says why', () => {
    expect(decide(ev('MASTER'), NONE, undefined, false).reason).toMatch(/stale MASTER event/);
    expect(decide(ev('MASTER'), SPLIT, undefined, false).reason).toMatch(
      /split: holds 192\.0\.2\.50 but not 198\.51\.100\.50/,
    );
  });
});

describe('vipHolding', () => {
  it('compares the VIP addresses without prefix against the local ones', () => {
    const spec = parseSpecText(baseSpecYaml(), 't.yaml');
    expect(vipHolding(spec, new Set(['127.0.0.1', '192.0.2.50']))).toEqual({
      held: ['192.0.2.50'],
      missing: [],
    });
    expect(vipHolding(spec, new Set(['192.0.2.5']))).toEqual({ held: [], missing: ['192.0.2.50'] });
  });
});
