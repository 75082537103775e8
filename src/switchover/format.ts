/** The lines `hactl switchover` prints: one per step with its duration, then the window. */
import { stepDurationMs, windowMs, type StepRecord, type SwitchoverRecord } from './record.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

export function stepLine(step: StepRecord): string {
  const ms = stepDurationMs(step);
  return `  ${step.name.padEnd(10)} ${ms === undefined ? '…'.padStart(9) : seconds(ms).padStart(9)}  ${step.detail ?? ''}`;
}

export function summaryLine(record: SwitchoverRecord): string {
  const window = windowMs(record);
  const windowText =
    window === undefined
      ? `write-unavailability window: not closed (${record.unconfirmed ? `${record.from} not writable again: ${record.unconfirmed}` : 'no writable database seen yet'})`
      : `write-unavailability window: ${seconds(window)} (${record.from} read-only → ${record.phase === 'rolled-back' ? record.from : record.to} writable)`;
  const total = record.steps.at(-1)?.endedAt
    ? Date.parse(record.steps.at(-1)!.endedAt!) - Date.parse(record.requestedAt)
    : undefined;
  const head =
    record.phase === 'done'
      ? `switchover ${record.id}: done, ${record.to} is the primary${total === undefined ? '' : ` (${seconds(total)} in all)`}`
      : record.phase === 'rolled-back'
        ? record.unconfirmed && record.writableAt === undefined
          ? `switchover ${record.id}: rolled back (${record.reason ?? ''}), but ${record.from} is not seen writable again`
          : `switchover ${record.id}: rolled back, ${record.from} stays the primary: ${record.reason ?? ''}`
        : record.phase === 'failed'
          ? `switchover ${record.id}: failed at a step after the VIPs moved: ${record.reason ?? ''}`
          : `switchover ${record.id}: at step ${record.phase}`;
  return `${head}\n${windowText}`;
}
