/**
 * The agent's half of a planned switchover, run by the agent of the primary that hands over. It
 * keeps the intent (record.ts) in paths.state_dir and works through the steps off the reconcile
 * loop, each bounded, each persisted before the next begins, so an agent restart resumes where it
 * stopped:
 *
 * 1. read-only — the intent makes the decision core apply BACKUP on this node (step-down.ts): the
 *    same mysql.demote as any demotion (read-only, client sessions ended). Then this node's GTID
 *    position is final.
 * 2. catch-up — the target applies everything up to that position (MASTER_GTID_WAIT /
 *    WAIT_FOR_EXECUTED_GTID_SET on the target, bounded); a target that cannot is given up and the
 *    switchover rolled back: the intent is lifted and the core makes this node writable again.
 * 3. move-vips — the switchover track file reads 1: keepalived puts this node in FAULT and the
 *    target takes the VIPs.
 * 4. promote — the target's own agent promotes it through its normal MASTER path; this waits until
 *    its database is writable (the end of the write-unavailability window).
 * 5. repoint — the track file reads 0 again: this node becomes BACKUP and its demotion re-points
 *    it to the target.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dbAddress } from '../actions/addresses.js';
import { localTarget } from '../actions/mysql-common.js';
import { switchoverTrackFile } from '../agent/contract.js';
import { ensureTrackDir, writeTrackValue } from '../agent/checks/track-write.js';
import { appliedStatePath, readAppliedState } from '../cluster/applied-state.js';
import type { Intent } from '../cluster/decide.js';
import { vipHolding } from '../cluster/vips.js';
import { connect, connectWith, type MysqlSession } from '../mysql/connection.js';
import { detectFlavour, type Flavour } from '../mysql/flavour.js';
import { readOptionFile } from '../mysql/option-file.js';
import { readGtidState, readReadOnly } from '../mysql/server-state.js';
import type { NodeSpec, Spec } from '../spec/schema.js';
import {
  holdsPrimaryDown,
  isFinished,
  readSwitchover,
  writeSwitchover,
  type StepName,
  type SwitchoverPhase,
  type SwitchoverRecord,
} from './record.js';
import { resumeAction, type ResumeView } from './resume.js';

export interface DriverLog {
  info(fields: Record<string, unknown>): void;
  warn(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

export interface DriverContext {
  current(): { spec: Spec; node: NodeSpec };
  log: DriverLog;
  /** Wakes the reconcile loop: the intent changed. */
  wake(): void;
}

export interface DriverAnswer {
  status: number;
  body: unknown;
}

/** Bounds of the steps that wait on something else (the loop, keepalived, the target's agent). */
export const STEP_BOUNDS_MS = { readOnly: 30_000, moveVips: 15_000, promoteExtra: 20_000, repoint: 30_000 };
const POLL_MS = 50;
const KEEPER_MS = 500;
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const nowIso = () => new Date().toISOString();
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

class RolledBack extends Error {}

export class SwitchoverDriver {
  private record: SwitchoverRecord | undefined;
  /** Resumed at catch-up after a restart: the position is confirmed before the target waits for it. */
  private confirmPosition = false;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private keeper: NodeJS.Timeout | undefined;

  private constructor(private readonly context: DriverContext) {}

  /** Reads the record this node kept and resumes an unfinished switchover. */
  static async start(context: DriverContext): Promise<SwitchoverDriver> {
    const driver = new SwitchoverDriver(context);
    const { spec, node } = context.current();
    try {
      driver.record = await readSwitchover(spec.paths.state_dir, node.name);
    } catch (error) {
      context.log.error({ event: 'switchover.record_unreadable', reason: message(error) });
    }
    await driver.keepTrack().catch(() => undefined);
    driver.keeper = setInterval(() => void driver.keepTrack().catch(() => undefined), KEEPER_MS);
    // What to do with it depends on where the VIPs are now (resume.ts): run() decides.
    if (resumeAction(driver.record, node.name, driver.view()).kind !== 'none') driver.launch(true);
    return driver;
  }

