/**
 * Ends the run with the plain line CI reads ("N passed, N failed, N skipped") and lists why each
 * skipped suite was skipped, so a run without root or Debian packages never looks like a pass.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  private modules: readonly TestModule[] = [];

  onTestRunEnd(testModules: readonly TestModule[]): void {
    this.modules = testModules;
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons = new Set<string>();
    for (const module of this.modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          const note = test.options.mode === 'skip' ? skipReason(test.fullName) : undefined;
          if (note) reasons.add(note);
        }
      }
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
    }
    for (const reason of reasons) process.stdout.write(`skipped: ${reason}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

function skipReason(fullName: string): string | undefined {
  const match = /\[skipped: ([^\]]+)\]/.exec(fullName);
  return match?.[1];
}
