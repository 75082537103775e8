/** The argument forms keepalived uses, and what notify tells the decision core about them. */
import { describe, expect, it } from 'vitest';
import { keepalivedFact, parseEvent } from '../../src/notify/event.js';

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

describe('keepalivedFact', () => {
  it('passes the state, names and words on as an event-sourced fact', () => {
    expect(keepalivedFact(parseEvent(['GROUP', 'web_vips', 'BACKUP', '0']))).toEqual({
      state: 'BACKUP',
      source: 'event',
      name: 'web_vips',
      priority: 0,
      text: 'GROUP web_vips BACKUP 0',
    });
    expect(keepalivedFact(parseEvent(['master']))).toEqual({
      state: 'MASTER',
      source: 'event',
      text: 'master',
    });
  });
});
