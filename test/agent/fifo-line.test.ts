/** keepalived's notify_fifo lines (2.2.7: `"%s \"%s\" %s %d\n"`), read strictly. */
import { describe, expect, it } from 'vitest';
import { MAX_FIFO_LINE, parseFifoLine } from '../../src/agent/fifo-line.js';
import { LineSplitter } from '../../src/agent/fifo.js';

describe('parseFifoLine', () => {
  it.each([
    ['INSTANCE "VI_1" MASTER 150', 'MASTER', 'VI_1', 150],
    ['GROUP "web_vips" BACKUP 0', 'BACKUP', 'web_vips', 0],
    ['INSTANCE "VI_1" FAULT 0', 'FAULT', 'VI_1', 0],
    ['GROUP "g" STOP 0', 'STOP', 'g', 0],
    // A reload removed the instance: read as STOP, the way hactl notify reads it.
    ['INSTANCE "VI_2" DELETED 100', 'STOP', 'VI_2', 100],
  ])('%s is a transition', (line, state, name, priority) => {
    expect(parseFifoLine(line)).toEqual({
      kind: 'state',
      fact: { state, source: 'fifo', name, priority, text: line },
    });
  });

  it.each(['MASTER_RX_LOWER_PRI', 'MASTER_PRIORITY', 'BACKUP_PRIORITY'])(
    'INSTANCE "VI_1" %s 140 is an event, not a transition',
    (word) => {
      const parsed = parseFifoLine(`INSTANCE "VI_1" ${word} 140`);
      expect(parsed).toMatchObject({
        kind: 'event',
        scope: 'INSTANCE',
        name: 'VI_1',
        event: word,
        priority: 140,
      });
    },
  );

  it.each([
    ['', 'not a keepalived VRRP notify line'],
    ['INSTANCE VI_1 MASTER 150', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1" MASTER', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1" MASTER 150 extra', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1"  MASTER 150', 'not a keepalived VRRP notify line'],
    ['instance "VI_1" MASTER 150', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1" MASTER -1', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI 1" MASTER 150', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1" MASTER 150\r', 'not a keepalived VRRP notify line'],
    ['INSTANCE "VI_1" MASTER 256', 'priority 256 is above 255'],
    ['INSTANCE "VI_1" {UNKNOWN} 150', '"{UNKNOWN}" is not a VRRP state keepalived reports'],
    ['INSTANCE "VI_1" master 150', 'not a keepalived VRRP notify line'],
    ['VS [192.0.2.1]:tcp:80 UP', 'a checker (LVS) line: hactl runs no virtual_server'],
    [`INSTANCE "${'x'.repeat(MAX_FIFO_LINE)}" MASTER 1`, `longer than ${MAX_FIFO_LINE} bytes`],
  ])('%j is ignored: %s', (line, why) => {
    const parsed = parseFifoLine(line);
    expect(parsed.kind).toBe('ignored');
    expect(parsed).toMatchObject({ why });
  });

  it('shows control characters in what it logs', () => {
    expect(parseFifoLine('GROUP "g"\x1b[2J MASTER 1')).toMatchObject({
      kind: 'ignored',
      text: 'GROUP "g"\\x1b[2J MASTER 1',
    });
  });
});

describe('LineSplitter', () => {
  function split(chunks: string[], limit = 16) {
    const lines: string[] = [];
    const overlong: string[] = [];
    const splitter = new LineSplitter(
      (line) => lines.push(line),
      (start) => overlong.push(start),
      limit,
    );
    for (const chunk of chunks) splitter.push(chunk);
    return { lines, overlong };
  }

  it('joins lines split across chunks and keeps their order', () => {
    expect(split(['a\nb', 'c\n', 'd\ne\n', 'f']).lines).toEqual(['a', 'bc', 'd', 'e']);
  });

  it('drops a line over the limit whole, even across chunks, and resumes at the next line', () => {
    const { lines, overlong } = split(['ok1\n0123456789', '0123456789', 'abc\nok2\n']);
    expect(lines).toEqual(['ok1', 'ok2']);
    expect(overlong).toHaveLength(1);
  });

  it('drops a complete overlong line that arrives in one chunk', () => {
    const { lines, overlong } = split([`${'y'.repeat(17)}\nok\n`]);
    expect(lines).toEqual(['ok']);
    expect(overlong).toEqual(['y'.repeat(17)]);
  });

  it('keeps a line of exactly the limit', () => {
    expect(split([`${'z'.repeat(16)}\n`]).lines).toEqual(['z'.repeat(16)]);
  });
});
