/**
 * No secret in any output: each validator of a secret-bearing field reports the field and the
 * rule, never the value (not even its first 40 characters). The corpus test greps every output
 * of hundreds of cases; these are the cases one by one, so that a failure names its cause.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, forgetSecrets, redactSecrets } from '../../src/errors.js';
import { parseOptionFile, readOptionFile } from '../../src/mysql/option-file.js';
import { parseSpecText, SpecInvalid } from '../../src/spec/load.js';
import { runHactl } from '../support/cli.js';
import { baseSpecs, SECRETS, secretsIn, WEBHOOK_URL } from './corpus.js';
import { runInProcess } from './in-process.js';

const base = baseSpecs().find((b) => b.name === 'seed002')!.spec;
const master = (base.actions as { master: Record<string, unknown>[] }).master;
const commandIndex = master.findIndex((a) => a.type === 'command');
const webhookIndex = master.findIndex((a) => a.type === 'webhook');

/** The problems of a spec text; [] when valid. */
function problems(text: string): string[] {
  forgetSecrets();
  try {
    parseSpecText(text, 'secret.yaml');
    return [];
  } catch (error) {
    if (!(error instanceof SpecInvalid)) throw error;
    return [error.message];
  }
}

function withField(path: (string | number)[], value: unknown): string {
  const spec = structuredClone(base) as Record<string, unknown>;
  let parent = spec as Record<string | number, unknown>;
  for (const part of path.slice(0, -1)) parent = parent[part] as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = value;
  return stringify(spec);
}

const fields: { path: (string | number)[]; secret: string; shown: string }[] = [
  {
    path: ['election', 'authentication', 'password'],
    secret: SECRETS.vrrp,
    shown: 'election.authentication.password',
  },
  {
    path: ['actions', 'master', commandIndex, 'env', 'API_TOKEN'],
    secret: SECRETS.env,
    shown: `actions.master[${commandIndex}].env.API_TOKEN`,
  },
  {
    path: ['actions', 'master', commandIndex, 'argv', 1],
    secret: SECRETS.argv,
    shown: `actions.master[${commandIndex}].argv[1]`,
  },
  {
    path: ['actions', 'master', webhookIndex, 'url'],
    secret: SECRETS.webhookPassword,
    shown: `actions.master[${webhookIndex}].url`,
  },
];

