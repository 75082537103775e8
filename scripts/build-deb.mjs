#!/usr/bin/env node
// npm run build:deb — dist-deb/hactl_<version>_all.deb, installable with `dpkg -i` on a server that
// has nothing but Node (>= package.json's engines.node) and, recommended, keepalived:
//   /usr/lib/hactl/{bin/hactl,dist/,templates/,package.json}  the CLI bundled with its packages
//     (scripts/build.mjs --self-contained: no node_modules; check/notify as lean as in dist/)
//   /usr/bin/hactl -> ../lib/hactl/bin/hactl
//   /etc/hactl/hactl.yaml, mysql.cnf, replication.cnf          conffiles (credentials mode 0600)
//   /var/lib/hactl, /run/hactl (tmpfiles.d), hactl-agent.service (installed, not enabled),
//   bash completion and hactl(1), both generated from the bundled CLI's --help.
// Runs lintian on the result when it is installed.
//   node scripts/build-deb.mjs [--no-lintian]
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bashCompletion, commandsOf, manPage } from '../packaging/from-help.mjs';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = pkg.version;
const minNode = /^>=\s*(\d+(?:\.\d+)*)$/.exec(pkg.engines.node)?.[1];
if (!minNode) throw new Error(`package.json engines.node ${pkg.engines.node}: expected ">=X.Y.Z"`);

const LIB = 'usr/lib/hactl';
const SPEC = 'etc/hactl/hactl.yaml';
/** The files an operator edits: dpkg keeps them on remove and asks before replacing an edited one. */
const CONFFILES = ['/etc/hactl/hactl.yaml', '/etc/hactl/mysql.cnf', '/etc/hactl/replication.cnf'];

// Staged outside the repository: running the staged CLI must not find the repository's node_modules.
const stage = mkdtempSync(join(tmpdir(), 'hactl-deb-'));
try {
  await buildPackage(stage);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function run(file, args, options = {}) {
  return execFileSync(file, args, { encoding: 'utf8', timeout: 120_000, ...options });
}

function write(path, text, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** Every file (not symlink, not directory) below dir, relative to it. */
function filesBelow(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesBelow(path, base);
    return entry.isFile() ? [relative(base, path)] : [];
  });
}

