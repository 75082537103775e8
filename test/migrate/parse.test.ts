/**
 * The tolerant keepalived.conf reader follows keepalived 2.2.7's lexing (lib/parser.c): comments
 * with # and ! anywhere outside double quotes, braces as tokens of their own, a block's `{` on the
 * next line, include recorded and not followed.
 */
import { describe, expect, it } from 'vitest';
import { parseKeepalivedConf } from '../../src/migrate/parse.js';
import { lintConfs } from '../../src/migrate/rules.js';

describe('parseKeepalivedConf', () => {
  it('keeps # and ! inside double quotes, drops them outside', () => {
    const { statements, problems } = parseKeepalivedConf(
      'x.conf',
      ['vrrp_script chk { # trailing comment', '  script "/bin/check --tag #1 !x" ! another', '}'].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(statements).toEqual([
      {
        keyword: 'vrrp_script',
        args: ['chk'],
        line: 1,
        endLine: 3,
        block: [{ keyword: 'script', args: ['/bin/check --tag #1 !x'], line: 2 }],
      },
    ]);
  });

  it("takes a block's { on the next line and braces glued to words", () => {
    const { statements, problems } = parseKeepalivedConf(
      'x.conf',
      ['vrrp_instance VI_1', '{', '  virtual_ipaddress {192.0.2.1/24}', '}'].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(statements[0]?.block?.[0]).toEqual({
      keyword: 'virtual_ipaddress',
      args: [],
      line: 3,
      endLine: 3,
      block: [{ keyword: '192.0.2.1/24', args: [], line: 3 }],
    });
  });

  it('reports an unterminated quote and a { that follows no keyword', () => {
    const { problems } = parseKeepalivedConf(
      'x.conf',
      ['global_defs {', '}', '{', 'router_id "a', ''].join('\n'),
    );
    expect(problems.map((p) => [p.kind, p.line])).toEqual([
      ['stray-open', 3],
      ['unterminated-quote', 4],
    ]);
  });
});

describe('include', () => {
  it('is reported as not followed, and the included file is not read', async () => {
    const text = ['include /etc/keepalived/conf.d/*.conf', 'global_defs {', '  router_id a', '}'].join('\n');
    const findings = await lintConfs([{ parsed: parseKeepalivedConf('inc.conf', text), text }]);
    expect(findings).toEqual([
      {
        severity: 'warning',
        rule: 'include',
        file: 'inc.conf',
        line: 1,
        message: expect.stringMatching(
          /^include is not followed: lint reads only the files it is given/,
        ) as string,
      },
    ]);
  });
});
