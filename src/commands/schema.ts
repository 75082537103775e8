/** hactl schema: the spec's JSON Schema, generated from the same zod schema that validates it. */
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { specSchema } from '../spec/schema.js';

/** Names the spec format (version: 1), not a download location: editors take the file itself. */
export const SCHEMA_ID = 'urn:hactl:spec:v1';

const USAGE = `hactl schema

Prints the JSON Schema (draft-07) of the spec file, for editors. With yaml-language-server (VS Code's
YAML extension, and others), save it and name it on the spec's first line:
  hactl schema > hactl.schema.json
  # yaml-language-server: $schema=./hactl.schema.json
Every field has a description; rules that compare several fields (unique names, networks every node
has, timeout within interval, priority and weight maths) are named in the descriptions and checked by
\`hactl lint\` only.
`;

export function specJsonSchema(): Record<string, unknown> {
  // draft-07: what yaml-language-server and VS Code's YAML extension implement in full.
  const generated = z.toJSONSchema(specSchema, { io: 'input', target: 'draft-7', unrepresentable: 'throw' });
  const { $schema, title, description, ...rest } = generated;
  return { $schema, $id: SCHEMA_ID, title, description, ...rest };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length > 0) {
    throw new UsageError(`hactl schema takes no arguments`, 'run `hactl schema --help`');
  }
  process.stdout.write(JSON.stringify(specJsonSchema(), null, 2) + '\n');
  return 0;
}
