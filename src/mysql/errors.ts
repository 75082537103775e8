/**
 * The database layer's failures are domain errors: they say what happened and what a human can
 * do, and carry no CLI exit code. The caller decides what they mean — an action turns them into a
 * failed step, a check into an unhealthy result, a command into its exit code.
 */
export class DatabaseError extends Error {
  constructor(message: string, name = 'DatabaseError') {
    super(message);
    // Explicit, not new.target.name: bundlers may rename classes, and logs and --debug show this.
    this.name = name;
  }
}
