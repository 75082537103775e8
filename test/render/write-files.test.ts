/**
 * The all-or-nothing writer behind `render-config --out/--out-dir`, in process, with renames that
 * fail on demand: what a failing rename leaves behind is the guarantee src/fs-atomic.ts documents.
 */
import { rename } from 'node:fs/promises';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { writeFileAtomic, writeFilesAtomic, type CommitOps } from '../../src/fs-atomic.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hactl-write-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort();
}

/** Real renames, except those onto (or from) a path listed in `failing`, which fail with EIO. */
function renamesFailingFor(...failing: string[]): CommitOps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    rename: async (from, to) => {
      calls.push(to);
      if (failing.includes(to)) {
        throw Object.assign(new Error(`EIO: i/o error, rename '${from}' -> '${to}'`), { code: 'EIO' });
      }
      await rename(from, to);
    },
  };
}

const file = (path: string, data: string) => ({ path, data, mode: 0o640, what: `test (${path})` });

describe('writeFilesAtomic', () => {
  it('a rename failing after another succeeded: the first file is put back, a new one removed', async () => {
    const existing = join(dir, 'a', 'keepalived.conf');
    mkdirSync(join(dir, 'a'));
    writeFileSync(existing, 'previous a\n', { mode: 0o600 });
    const fresh = join(dir, 'b', 'keepalived.conf');
    const blocked = join(dir, 'c', 'keepalived.conf');
    mkdirSync(join(dir, 'c'));
    writeFileSync(blocked, 'previous c\n');
    const ops = renamesFailingFor(blocked);

    const failure = await writeFilesAtomic(
      [file(existing, 'new a\n'), file(fresh, 'new b\n'), file(blocked, 'new c\n')],
      ops,
    ).catch((error: unknown) => error);

    expect(ops.calls.slice(0, 3)).toEqual([existing, fresh, blocked]);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(
      new RegExp(`^writing ${blocked}: EIO: .* \\(no file was changed\\)$`),
    );
    expect(readFileSync(existing, 'utf8')).toBe('previous a\n');
    expect(statSync(existing).mode & 0o777).toBe(0o600);
    expect(readFileSync(blocked, 'utf8')).toBe('previous c\n');
    // b/ was created for this batch only: gone again, with no temp or backup file anywhere.
    expect(tree(dir)).toEqual(['a', 'a/keepalived.conf', 'c', 'c/keepalived.conf']);
  });

  it('when putting a file back fails too, the error says which file is new and keeps its backup', async () => {
    const first = join(dir, 'first.conf');
    const second = join(dir, 'second.conf');
    writeFileSync(first, 'previous first\n');
    writeFileSync(second, 'previous second\n');
    const ops = renamesFailingFor(second, first);
    // The first rename onto `first` is the commit and must succeed: fail only the put-back.
    let commits = 0;
    const rollbackFails: CommitOps = {
      rename: async (from, to) => {
        if (to === first && commits++ === 0) return rename(from, to);
        return ops.rename(from, to);
      },
    };

    const failure = (await writeFilesAtomic(
      [file(first, 'new first\n'), file(second, 'new second\n')],
      rollbackFails,
    ).catch((error: unknown) => error)) as Error;

    const backup = failure.message.match(/previous version is kept as (\S+)\)/)?.[1];
    expect(failure.message).toMatch(
      new RegExp(
        `^writing ${second}: EIO.*; rolling back failed too, so these files are new: ${first} \\(new; the previous version is kept as .*\\); every other file kept its previous version`,
      ),
    );
    expect(readFileSync(first, 'utf8')).toBe('new first\n');
    expect(readFileSync(second, 'utf8')).toBe('previous second\n');
    expect(backup).toBeDefined();
    expect(readFileSync(backup!, 'utf8')).toBe('previous first\n');
    expect(tree(dir)).toEqual([backup!.slice(dir.length + 1), 'first.conf', 'second.conf'].sort());
  });

  it('every file written: content, mode, and no temp or backup left', async () => {
    writeFileSync(join(dir, 'old.conf'), 'previous\n', { mode: 0o644 });
    await writeFilesAtomic([file(join(dir, 'old.conf'), 'one\n'), file(join(dir, 'n', 'new.conf'), 'two\n')]);
    expect(readFileSync(join(dir, 'old.conf'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(dir, 'n', 'new.conf'), 'utf8')).toBe('two\n');
    for (const path of ['old.conf', 'n/new.conf']) expect(statSync(join(dir, path)).mode & 0o777).toBe(0o640);
    expect(tree(dir)).toEqual(['n', 'n/new.conf', 'old.conf']);
  });

  it('two outputs that lead to the same file are refused before anything is written', async () => {
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    const failure = await writeFilesAtomic([
      file(join(dir, 'real', 'x.conf'), 'one\n'),
      file(join(dir, 'alias', 'x.conf'), 'two\n'),
    ]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UsageError);
    expect((failure as Error).message).toMatch(/is the same file as .*real\/x.conf/);
    expect(tree(dir)).toEqual(['alias', 'real']);
  });
});

describe('writeFileAtomic (one file, for state files)', () => {
  it('writes through a symlink and keeps the link', () => {
    writeFileSync(join(dir, 'target'), 'previous\n');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    writeFileAtomic(join(dir, 'link'), 'new\n', 0o600);
    expect(lstatSync(join(dir, 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'link'))).toBe(join(dir, 'target'));
    expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('new\n');
    expect(statSync(join(dir, 'target')).mode & 0o777).toBe(0o600);
    expect(tree(dir)).toEqual(['link', 'target']);
  });

  it('refuses a directory or a dangling symlink as a usage error', () => {
    mkdirSync(join(dir, 'sub'));
    expect(() => writeFileAtomic(join(dir, 'sub'), 'x')).toThrow(UsageError);
    expect(() => writeFileAtomic(join(dir, 'sub'), 'x')).toThrow(
      /is a directory, where the file should be written/,
    );
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    expect(() => writeFileAtomic(join(dir, 'dangling'), 'x')).toThrow(/symlink whose target does not exist/);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect(tree(dir)).toEqual(['dangling', 'sub']);
  });
});
