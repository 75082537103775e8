/**
 * The chaos writer's report is read from its stdout (src/lab/writer.ts): every ack line, with the
 * session and the reply that acknowledged it, is parsed by the time `finished` resolves (the runner
 * fixes the id range it counts then). Real child processes, no mocks.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { followWriterOutput } from '../../src/lab/writer.js';

const FIRST = 1_000_000;

function writerPrinting(lines: number) {
  // ~30 bytes a line: far more than a pipe holds, as a writer whose reader was busy would leave.
  const program = `
    const first = ${FIRST};
    let text = '';
    for (let i = 0; i < ${lines}; i++) text += 'A ' + (first + i) + ' 1 2 1 0-1-' + (i + 1) + ' 9 ' + (i + 1) + ' 1\\n';
    text += 'S ${lines}\\n';
    require('node:fs').writeSync(1, text);
    process.exit(0);`;
  return spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
}

describe('the writer’s output', () => {
  it('has every ack parsed once finished resolves, however much was still in the pipe at exit', async () => {
    for (let run = 0; run < 5; run++) {
      const lines = 40_000;
      const report = followWriterOutput(writerPrinting(lines), FIRST);
      await report.finished;
      expect(report.acks).toHaveLength(lines);
      expect(report.sent()).toBe(lines);
      expect(report.acks.at(-1)).toMatchObject({
        id: FIRST + lines - 1,
        gtid: `0-1-${lines}`,
        connectionId: 9,
        seq: lines,
        affectedRows: 1,
      });
    }
  });

  it('reads the older five-field ack line too', async () => {
    const child = spawn(process.execPath, ['-e', `process.stdout.write('A ${FIRST} 1 2 2 -\\nS 1\\n')`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const report = followWriterOutput(child, FIRST);
    await report.finished;
    expect(report.acks).toEqual([
      {
        id: FIRST,
        sentAt: 1,
        ackAt: 2,
        serverId: 2,
        gtid: null,
        connectionId: null,
        seq: null,
        affectedRows: null,
      },
    ]);
  });

  it('keeps when a failed insert went out, so a timeout can be told from a refusal', async () => {
    const text = `F 5 connect:ECONNREFUSED\nF 2050 TIMEOUT ${FIRST} -40\nF 2300 1290 ${FIRST + 1} 2100\nS 2\n`;
    const child = spawn(process.execPath, ['-e', `process.stdout.write(${JSON.stringify(text)})`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const report = followWriterOutput(child, FIRST);
    await report.finished;
    expect(report.failures).toEqual([
      { t: 5, code: 'connect:ECONNREFUSED' },
      { t: 2050, code: 'TIMEOUT', sentAt: -40 },
      { t: 2300, code: '1290', sentAt: 2100 },
    ]);
    expect(report.sent()).toBe(2);
  });
});