describe('spec validators name the field, not the value', () => {
  it('the base spec with its secrets is valid', () => {
    expect(problems(stringify(base))).toEqual([]);
  });

  for (const field of fields) {
    const variants: [string, unknown][] = [
      ['a space', `${field.secret} and more`],
      ['a "#"', `${field.secret}#1`],
      ['a newline', `${field.secret}\nx`],
      ['a brace', `{${field.secret}`],
      ['over 512 characters', field.secret.repeat(80)],
      ['a list', [field.secret]],
      ['a mapping', { k: field.secret }],
    ];
    for (const [what, value] of variants) {
      it(`${field.shown} with ${what}`, () => {
        const found = problems(withField(field.path, value));
        expect(found.length, `accepted ${what}`).toBe(1);
        expect(found[0]).toContain(`${field.shown}: `);
        expect(secretsIn(found[0]!)).toEqual([]);
      });
    }
  }

  it('a webhook URL: not even its first 40 characters (they hold the token here)', () => {
    const url = `https://${SECRETS.webhookToken}@hooks.example.org/${'x'.repeat(600)}`;
    const [message] = problems(withField(['actions', 'master', webhookIndex, 'url'], url));
    expect(message).toMatch(/url: the value \(hidden\) is \d+ characters long; at most 512/);
    expect(message).not.toContain(url.slice(0, 12));
  });

  it('a whole env mapping written as a string is not echoed', () => {
    const [message] = problems(
      withField(['actions', 'master', commandIndex, 'env'], `API_TOKEN ${SECRETS.env}`),
    );
    expect(message).toMatch(/env: expected record, got a value \(hidden\)/);
  });

  const yamlCases: [string, string, RegExp][] = [
    ['a tag', `!${SECRETS.vrrp} x`, /unknown tag/],
    ['an alias', `*${SECRETS.vrrp}`, /alias/],
    ['an anchor without value', `&${SECRETS.vrrp}`, /./],
    ['a bad escape', `"${SECRETS.vrrp}\\q"`, /invalid escape sequence/],
    ['a block scalar header', `|${SECRETS.vrrp}`, /./],
    ['a reserved first character', `@${SECRETS.vrrp}`, /cannot start with/],
  ];
  for (const [what, written, message] of yamlCases) {
    it(`YAML errors do not quote the text: the password as ${what}`, () => {
      const text = stringify(base).replace(`password: ${SECRETS.vrrp}`, `password: ${written}`);
      expect(text).toContain(written);
      const found = problems(text);
      expect(found.length).toBe(1);
      expect(found[0]).toMatch(message);
      expect(found[0]).toMatch(/at secret\.yaml:\d+:\d+/);
      expect(secretsIn(found[0]!)).toEqual([]);
    });
  }

  it('a stray word beside the password (its key forgotten) is not shown as an unknown field', () => {
    const text = stringify(base).replace(`password: ${SECRETS.vrrp}`, `password: x\n    ${SECRETS.vrrp}: y`);
    const [message] = problems(text);
    expect(message).toMatch(
      /election.authentication: unknown field \(its name is not shown: it sits beside a secret\)/,
    );
    expect(secretsIn(message!)).toEqual([]);
  });

  it('a flow mapping that lost its colon does not show the merged key', () => {
    const text = stringify(base).replace(
      /authentication:\n\s+type: PASS\n\s+password: Qz7PwX9k/,
      `authentication: {type: PASS, password ${SECRETS.vrrp}}`,
    );
    const [message] = problems(text);
    expect(message).toMatch(/unknown field \(its name is not shown/);
    expect(secretsIn(message!)).toEqual([]);
  });

  it('a file that is one scalar (a credentials or env file given as --spec) is not echoed', () => {
    for (const text of [`password=${SECRETS.optionFile}\n`, `API_TOKEN=${SECRETS.env}\n`]) {
      const [message] = problems(text);
      expect(message).toMatch(/\(top level\): expected object, got a string \(not shown\)/);
      expect(secretsIn(message!)).toEqual([]);
    }
  });
});

describe('messages printed later are cleaned of the secrets the loader saw', () => {
  it('redactSecrets takes out every remembered value, in every quoted form', () => {
    forgetSecrets();
    parseSpecText(stringify(base), 'ok.yaml');
    const text = `failed: ${WEBHOOK_URL} and "${SECRETS.env}" and ${JSON.stringify(SECRETS.vrrp)}; ${SECRETS.webhookPassword}`;
    const clean = redactSecrets(text);
    expect(secretsIn(clean)).toEqual([]);
    expect(clean).toContain('the value (hidden)');
    forgetSecrets();
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('option files (credentials): errors name the file and line, never a value', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `hactl-secrets-${process.pid}-`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, string, RegExp][] = [
    [
      'the password pasted on the port line',
      `[client]\nuser=hactl\nport=${SECRETS.mysqlPort}\n`,
      /f\.cnf: port is not a TCP port number/,
    ],
    ['a line without "="', `[client]\nuser=hactl\n${SECRETS.optionFile}\n`, /f\.cnf line 3 has no "="/],
    [
      '"password" and the value without "="',
      `[client]\npassword ${SECRETS.optionFile}\n`,
      /f\.cnf line 2 has no "="/,
    ],
    [
      'an unterminated quote',
      `[client]\npassword="${SECRETS.optionFile}\n`,
      /f\.cnf line 2: unterminated quote in the value/,
    ],
    ['a "!" line', `[client]\n!${SECRETS.optionFile}\n`, /f\.cnf line 2: a "!" directive is not supported/],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => {
      let error: unknown;
      try {
        parseOptionFile(text, 'f.cnf');
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect(secretsIn((error as Error).message)).toEqual([]);
    });
  }

  it('boolean options (skip-ssl) stay allowed without "="; other groups are not checked', () => {
    expect(parseOptionFile('[client]\nuser=u\nskip-ssl\nloose-compress\n[mysqld]\nbare-word\n', 'f')).toEqual(
      {
        user: 'u',
      },
    );
  });

  it('readOptionFile reports through the same rule', async () => {
    const file = join(dir, 'creds.cnf');
    writeFileSync(file, `[client]\nuser=hactl\n${SECRETS.optionFile}\n`);
    chmodSync(file, 0o600);
    await expect(readOptionFile(file)).rejects.toThrow(new RegExp(`${file} line 3 has no "="`));
  });
});

describe('through the built CLI, outputs and logs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `hactl-secrets-cli-${process.pid}-`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lint and render-config of invalid secrets print none', async () => {
    for (const field of fields) {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, withField(field.path, `${field.secret} #`));
      for (const args of [['lint'], ['render-config']]) {
        const result = await runInProcess(args[0]!, ['--spec', file]);
        expect(result.exitCode).toBe(args[0] === 'lint' ? 1 : 2);
        expect(secretsIn(result.stdout + result.stderr)).toEqual([]);
      }
    }
  });

  it('notify with failing secret-carrying actions: stdout, stderr and the log hold none', async () => {
    const spec = structuredClone(base) as Record<string, unknown>;
    const actions = spec.actions as Record<string, Record<string, unknown>[]>;
    spec.paths = { runtime_dir: join(dir, 'run') };
    spec.logging = { file: join(dir, 'log', 'hactl.log'), level: 'debug' };
    // Where a token could end up in a log: the failing command's argv and env, a webhook on a closed port.
    actions.backup = [
      {
        type: 'command',
        argv: ['/bin/false', SECRETS.argv],
        env: { API_TOKEN: SECRETS.env },
        timeout: 5,
      },
      {
        type: 'webhook',
        url: `http://hook:${SECRETS.webhookPassword}@127.0.0.1:9/${SECRETS.webhookToken}`,
        retries: 0,
        timeout: 2,
      },
    ];
    const file = join(dir, 'notify.yaml');
    writeFileSync(file, stringify(spec));
    const result = await runHactl(['notify', '--spec', file, '--node', 'node1', 'backup'], {
      timeoutMs: 30_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.stdout + result.stderr).toMatch(/BACKUP partial/);
    const log = readFileSync(join(dir, 'log', 'hactl.log'), 'utf8');
    expect(log).toMatch(/"event":"notify.action"/);
    expect(secretsIn(result.stdout + result.stderr), result.stdout + result.stderr).toEqual([]);
    expect(secretsIn(log), log).toEqual([]);
  });

  it('check --spec with a URL that carries credentials prints none', async () => {
    const spec = structuredClone(base) as Record<string, unknown>;
    const checks = spec.checks as Record<string, unknown>[];
    checks[0]!.params = { url: `http://u:${SECRETS.webhookPassword}@127.0.0.1:9/?t=${SECRETS.webhookToken}` };
    const file = join(dir, 'check.yaml');
    writeFileSync(file, stringify(spec));
    const result = await runHactl(['check', '--spec', file, '--node', 'node1', 'nginx'], {
      timeoutMs: 20_000,
    });
    expect(result.exitCode).toBe(1);
    expect(secretsIn(result.stdout + result.stderr), result.stderr).toEqual([]);
  });
});
