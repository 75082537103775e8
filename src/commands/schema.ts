/** hactl schema: the spec's JSON Schema, generated from the same zod schema that validates it. */
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { specSchema } from '../spec/schema.js';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'hactl schema\n\nPrints the JSON Schema of the spec file, for editors (e.g. yaml-language-server:\n# yaml-language-server: $schema=./hactl.schema.json).\n',
    );
    return 0;
  }
  if (argv.length > 0) {
    throw new UsageError(`hactl schema takes no arguments`, 'run `hactl schema --help`');
  }
  const jsonSchema = z.toJSONSchema(specSchema, { io: 'input', unrepresentable: 'any' });
  process.stdout.write(JSON.stringify({ title: 'hactl spec', ...jsonSchema }, null, 2) + '\n');
  return 0;
}
