import { failed, type ActionOf, type ActionRun } from './types.js';
export const run: ActionRun<ActionOf<'mysql.demote'>> = async () => failed('not yet');
