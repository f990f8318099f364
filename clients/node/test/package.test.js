'use strict';

// The package as published: its proto is the repository's, `npm pack` ships
// what `require` needs, and its type definitions compile against BullMQ's.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { ROOT } = require('./helpers');

const PKG = path.resolve(__dirname, '..');

test('the shipped proto is proto/retryd/v1/retryd.proto', () => {
  const shipped = fs.readFileSync(path.join(PKG, 'proto/retryd/v1/retryd.proto'), 'utf8');
  const source = fs.readFileSync(path.join(ROOT, 'proto/retryd/v1/retryd.proto'), 'utf8');
  assert.ok(shipped === source, 'clients/node/proto/retryd/v1/retryd.proto differs from proto/: copy it over');
});

test('npm pack ships the code, the types and the proto', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PKG, encoding: 'utf8' });
  const files = JSON.parse(out)[0].files.map((f) => f.path).sort();
  for (const f of [
    'README.md', 'amqplib.d.ts', 'amqplib.js', 'bullmq.d.ts', 'bullmq.js', 'index.d.ts', 'index.js', 'lib/args.js',
    'lib/errors.js', 'lib/fallback.js', 'lib/worker.js',
    'package.json', 'proto/retryd/v1/retryd.proto',
  ]) {
    assert.ok(files.includes(f), `${f} is not packed: ${files.join(', ')}`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), files.join(', '));
});

test('the type definitions compile (strict) with usage as documented', () => {
  const tsc = path.join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout}${e.stderr}`);
  }
});

test('npm install --install-links: an application elsewhere gets a working client', () => {
  const app = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'retryd-app-'));
  try {
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--install-links', '--prefer-offline', '--no-audit', '--no-fund', PKG], {
      cwd: app, encoding: 'utf8', timeout: 120000, stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.ok(!fs.lstatSync(path.join(app, 'node_modules', 'retryd')).isSymbolicLink());
    const out = execFileSync(process.execPath, ['-e', `
      const { Client, Unavailable } = require('retryd');
      require('retryd/bullmq');
      require('retryd/amqplib');
      const c = new Client({ address: '127.0.0.1:1', timeoutMs: 500 });
      c.reportFailure('j', new Error('x')).then(() => process.exit(1), (e) => {
        c.close();
        console.log(e instanceof Unavailable ? 'unavailable' : String(e));
      });
    `], { cwd: app, encoding: 'utf8', timeout: 30000 });
    assert.equal(out.trim(), 'unavailable');
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
});

test('npm pack, then npm install of the tarball: a copy that later npm installs keep', () => {
  // The README's way in from an application elsewhere: the packed tarball
  // is what the application's package.json names, so a later install of
  // another package (and a plain \`npm install\`) reinstalls the same copy.
  const app = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'retryd-packed-'));
  const npm = (...a) => execFileSync('npm', [...a, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: app, encoding: 'utf8', timeout: 120000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const tgz = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', PKG], { cwd: app, encoding: 'utf8' }))[0].filename;
    const version = require(path.join(PKG, 'package.json')).version;
    assert.equal(tgz, `retryd-${version}.tgz`);
    npm('install', `./${tgz}`);
    // Another package, installed afterwards (a local one: no registry needed).
    const other = path.join(app, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0', main: 'index.js' }));
    fs.writeFileSync(path.join(other, 'index.js'), "module.exports = 'other';\n");
    const otherTgz = JSON.parse(execFileSync('npm', ['pack', '--json', other], { cwd: app, encoding: 'utf8' }))[0].filename;
    npm('install', `./${otherTgz}`);
    npm('install');
    const deps = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).dependencies;
    assert.equal(deps.retryd, `file:${tgz}`);
    assert.ok(!fs.lstatSync(path.join(app, 'node_modules', 'retryd')).isSymbolicLink());
    assert.ok(fs.existsSync(path.join(app, 'node_modules', '@grpc', 'grpc-js')), 'its dependencies are installed');
    const out = execFileSync(process.execPath, ['-e', `
      const { Client, Unavailable } = require('retryd');
      require('retryd/bullmq');
      const c = new Client({ address: '127.0.0.1:1', timeoutMs: 500 });
      c.reportFailure('j', new Error('x')).then(() => process.exit(1), (e) => {
        c.close();
        console.log(require('other'), e instanceof Unavailable ? 'unavailable' : String(e));
      });
    `], { cwd: app, encoding: 'utf8', timeout: 30000 });
    assert.equal(out.trim(), 'other unavailable');
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
});

test('a bare link without dependencies says how to install', () => {
  // What `npm install <folder outside the project>` leaves: the package's
  // files and no node_modules.
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'retryd-link-'));
  try {
    for (const f of ['index.js', 'lib', 'proto', 'package.json']) fs.cpSync(path.join(PKG, f), path.join(dir, f), { recursive: true });
    let err = '';
    try {
      execFileSync(process.execPath, ['-e', "require('./index.js')"], { cwd: dir, encoding: 'utf8', stdio: 'pipe', timeout: 30000 });
    } catch (e) {
      err = e.stderr;
    }
    assert.match(err, /retryd cannot find @grpc\/grpc-js: .*npm pack <path to clients\/node>.*npm install \.\/retryd-<version>\.tgz/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