/** The production packages the bundles carry, with their licences, for the copyright file. */
function bundledPackages() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const seen = new Map();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev) continue;
    const name = path.replace(/^.*node_modules\//, '');
    // Type declarations are not code: nothing of them is in a bundle.
    if (name.startsWith('@types/') || name === 'undici-types') continue;
    seen.set(`${name}@${entry.version}`, { name, version: entry.version, license: entry.license });
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function copyright() {
  const packages = bundledPackages();
  const mit = readFileSync(join(root, 'packaging/licenses/MIT'), 'utf8').trimEnd();
  const isc = readFileSync(join(root, 'packaging/licenses/ISC'), 'utf8').trimEnd();
  const licenseBlock = (text) =>
    text
      .split('\n')
      .map((line) => (line.trim() === '' ? ' .' : ` ${line}`))
      .join('\n');
  const list = packages.map((p) => `  ${p.name} ${p.version} (${p.license})`).join('\n');
  const unknown = packages.filter((p) => !['MIT', 'ISC', 'Apache-2.0'].includes(p.license));
  if (unknown.length > 0) {
    throw new Error(
      `packaging/licenses: no licence text for ${unknown.map((p) => `${p.name} (${p.license})`).join(', ')}`,
    );
  }
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hactl
Comment: usr/lib/hactl/dist/ holds hactl bundled (esbuild) with these npm packages:
${list
  .split('\n')
  .map((line) => ` ${line.trim()}`)
  .join('\n')}
 Each keeps the copyright of its authors under the licence named; the
 licence texts follow.

Files: *
Copyright: ${new Date(releaseEpoch() * 1000).getUTCFullYear()} ${maintainer().replace(/ <.*/, '')}
License: MIT

License: MIT
${licenseBlock(mit)}

License: ISC
${licenseBlock(isc)}

License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`;
}

function gzip9n(path) {
  run('gzip', ['-9n', path]);
}

async function buildPackage(dir) {
  const lib = join(dir, LIB);
  run(
    process.execPath,
    [join(root, 'scripts/build.mjs'), '--outdir', join(lib, 'dist'), '--self-contained'],
    {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  assertSelfContained(join(lib, 'dist'));
  cpSync(join(root, 'bin'), join(lib, 'bin'), { recursive: true });
  cpSync(join(root, 'templates'), join(lib, 'templates'), { recursive: true });
  // "type": "module" makes dist/*.js ESM; name and bin make it the package root src/lab finds.
  write(
    join(lib, 'package.json'),
    JSON.stringify(
      { name: 'hactl', version, private: true, type: 'module', bin: { hactl: 'bin/hactl' } },
      null,
      2,
    ) + '\n',
  );
  chmodSync(join(lib, 'bin/hactl'), 0o755);
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  symlinkSync('../lib/hactl/bin/hactl', join(dir, 'usr/bin/hactl'));

  // The example spec, pointing at the packaged hactl: keepalived's script security and its -t
  // check of every vrrp_script path then pass as installed.
  const example = readFileSync(join(root, 'templates/example.yaml'), 'utf8');
  const spec = example.replace(/^(\s+hactl:\s+)\/usr\/local\/bin\/hactl(\s)/m, '$1/usr/bin/hactl$2');
  if (spec === example)
    throw new Error(
      'templates/example.yaml: no `paths.hactl: /usr/local/bin/hactl` line to point at /usr/bin/hactl',
    );
  write(join(dir, SPEC), spec, 0o640);
  for (const name of ['mysql.cnf', 'replication.cnf']) {
    write(join(dir, 'etc/hactl', name), readFileSync(join(root, 'packaging/etc', name), 'utf8'), 0o600);
  }
  chmodSync(join(dir, 'etc/hactl'), 0o755);

  mkdirSync(join(dir, 'var/lib/hactl'), { recursive: true });
  chmodSync(join(dir, 'var/lib/hactl'), 0o750);
  write(
    join(dir, 'usr/lib/tmpfiles.d/hactl.conf'),
    readFileSync(join(root, 'packaging/tmpfiles.conf'), 'utf8'),
  );
  write(
    join(dir, 'lib/systemd/system/hactl-agent.service'),
    readFileSync(join(root, 'packaging/hactl-agent.service'), 'utf8'),
  );

  // Help texts from the staged CLI itself: this also proves the bundle runs without node_modules.
  const hactl = join(lib, 'bin/hactl');
  const help = async (args) =>
    (
      await execFileAsync(process.execPath, [hactl, ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, COLUMNS: '80' },
      })
    ).stdout;
  const topHelp = await help(['--help']);
  // Concurrently: each is a Node start, seconds apiece on a loaded machine.
  const helps = Object.fromEntries(
    await Promise.all(commandsOf(topHelp).map(async ([name]) => [name, await help([name, '--help'])])),
  );
  const doc = join(dir, 'usr/share/doc/hactl');
  write(
    join(dir, 'usr/share/man/man1/hactl.1'),
    manPage({
      version,
      description: pkg.description,
      topHelp,
      helps,
      files: [
        ['/etc/hactl/hactl.yaml', 'The pair spec (the same file on both nodes); an example until edited.'],
        ['/etc/hactl/mysql.cnf', 'MySQL option file of the account hactl uses on this node (mode 0600).'],
        ['/etc/hactl/replication.cnf', 'MySQL option file of the replication account (mode 0600).'],
        ['/run/hactl', 'Locks, state, the notify FIFO and the agent track files.'],
        ['/var/lib/hactl', 'What must survive a reboot: the last primary known and how far it got.'],
        ['/lib/systemd/system/hactl-agent.service', 'The agent unit (not enabled on install).'],
      ],
    }),
  );
  gzip9n(join(dir, 'usr/share/man/man1/hactl.1'));
  write(join(dir, 'usr/share/bash-completion/completions/hactl'), bashCompletion({ topHelp, helps }));

  write(join(doc, 'copyright'), copyright());
  write(
    join(doc, 'changelog'),
    `hactl (${version}) unstable; urgency=medium\n\n  * Built from hactl ${version} by scripts/build-deb.mjs.\n\n -- ${maintainer()}  ${debianDate()}\n`,
  );
  gzip9n(join(doc, 'changelog'));
  write(
    join(dir, 'usr/share/lintian/overrides/hactl'),
    readFileSync(join(root, 'packaging/lintian-overrides'), 'utf8'),
  );

  // DEBIAN/: control files. md5sums over every file in the data part (not DEBIAN/, not symlinks).
  const control = join(dir, 'DEBIAN');
  mkdirSync(control);
  const dataFiles = filesBelow(dir)
    .filter((path) => !path.startsWith('DEBIAN/'))
    .sort();
  write(
    join(control, 'md5sums'),
    dataFiles
      .map(
        (path) =>
          `${createHash('md5')
            .update(readFileSync(join(dir, path)))
            .digest('hex')}  ${path}\n`,
      )
      .join(''),
  );
  write(join(control, 'conffiles'), CONFFILES.map((path) => `${path}\n`).join(''));
  for (const script of ['postinst', 'postrm']) {
    write(join(control, script), readFileSync(join(root, 'packaging', script), 'utf8'), 0o755);
  }
  const installedKiB = dataFiles.reduce(
    (sum, path) => sum + Math.ceil(statSync(join(dir, path)).size / 1024),
    0,
  );
  write(
    join(control, 'control'),
    `Package: hactl
Version: ${version}
Architecture: all
Maintainer: ${maintainer()}
Installed-Size: ${installedKiB}
Depends: nodejs (>= ${minNode})
Recommends: keepalived, iputils-arping
Suggests: mariadb-client
Section: admin
Priority: optional
Description: hot-standby pair of keepalived servers, with MariaDB failover
 hactl turns two keepalived servers into a hot-standby pair that fails over
 on its own, loses no data and never has two writable databases: it renders
 keepalived.conf for both nodes from one YAML spec, lints it, runs the health
 checks keepalived calls, promotes and demotes MariaDB/MySQL on transitions,
 and runs a per-node agent (hactl-agent.service).
 .
 The example spec is in /etc/hactl/hactl.yaml; see hactl(1).
`,
  );
  for (const path of [dir, ...dirsBelow(dir)]) {
    if (!path.endsWith('var/lib/hactl')) chmodSync(path, 0o755);
  }

  const out = join(root, 'dist-deb');
  mkdirSync(out, { recursive: true });
  const deb = join(out, `hactl_${version}_all.deb`);
  // gzip: every dpkg reads it, and it builds and unpacks in a fraction of xz's time (2 MB, not 1.3).
  run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', dir, deb], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.stdout.write(`built ${relative(root, deb)} (${Math.round(statSync(deb).size / 1024)} KiB)\n`);

  if (process.argv.includes('--no-lintian')) return;
  const lintian = spawnSync('lintian', ['--display-info', '--fail-on', 'error,warning', deb], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (lintian.error && lintian.error.code === 'ENOENT') {
    process.stdout.write('lintian is not installed: not checked (apt-get install lintian)\n');
    return;
  }
  process.stdout.write(lintian.stdout + lintian.stderr);
  if (lintian.status !== 0) throw new Error(`lintian ${deb} exited ${lintian.status}`);
  process.stdout.write('lintian: clean\n');
}

/**
 * No module of the bundle may need a package from node_modules: every require/import names a Node
 * built-in or a file of the bundle. Otherwise it would fail on the server only when that code runs.
 */
function assertSelfContained(dist) {
  // mysql2 requires cardinal (debug output colouring) inside a try, and does without it.
  const optional = new Set(['cardinal']);
  const bare = new Set();
  for (const file of filesBelow(dist).filter((name) => /\.c?js$/.test(name))) {
    const text = readFileSync(join(dist, file), 'utf8');
    for (const match of text.matchAll(
      /(?:\brequire\(|\bimport\()"([@\w.][\w./@-]*)"\)|\bfrom ?"([@\w.][\w./@-]*)";?$/gm,
    )) {
      const name = match[1] ?? match[2];
      if (name.startsWith('.') || name.startsWith('node:') || builtinModules.includes(name)) continue;
      if (!optional.has(name)) bare.add(`${file}: ${name}`);
    }
  }
  if (bare.size > 0) {
    throw new Error(`the bundle still needs node_modules:\n  ${[...bare].join('\n  ')}`);
  }
}

function dirsBelow(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() && !lstatSync(path).isSymbolicLink() ? [path, ...dirsBelow(path)] : [];
  });
}

/** Who the package names as its maintainer: DEBFULLNAME/DEBEMAIL as dch reads them. */
function maintainer() {
  return `${process.env.DEBFULLNAME || 'hactl maintainers'} <${process.env.DEBEMAIL || 'hactl@example.org'}>`;
}

/** The latest commit's time (reproducible builds), else now. */
function releaseEpoch() {
  const commit = spawnSync('git', ['log', '-1', '--format=%ct'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 10_000,
  });
  return (
    Number(process.env.SOURCE_DATE_EPOCH) || Number(commit.stdout?.trim()) || Math.floor(Date.now() / 1000)
  );
}

/** RFC 2822 date for the changelog trailer. */
function debianDate() {
  return new Date(releaseEpoch() * 1000)
    .toUTCString()
    .replace(/^(\w+), (\d+) (\w+) (\d+) ([\d:]+) GMT$/, '$1, $2 $3 $4 $5 +0000');
}
