/**
 * Ends the run with the plain line CI reads ("N passed, N failed, N skipped") and lists why each
 * skipped suite was skipped, so a run without root or Debian packages never looks like a pass.
 * A suite or file that fails outside its tests (a beforeAll/afterAll hook, an import or collection
 * error) counts as failed: vitest reports its tests as skipped. Under CI (CI=true) nothing may be
 * skipped: every skipped test is named and counted as failed, and the run exits non-zero.
 */
import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[], unhandledErrors: readonly SerializedError[]): void {
    const ci = process.env.CI === 'true';
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons = new Set<string>();
    const notes: string[] = [];
    for (const module of testModules) {
      const broken = new Set<TestModule | TestSuite>();
      const suites: (TestModule | TestSuite)[] = [module, ...module.children.allSuites()];
      for (const suite of suites) {
        const errors = suite.errors();
        if (errors.length === 0) continue;
        broken.add(suite);
        failed++;
        const name = suite.type === 'module' ? suite.relativeModuleId : suite.fullName;
        notes.push(`failed outside its tests: ${name}: ${errors[0]?.message ?? 'error'}`);
      }
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else if (ci && !underBroken(test, broken)) {
          failed++;
          notes.push(`skipped under CI=true (counted as failed): ${test.fullName}`);
        } else {
          skipped++;
          const note = test.options.mode === 'skip' ? skipReason(test.fullName) : undefined;
          if (note) reasons.add(note);
        }
      }
    }
    if (unhandledErrors.length > 0) {
      failed += unhandledErrors.length;
      notes.push(`${unhandledErrors.length} unhandled error(s)`);
    }
    for (const reason of reasons) process.stdout.write(`skipped: ${reason}\n`);
    for (const note of notes) process.stdout.write(`${note}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    if (failed > 0) process.exitCode = 1;
  }
}

/** Whether one of the test's suites (or its file) already failed, and was counted, outside its tests. */
function underBroken(test: TestCase, broken: Set<TestModule | TestSuite>): boolean {
  for (let parent: TestModule | TestSuite = test.parent; ; parent = parent.parent) {
    if (broken.has(parent)) return true;
    if (parent.type === 'module') return false;
  }
}

function skipReason(fullName: string): string | undefined {
  const match = /\[skipped: ([^\]]+)\]/.exec(fullName);
  return match?.[1];
}
