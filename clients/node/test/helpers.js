'use strict';

// What the tests start, each on free 127.0.0.1 ports, and stop after them:
// a retryd sidecar ($RETRYD_BIN, default the repository's
// target/debug/retryd), a redis-server from PATH, a RabbitMQ broker of its
// own (Debian's rabbitmq-server), a black hole (a TCP server that never
// answers) and an HTTP server answering any status.

const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { execFile, spawn } = require('child_process');

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
async function startProcess(what, cmd, args, logFile, ready, timeoutMs = 30000, env = process.env) {
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], env });
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
function retrydBin() {
  const bin = process.env.RETRYD_BIN || path.join(ROOT, 'target', 'debug', 'retryd');
  if (!fs.existsSync(bin)) throw new Error(`no retryd binary at ${bin}: run \`cargo build\` or set RETRYD_BIN`);
  return bin;
}

async function startRetryd(address, config = CONFIG) {
  const bin = retrydBin();
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

// Delivery: a constant 300 ms backoff, 4 attempts, and a job dead after 2
// hand-outs in a row whose leases ran out unsettled.
const DELIVERY_CONFIG = `
[policies.default]
max_attempts = 4
backoff = { kind = "constant", delay = "300ms" }

[delivery]
max_deliveries = 2
`;
const DELIVERY_DELAY_MS = 300;
const MAX_DELIVERIES = 2;

/**
 * The sidecar(s) the delivery tests run against, the one place that makes
 * them: `{ address, addresses, restart(), stop() }`. Now one sidecar with the
 * memory backend; a fleet variant (sidecars on a Redis Cluster, `addresses`
 * all of them) changes only this function.
 */
async function startDeliverySidecars(config = DELIVERY_CONFIG) {
  if (process.env.RETRYD_DELIVERY_FLEET) return startDeliveryFleet(config);
  let sidecar = await startRetryd(undefined, config);
  const { address } = sidecar;
  return {
    address,
    addresses: [address],
    /** Stops the sidecar and starts it again on the same address (its memory state is lost). */
    async restart() {
      await sidecar.stop();
      sidecar = await startRetryd(address, config);
    },
    stop: () => sidecar.stop(),
  };
}

/** A free port a Redis Cluster node can take (its bus port, +10000, too). */
async function clusterPort() {
  for (;;) {
    const port = await freePort();
    if (port > 55535) continue;
    const free = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port + 10000, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** A Redis Cluster of 3 primaries and 3 replicas; `{ urls, stop }`. */
async function startRedisCluster() {
  const dir = tmpDir('retryd-node-cluster-');
  const ports = [];
  for (let i = 0; i < 6; i += 1) ports.push(await clusterPort());
  const nodes = [];
  try {
    for (const port of ports) {
      const d = path.join(dir, String(port));
      fs.mkdirSync(d);
      nodes.push(await startProcess(
        'redis-server', 'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
          '--cluster-enabled', 'yes', '--cluster-config-file', path.join(d, 'nodes.conf'),
          '--cluster-node-timeout', '2000', '--dir', d],
        path.join(d, 'redis.log'),
        () => ping(port),
      ));
    }
    await new Promise((resolve, reject) => execFile('redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { timeout: 60000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))));
    const deadline = Date.now() + 30000;
    for (;;) {
      const info = await new Promise((resolve) => execFile('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'],
        (err, out) => resolve(err ? '' : out)));
      if (info.includes('cluster_state:ok')) break;
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not come up');
      await sleep(100);
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw e;
  }
  return {
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    stop: async () => { await Promise.all(nodes.map((n) => n.stop())); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A TCP proxy handing each new connection to the next of `backends` in turn. */
async function roundRobin(backends) {
  let turn = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const [host, port] = backends[turn % backends.length].split(':');
    turn += 1;
    const up = net.connect(Number(port), host);
    for (const s of [client, up]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); up.destroy(); });
    }
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

/** Delivery's sidecars in fleet mode (RETRYD_DELIVERY_FLEET): three on a
 * Redis Cluster behind a round-robin proxy, so that each client of a test
 * reaches another sidecar. `restart()` restarts every sidecar on its
 * address (the fleet's state, in Redis, stays). */
async function startDeliveryFleet(config) {
  const cluster = await startRedisCluster();
  const fleet = `${config}
[state]
backend = "redis"
[state.redis]
cluster_nodes = [${cluster.urls.map((u) => `"${u}"`).join(', ')}]
key_prefix = "node${process.pid}${uniqueId('')}"
timeout = "2s"
`;
  let sidecars = [];
  try {
    for (let i = 0; i < 3; i += 1) sidecars.push(await startRetryd(undefined, fleet));
  } catch (e) {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stop();
    throw e;
  }
  const addresses = sidecars.map((s) => s.address);
  const proxy = await roundRobin(addresses);
  return {
    address: proxy.address,
    addresses,
    async restart() {
      await Promise.all(sidecars.map((s) => s.stop()));
      sidecars = [];
      for (const a of addresses) sidecars.push(await startRetryd(a, fleet));
    },
    async stop() {
      await proxy.close();
      await Promise.all(sidecars.map((s) => s.stop()));
      await cluster.stop();
    },
  };
}

/** Runs the retryd CLI (`$RETRYD_BIN args...`); resolves to its stdout. */
function retrydCli(cliArgs) {
  return new Promise((resolve, reject) => {
    execFile(retrydBin(), cliArgs, { timeout: 20000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`retryd ${cliArgs.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// Debian's /usr/sbin/rabbitmq-server runs the broker as the rabbitmq user in
// /var/lib/rabbitmq; the script behind it runs it as we are, where we say.
/** epmd: on PATH, else beside RabbitMQ's Erlang. */
function epmdBin() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const c = path.join(dir, 'epmd');
    if (dir && fs.existsSync(c)) return c;
  }
  const erlang = '/usr/lib/erlang';
  const erts = fs.existsSync(erlang) ? fs.readdirSync(erlang).filter((d) => d.startsWith('erts-')).sort() : [];
  if (erts.length) return path.join(erlang, erts[erts.length - 1], 'bin', 'epmd');
  throw new Error("no epmd (Erlang's port mapper) next to RabbitMQ's Erlang");
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

function rabbitmqServer() {
  const candidates = [process.env.RABBITMQ_SERVER, '/usr/lib/rabbitmq/bin/rabbitmq-server'].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const c = path.join(dir, 'rabbitmq-server');
    if (dir && fs.existsSync(c)) return c;
  }
  throw new Error('rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server)');
}

function amqpReady(url) {
  const amqplib = require('amqplib');
  return amqplib.connect(url).then((c) => c.close().then(() => true), () => false);
}

/**
 * A RabbitMQ broker of our own: its node name, AMQP, distribution and epmd
 * ports unique, its data and logs in a temporary folder, no plugins;
 * `{ url, port, stop }`. stop() stops the broker and the epmd it started.
 */
async function startRabbitMQ() {
  // A port picked free can be taken before the broker binds it (another
  // test's listener, on a busy machine): such a boot is tried again on
  // fresh ports.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startRabbitMQOnce();
    } catch (e) {
      const taken = /could not bind|already_used|eaddrinuse/i.test(String(e && e.message));
      if (!taken || attempt >= 3) throw e;
    }
  }
}

async function startRabbitMQOnce() {
  const server = rabbitmqServer();
  const dir = tmpDir('retryd-node-rabbitmq-');
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  const env = {
    ...process.env,
    HOME: dir, // its Erlang cookie
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_NODENAME: `retryd-node-${process.pid}-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
    RABBITMQ_LOGS: '-', // to the log file below
    ERL_CRASH_DUMP: path.join(dir, 'erl_crash.dump'), // not in the working directory
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  // Erlang's port mapper, ours, in the foreground and listening before the
  // broker starts: left to the broker, \`epmd -daemon\` races its first
  // registration on a busy machine (\`register/listen error: epmd_close\`).
  let epmd = null;
  const killEpmd = async () => {
    if (epmd) await epmd.stop();
    epmd = null;
  };
  let started;
  try {
    epmd = await startProcess('epmd', epmdBin(), ['-port', String(epmdPort)], path.join(dir, 'epmd.log'),
      () => listening(epmdPort), 30000, env);
    started = await startProcess('rabbitmq-server', server, [], path.join(dir, 'rabbitmq.log'), () => amqpReady(url), 90000, env);
  } catch (e) {
    await killEpmd();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    port,
    stop: async () => {
      // The script stops the Erlang VM on SIGTERM and waits for it.
      await started.stop();
      await killEpmd();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check()` until it returns a truthy value; fails after `timeoutMs` saying `what`. */
async function eventually(what, check, timeoutMs = 10000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs}ms: ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

/**
 * The ```js blocks of this package's README.md under the heading `title`
 * (a `## ` or `### ` line), up to the next heading of that level or higher.
 */
function readmeSnippets(title) {
  const text = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^#{2,3} /.test(l) && l.replace(/^#+ /, '') === title);
  if (at < 0) throw new Error(`README.md has no heading "${title}"`);
  const level = lines[at].match(/^#+/)[0].length;
  const out = [];
  let block = null;
  for (const l of lines.slice(at + 1)) {
    if (block === null && new RegExp(`^#{1,${level}} `).test(l)) break;
    if (block === null && l === '```js') block = [];
    else if (block !== null && l === '```') { out.push(block.join('\n')); block = null; } else if (block !== null) block.push(l);
  }
  return out;
}

/**
 * Runs `code` as an application's file would run: in a folder of its own
 * whose node_modules has `retryd` (this package) and amqplib. Resolves at
 * once to `{ lines, waitFor(re, ms), stop() }`; stop() sends SIGTERM and
 * resolves to the exit code.
 */
function runSnippet(code, env) {
  const dir = tmpDir('retryd-snippet-');
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  const pkg = path.resolve(__dirname, '..');
  fs.symlinkSync(pkg, path.join(modules, 'retryd'), 'dir');
  fs.symlinkSync(path.join(pkg, 'node_modules', 'amqplib'), path.join(modules, 'amqplib'), 'dir');
  const file = path.join(dir, 'app.js');
  fs.writeFileSync(file, code);
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    lines.push(...parts);
  });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code === null ? signal : code)));
  return {
    lines,
    async waitFor(re, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      while (!lines.some((l) => re.test(l))) {
        if (child.exitCode !== null) throw new Error(`the snippet exited (${child.exitCode}): ${lines.join('\n')}\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`no line ${re} within ${timeoutMs} ms: ${lines.join('\n')}\n${stderr}`);
        await sleep(25);
      }
    },
    async stop(timeoutMs = 10000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`the snippet exited with ${code} after SIGTERM:\n${lines.join('\n')}\n${stderr}`);
      return code;
    },
  };
}

/**
 * An HTTP server that answers each path's requests with the next status of
 * `script[path]` (the last one repeating); `{ url, requests, close }`.
 */
async function scriptedServer(script) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const statuses = script[url.pathname] || [404];
      const n = requests.filter((r) => r.path === url.pathname).length;
      requests.push({ method: req.method, path: url.pathname, body });
      res.writeHead(statuses[Math.min(n, statuses.length - 1)], { 'content-length': '0' });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

let n = 0;
function uniqueId(prefix = 'job') {
  n += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${n}`;
}

module.exports = {
  CONFIG, DELAY_MS, DELIVERY_CONFIG, DELIVERY_DELAY_MS, MAX_ATTEMPTS, MAX_DELIVERIES, ROOT,
  blackHole, eventually, freePort, httpServer, readmeSnippets, retrydBin, retrydCli, runSnippet, scriptedServer, sleep,
  startDeliverySidecars, startRabbitMQ, startRedis, startRetryd, uniqueId,
};
