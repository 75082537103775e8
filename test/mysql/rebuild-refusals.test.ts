/** The rebuild's safety judgement on plain facts: every refusal, and the one way to go. */
import { describe, expect, it } from 'vitest';
import { normalizeGtids, refusals, type RebuildFacts } from '../../src/mysql/rebuild.js';

const fit: RebuildFacts = {
  vipsHeld: [],
  localReadOnly: true,
  flavour: 'mariadb',
  isMariadb: true,
  peerProblem: null,
  peerReadOnly: false,
  peerPosition: '0-1-100',
  peerBinlogState: '0-1-100',
  localServerId: 2,
  peerServerId: 1,
  extraGtids: ['0-2-51', '0-2-52'],
  localOnlyDatabases: [],
  binlogDir: '/var/lib/mysql',
  binlogFiles: ['binlog.000001'],
  resumed: null,
  binlogProblem: null,
};

const reasons = (facts: Partial<RebuildFacts>, discard: string[]) =>
  refusals({ ...fit, ...facts }, discard).map((r) => `${r.reason} | ${r.fix}`);

describe('rebuild refusals', () => {
  it('goes when every condition holds and --discard lists exactly the extras, in any order', () => {
    expect(reasons({}, ['0-2-52,0-2-51'])).toEqual([]);
    expect(reasons({}, ['0-2-51', ' 0-2-52'])).toEqual([]);
  });

  it.each<[string, Partial<RebuildFacts>, string[], RegExp]>([
    [
      'a VIP held here',
      { vipsHeld: ['192.0.2.50'] },
      ['0-2-51,0-2-52'],
      /holds the VIP\(s\) 192\.0\.2\.50.*move the VIPs/,
    ],
    ['a writable local server', { localReadOnly: false }, ['0-2-51,0-2-52'], /writable \(read_only=OFF\)/],
    [
      'a peer that does not answer',
      { peerProblem: 'ECONNREFUSED' },
      ['0-2-51,0-2-52'],
      /peer does not answer: ECONNREFUSED/,
    ],
    ['a read-only peer', { peerReadOnly: true }, ['0-2-51,0-2-52'], /peer is read-only/],
    ['the peer being this server', { peerServerId: 2 }, ['0-2-51,0-2-52'], /own server_id 2/],
    ['nothing diverged', { extraGtids: [] }, ['0-2-51'], /nothing has diverged/],
    [
      'unreadable binlogs',
      { binlogProblem: '/var/lib/mysql/binlog.000001: EACCES' },
      ['0-2-51,0-2-52'],
      /cannot be saved: .*EACCES.*run hactl rebuild as root/,
    ],
    ['MySQL', { isMariadb: false, flavour: 'mysql' }, ['0-2-51,0-2-52'], /MariaDB only/],
    ['no --discard', {}, [], /--discard is missing.*0-2-51,0-2-52.*pass exactly --discard 0-2-51,0-2-52/],
    [
      'one GTID short',
      {},
      ['0-2-51'],
      /--discard 0-2-51 is not what this node holds beyond the primary: 0-2-51,0-2-52/,
    ],
    ['one GTID too many', {}, ['0-2-51,0-2-52,0-2-53'], /is not what this node holds/],
    ['a malformed GTID', {}, ['0-2-x'], /"0-2-x" is not a MariaDB GTID.*--discard 0-2-51,0-2-52/],
  ])('refuses with %s, naming the reason and the fix', (_what, facts, discard, expected) => {
    const found = reasons(facts, discard);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(expected);
  });

  it('normalizes GTID lists numerically, without duplicates', () => {
    expect(normalizeGtids(['0-2-10,0-2-9', '1-1-1', '0-2-9'])).toEqual(['0-2-9', '0-2-10', '1-1-1']);
  });
});
