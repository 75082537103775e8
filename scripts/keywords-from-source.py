#!/usr/bin/env python3
"""Writes src/migrate/keywords.ts from keepalived's own parser source (the keyword tables its
install_keyword* calls build), so the misspelling rule compares against what keepalived accepts
rather than against a list typed by hand.

usage: keywords-from-source.py KEEPALIVED_GIT_DIR TAG > src/migrate/keywords.ts
The walk follows the calls in file order: install_keyword_root starts a block, install_keyword adds
to the deepest open sublevel, install_sublevel()/install_sublevel_end() open and close one."""
import re, subprocess, sys, json

git, tag = sys.argv[1], sys.argv[2]
files = subprocess.run(['git', '-C', git, 'grep', '-l', 'install_keyword', tag, '--', '*.c'],
                       capture_output=True, text=True, check=True).stdout.split()
files = [f.split(':', 1)[1] for f in files if not f.endswith('lib/parser.c')]
call = re.compile(r'\b(install_keyword_root|install_keyword_conditional|install_keyword|install_sublevel_end|install_sublevel)\s*\(\s*(?:"([^"]+)")?')
roots = {}
for f in files:
    text = subprocess.run(['git', '-C', git, 'show', f'{tag}:{f}'], capture_output=True, text=True, check=True).stdout
    stack = None  # path of block names to the sublevel keywords are added to
    last = None
    for m in call.finditer(text):
        kind, name = m.group(1), m.group(2)
        if kind == 'install_keyword_root':
            roots.setdefault(name, {})
            stack, last = [name], None
        elif stack is None:
            continue
        elif kind == 'install_sublevel':
            if last: stack.append(last)
        elif kind == 'install_sublevel_end':
            if len(stack) > 1: stack.pop()
        else:
            node = roots[stack[0]]
            for part in stack[1:]:
                node = node.setdefault(part, {})
            node.setdefault(name, {})
            last = name
print('/**')
print(f' * keepalived {tag} keyword tree, generated from its parser source by scripts/keywords-from-source.py')
print(' * (files: ' + ', '.join(sorted(files)) + ').')
print(' * A key with an empty object either takes values or a block of values (addresses, names).')
print(' * Do not edit by hand: re-run the generator.')
print(' */')
print('export interface KeywordTree {\n  readonly [keyword: string]: KeywordTree;\n}\n')
print('export const KEYWORDS: KeywordTree = ' + json.dumps(roots, indent=2, sort_keys=True) + ';')
