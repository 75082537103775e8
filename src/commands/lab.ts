// Placeholder until the lab command lands; the dispatcher needs the module to exist.
import { CommandFailed } from '../errors.js';

export async function main(): Promise<number> {
  throw new CommandFailed('hactl lab is not available in this build yet');
}
