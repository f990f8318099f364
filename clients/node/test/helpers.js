'use strict';

// What the tests start, each on free 127.0.0.1 ports, and stop after them:
// a retryd sidecar ($RETRYD_BIN, default the repository's
// target/debug/retryd), a redis-server from PATH, a black hole (a TCP server
// that never answers) and an HTTP server answering any status.

const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..', '..');

// Small delays so that the tests are fast: 4 attempts, 100 ms apart.
const CONFIG = `
[policies.default]
max_attempts = 4
backoff = { kind = "constant", delay = "100ms" }
`;
const MAX_ATTEMPTS = 4;
const DELAY_MS = 100;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts `cmd args`, its output to a log file; resolves once `ready()` says so. */
async function startProcess(what, cmd, args, logFile, ready, timeoutMs = 30000) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const spawnError = new Promise((_, reject) => child.on('error', reject));
  const stop = async () => {
    if (exited) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    await gone;
    clearTimeout(t);
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      await Promise.race([sleep(50), spawnError]);
      if (exited) {
        throw new Error(`${what} exited (${JSON.stringify(exited)}):\n${fs.readFileSync(logFile, 'utf8')}`);
      }
      if (await ready()) return { child, stop };
      if (Date.now() > deadline) {
        throw new Error(`${what} not ready after ${timeoutMs}ms:\n${fs.readFileSync(logFile, 'utf8')}`);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
}

function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A retryd sidecar with CONFIG (or `config`; '' for the built-in policies);
 * `{ address, stop }`. `address` may be given (a restart).
 */
async function startRetryd(address, config = CONFIG) {
  const bin = process.env.RETRYD_BIN || path.join(ROOT, 'target', 'debug', 'retryd');
  if (!fs.existsSync(bin)) throw new Error(`no retryd binary at ${bin}: run \`cargo build\` or set RETRYD_BIN`);
  const dir = tmpDir('retryd-node-');
  const file = path.join(dir, 'retryd.toml');
  fs.writeFileSync(file, config);
  const log = path.join(dir, 'retryd.log');
  const addr = address || `127.0.0.1:${await freePort()}`;
  const metrics = `127.0.0.1:${await freePort()}`;
  const { stop } = await startProcess(
    'retryd', bin, ['--grpc-addr', addr, '--metrics-addr', metrics, '--config', file], log,
    async () => fs.readFileSync(log, 'utf8').includes('retryd serving'),
  );
  return { address: addr, stop: async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(1000);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
    s.on('error', () => resolve(false));
    s.on('timeout', () => { s.destroy(); resolve(false); });
  });
}

/** A redis-server of our own, no persistence; `{ port, stop }`. */
async function startRedis() {
  const dir = tmpDir('retryd-node-redis-');
  const port = await freePort();
  const { stop } = await startProcess(
    'redis-server', 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    path.join(dir, 'redis.log'),
    () => ping(port),
  );
  return { port, stop: async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** A TCP server that accepts connections and never answers: a hung sidecar. */
async function blackHole() {
  const sockets = new Set();
  const server = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

/** GET /STATUS?retry_after=VALUE answers STATUS with that Retry-After. */
async function httpServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const status = Number(url.pathname.slice(1)) || 200;
    const headers = { 'content-length': '0' };
    if (url.searchParams.has('retry_after')) headers['retry-after'] = url.searchParams.get('retry_after');
    res.writeHead(status, headers);
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

let n = 0;
function uniqueId(prefix = 'job') {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${n}`;
}

module.exports = {
  CONFIG, DELAY_MS, MAX_ATTEMPTS, ROOT,
  blackHole, freePort, httpServer, sleep, startRedis, startRetryd, uniqueId,
};