  /** The intent the reconcile loop decides with. */
  intent(): Intent {
    const record = this.record;
    const { node } = this.context.current();
    if (!record || record.from !== node.name || !holdsPrimaryDown(record)) return {};
    return {
      stepDown: `switchover ${record.id}: handing the primary role to ${record.to} (${record.phase})`,
    };
  }

  status(): DriverAnswer {
    return { status: 200, body: { switchover: this.record ?? null } };
  }

  /** POST /v1/switchover: start one (or answer for the one in progress with the same id). */
  async request(body: unknown): Promise<DriverAnswer> {
    const { spec, node } = this.context.current();
    const asked = body as { id?: unknown; from?: unknown; to?: unknown; catch_up_timeout?: unknown } | null;
    const refuse = (status: number, problem: string): DriverAnswer => ({
      status,
      body: { problem, switchover: this.record ?? null },
    });
    if (!asked || typeof asked.id !== 'string' || !ID.test(asked.id))
      return refuse(400, 'id: an identifier of at most 64 letters, digits, dots, dashes, underscores');
    if (typeof asked.from !== 'string' || typeof asked.to !== 'string')
      return refuse(400, 'from and to: node names');
    const timeout = asked.catch_up_timeout ?? 10;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 1 || timeout > 600)
      return refuse(400, 'catch_up_timeout: seconds in 1..600');
    const current = this.record;
    if (current && !isFinished(current))
      return current.id === asked.id
        ? { status: 200, body: { switchover: current } }
        : refuse(
            409,
            `switchover ${current.id} (${current.from} → ${current.to}) is at step ${current.phase}`,
          );
    if (asked.from !== node.name) return refuse(409, `this is ${node.name}'s agent, not ${asked.from}'s`);
    if (asked.to === node.name || !spec.nodes.some((n) => n.name === asked.to))
      return refuse(400, `to: ${asked.to} is not another node of the spec`);
    if (!spec.mysql) return refuse(409, 'the spec has no mysql section: there is no database to hand over');
    const vips = vipHolding(spec);
    if (vips.missing.length > 0)
      return refuse(409, `${node.name} does not hold ${vips.missing.join(', ')}: it is not the primary`);
    const at = nowIso();
    this.record = {
      id: asked.id,
      from: node.name,
      to: asked.to,
      phase: 'read-only',
      requestedAt: at,
      catchUpTimeoutSec: timeout,
      steps: [{ name: 'read-only', startedAt: at }],
      writesStoppedAt: at,
    };
    await this.save();
    this.context.log.info({ event: 'switchover.accepted', id: asked.id, from: node.name, to: asked.to });
    this.launch();
    return { status: 202, body: { switchover: this.record } };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.keeper);
    this.abort.abort();
    await this.running;
  }

  private view(): ResumeView {
    const { spec } = this.context.current();
    const vips = vipHolding(spec);
    return { vipsHeld: vips.held.length, vipsTotal: vips.held.length + vips.missing.length };
  }

  private launch(resuming = false): void {
    if (this.running) return;
    this.context.wake();
    this.running = (resuming ? this.resume() : Promise.resolve())
      .then(() => this.run())
      .catch((error: unknown) =>
        this.context.log.error({ event: 'switchover.error', reason: message(error) }),
      )
      .finally(() => (this.running = undefined));
  }

  private async save(): Promise<void> {
    const { spec, node } = this.context.current();
    await writeSwitchover(spec.paths.state_dir, node.name, this.record!);
  }

  /** 1 in the track file while the VIPs must stay off this node, else 0 (keepalived resets it at its start). */
  private async keepTrack(): Promise<void> {
    const { spec, node } = this.context.current();
    if (!spec.agent.enabled) return;
    const file = switchoverTrackFile(spec.paths.runtime_dir, node.name);
    const phase = this.record?.from === node.name ? this.record.phase : undefined;
    const want = phase === 'move-vips' || phase === 'promote' ? 1 : 0;
    const found = await readFile(file, { encoding: 'utf8', signal: AbortSignal.timeout(1_000) }).catch(
      () => '',
    );
    if (found.trim() === String(want)) return;
    await ensureTrackDir(file);
    await writeTrackValue(file, want);
    this.context.log.info({ event: 'switchover.track', value: want, found: found.trim().slice(0, 16) });
  }

  private async advance(
    next: SwitchoverPhase,
    detail: string,
    fields: Partial<SwitchoverRecord> = {},
  ): Promise<void> {
    const record = this.record!;
    const at = nowIso();
    const steps = record.steps.map((step) =>
      step.name === record.phase && step.endedAt === undefined ? { ...step, endedAt: at, detail } : step,
    );
    if (next !== 'done' && next !== 'rolled-back' && next !== 'failed')
      steps.push({ name: next, startedAt: at });
    this.record = { ...record, ...fields, phase: next, steps };
    await this.save();
    await this.keepTrack().catch(() => undefined);
    this.context.log.info({ event: 'switchover.step', id: record.id, step: record.phase, detail, next });
    this.context.wake();
  }

  /** After an agent restart: carry on, skip what already happened, or confirm a roll-back (resume.ts). */
  private async resume(): Promise<void> {
    const { node } = this.context.current();
    let action = resumeAction(this.record, node.name, this.view());
    if (action.kind === 'settle') {
      await this.until(
        STEP_BOUNDS_MS.moveVips,
        async () => (resumeAction(this.record, node.name, this.view()).kind === 'settle' ? undefined : true),
        () => 'the VIPs stayed split',
      ).catch(() => undefined); // still split: the recorded step judges (the core keeps a split node read-only)
      if (this.stopped) return;
      action = resumeAction(this.record, node.name, this.view());
    }
    const record = this.record!;
    this.context.log.warn({
      event: 'switchover.resume',
      id: record.id,
      phase: record.phase,
      action: action.kind,
      ...('detail' in action ? { detail: action.detail } : {}),
    });
    if (action.kind === 'continue' && record.phase === 'catch-up') this.confirmPosition = true;
    if (action.kind === 'skip-to-promote') await this.advance('promote', action.detail);
    else if (action.kind === 'confirm-writable') await this.confirmWritable(record);
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.record && !isFinished(this.record)) {
      const phase = this.record.phase as StepName;
      try {
        if (phase === 'read-only') await this.readOnly();
        else if (phase === 'catch-up') await this.catchUp();
        else if (phase === 'move-vips') await this.moveVips();
        else if (phase === 'promote') await this.promote();
        else await this.repoint();
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof RolledBack || holdsPrimaryDown(this.record)) await this.rollBack(message(error));
        else await this.advance('failed', message(error), { reason: message(error) });
      }
    }
  }

  /** Polls `probe` until it returns a value, within `boundMs`; throws `why()` when it does not. */
  private async until<T>(
    boundMs: number,
    probe: () => Promise<T | undefined>,
    why: () => string,
  ): Promise<T> {
    const deadline = performance.now() + boundMs;
    for (let i = 0; i < 100_000 && performance.now() < deadline; i++) {
      if (this.stopped) throw new Error('the agent is stopping');
      const found = await probe().catch(() => undefined);
      if (found !== undefined) return found;
      await sleep(POLL_MS, undefined, { signal: this.abort.signal }).catch(() => undefined);
    }
    throw new RolledBack(why());
  }

  private localSession(): Promise<MysqlSession> {
    const { spec } = this.context.current();
    return connect(localTarget(spec.mysql!), { timeoutMs: 3_000, signal: this.abort.signal });
  }

  private async peerSession(queryTimeoutMs = 5_000): Promise<MysqlSession> {
    const { spec } = this.context.current();
    const mysql = spec.mysql!;
    const peer = spec.nodes.find((n) => n.name === this.record!.to)!;
    const { host, port } = dbAddress(spec, peer);
    if (mysql.replication_credentials_file) {
      const file = await readOptionFile(mysql.replication_credentials_file);
      return connectWith(
        {
          user: file.user ?? '',
          ...(file.password === undefined ? {} : { password: file.password }),
          host,
          port,
        },
        { timeoutMs: 3_000, signal: this.abort.signal, queryTimeoutMs },
      );
    }
    return connect(
      { host, port, defaultsFile: mysql.credentials_file },
      { timeoutMs: 3_000, signal: this.abort.signal, queryTimeoutMs },
    );
  }

  private async readOnly(): Promise<void> {
    const { spec, node } = this.context.current();
    const since = Date.parse(this.record!.requestedAt);
    this.context.wake();
    let last = 'nothing applied yet';
    await this.until(
      STEP_BOUNDS_MS.readOnly,
      async () => {
        const applied = await readAppliedState(
          appliedStatePath(spec.paths.runtime_dir, node.name),
          AbortSignal.timeout(1_000),
        );
        if (applied) last = `${applied.state} ${applied.ok ? 'ok' : 'failed'} at ${applied.at}`;
        return applied?.state === 'BACKUP' && applied.ok && Date.parse(applied.at) >= since
          ? true
          : undefined;
      },
      () =>
        `${node.name} did not apply BACKUP within ${STEP_BOUNDS_MS.readOnly / 1000} s (last applied: ${last})`,
    );
    const session = await this.localSession();
    try {
      const flavour = await detectFlavour(session);
      const ro = await readReadOnly(session, flavour);
      if (!ro.readOnly && !ro.superReadOnly)
        throw new RolledBack(`${node.name}'s database is still writable after BACKUP`);
      const { position } = await readGtidState(session, flavour);
      await this.advance(
        'catch-up',
        `read-only, client sessions ended; final GTID position ${position || '(empty)'}`,
        {
          finalPosition: position,
        },
      );
    } finally {
      await session.close();
    }
  }

  /**
   * After a restart at catch-up: whatever happened while no agent watched, this node must still be
   * read-only, and the position the target must reach is read again (never less than the recorded one).
   */
  private async confirmFinalPosition(): Promise<void> {
    const { node } = this.context.current();
    const session = await this.localSession();
    try {
      const flavour = await detectFlavour(session);
      const ro = await readReadOnly(session, flavour);
      if (!ro.readOnly && !ro.superReadOnly)
        throw new RolledBack(`${node.name}'s database was writable when its agent resumed at catch-up`);
      const { position } = await readGtidState(session, flavour);
      this.record = { ...this.record!, finalPosition: position };
      await this.save();
    } finally {
      await session.close();
    }
    this.confirmPosition = false;
  }

  private async catchUp(): Promise<void> {
    if (this.confirmPosition) await this.confirmFinalPosition();
    const record = this.record!;
    const position = record.finalPosition ?? '';
    const timeoutSec = record.catchUpTimeoutSec;
    const started = performance.now();
    if (position !== '') {
      const session = await this.peerSession((timeoutSec + 5) * 1000).catch((error: unknown) => {
        throw new RolledBack(`cannot reach ${record.to}'s database to wait for it: ${message(error)}`);
      });
      try {
        const flavour: Flavour = await detectFlavour(session);
        const sql =
          flavour.kind === 'mariadb'
            ? 'SELECT MASTER_GTID_WAIT(?, ?) AS r'
            : 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r';
        const row = (await session.query(sql, [position, timeoutSec]))[0] ?? {};
        if (Number(row.r) !== 0)
          throw new RolledBack(
            `${record.to} did not apply ${position} within --catch-up ${timeoutSec} s (its SQL thread lags or is stopped)`,
          );
      } finally {
        await session.close();
      }
    }
    await this.advance(
      'move-vips',
      `${record.to} applied everything up to ${position || '(nothing logged)'} in ${Math.round(performance.now() - started)} ms`,
    );
  }

  private async moveVips(): Promise<void> {
    const { spec } = this.context.current();
    await this.keepTrack();
    await this.until(
      STEP_BOUNDS_MS.moveVips,
      async () => (vipHolding(spec).held.length === 0 ? true : undefined),
      () => `keepalived did not release the VIPs within ${STEP_BOUNDS_MS.moveVips / 1000} s`,
    );
    await this.advance(
      'promote',
      'keepalived released every VIP (this node is FAULT by its switchover track file)',
    );
  }

  private async promote(): Promise<void> {
    const { spec } = this.context.current();
    const record = this.record!;
    const boundMs = (spec.mysql!.catch_up_timeout ?? 10) * 1000 + STEP_BOUNDS_MS.promoteExtra;
    let session: MysqlSession | undefined;
    try {
      await this.until(
        boundMs,
        async () => {
          session ??= await this.peerSession();
          const row = (await session.query('SELECT @@GLOBAL.read_only AS ro')).at(0);
          return row && String(row.ro) === '0' ? true : undefined;
        },
        () =>
          `${record.to} did not become writable within ${boundMs / 1000} s: see its agent's log (promotion guard)`,
      ).catch((error: unknown) => {
        throw new Error(message(error)); // the VIPs moved: no roll-back from here, a failure to report
      });
    } finally {
      await session?.close().catch(() => undefined);
    }
    await this.advance('repoint', `${record.to} is writable`, { writableAt: nowIso() });
  }

  private async repoint(): Promise<void> {
    const { spec, node } = this.context.current();
    const record = this.record!;
    const since = Date.parse(record.steps.find((s) => s.name === 'repoint')?.startedAt ?? record.requestedAt);
    await this.keepTrack();
    this.context.wake();
    await this.until(
      STEP_BOUNDS_MS.repoint,
      async () => {
        const applied = await readAppliedState(
          appliedStatePath(spec.paths.runtime_dir, node.name),
          AbortSignal.timeout(1_000),
        );
        return applied?.state === 'BACKUP' && applied.ok && Date.parse(applied.at) >= since
          ? true
          : undefined;
      },
      () =>
        `${node.name} did not apply BACKUP (re-point to ${record.to}) within ${STEP_BOUNDS_MS.repoint / 1000} s`,
    ).catch((error: unknown) => {
      throw new Error(message(error));
    });
    await this.advance('done', `${node.name} is BACKUP and replicates from ${record.to}`);
  }

  /** Lifts the intent: the core makes this node writable again (it still holds the VIPs). */
  private async rollBack(reason: string): Promise<void> {
    const record = this.record!;
    this.context.log.warn({ event: 'switchover.roll_back', id: record.id, step: record.phase, reason });
    await this.advance('rolled-back', `rolled back: ${reason}`, { reason });
    if (this.view().vipsHeld === 0) {
      // The VIPs went to the target anyway (this node failed meanwhile): it is not this node's to be writable.
      const why = `${record.from} holds none of the VIPs: ${record.to}'s agent judges whether it promotes`;
      this.context.log.warn({ event: 'switchover.roll_back', id: record.id, reason: why });
      this.record = { ...this.record!, unconfirmed: why };
      await this.save();
      return;
    }
    await this.confirmWritable(record);
  }

  /** Waits (bounded) until this node's database is writable again and records when. */
  private async confirmWritable(record: SwitchoverRecord): Promise<void> {
    let session: MysqlSession | undefined;
    try {
      await this.until(
        STEP_BOUNDS_MS.readOnly,
        async () => {
          session ??= await this.localSession();
          const row = (await session.query('SELECT @@GLOBAL.read_only AS ro')).at(0);
          return row && String(row.ro) === '0' ? true : undefined;
        },
        () => 'not writable again in time',
      );
      this.record = { ...this.record!, writableAt: nowIso() };
      await this.save();
    } catch (error) {
      this.context.log.error({ event: 'switchover.roll_back', id: record.id, reason: message(error) });
      this.record = { ...this.record!, unconfirmed: `${record.from}'s database: ${message(error)}` };
      await this.save().catch(() => undefined);
    } finally {
      await session?.close().catch(() => undefined);
    }
  }
}
