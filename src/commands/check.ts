// Placeholder until the check command lands; the dispatcher needs the module to exist.
import { CommandFailed } from '../errors.js';

export async function main(): Promise<number> {
  throw new CommandFailed('hactl check is not available in this build yet');
}
