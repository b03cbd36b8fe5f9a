// Shared helpers of the end-to-end tests: start and stop the server binary,
// raw WebSocket clients with message queues, HTTP requests, bounded waits.
//
// The server binary comes from LOCKTOPUS_BIN (CTest sets it), else the release
// build of this tree. SERVER_ADDRESS=host:port runs the tests against a
// server someone else started (directly, or through a proxy): startServer()
// without options then returns a handle to it, and a test that needs a
// server of its own (flags, environment, signals, its log or process) is
// skipped, saying why. Every wait is bounded; LOCKTOPUS_E2E_TIMEOUT_SCALE
// multiplies the bounds of waits that are expected to succeed (sanitizer
// builds are many times slower). Windows that prove something did NOT happen
// are short and fixed: a slow server only makes those checks easier to pass.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export { WebSocket };

const here = path.dirname(fileURLToPath(import.meta.url));

export const SCALE = Number(process.env.LOCKTOPUS_E2E_TIMEOUT_SCALE || 1);
/** Bound of a wait for something that must happen (normally takes ms). */
export const TIMEOUT = Math.round(10_000 * SCALE);
/** Window in which something must NOT happen. */
export const QUIET = 250;
/** Bound of one whole test. */
export const TEST_TIMEOUT = Math.round(60_000 * SCALE);

export function serverBinary() {
  const bin = process.env.LOCKTOPUS_BIN ||
    path.resolve(here, '../../../build/release/bin/locktopus');
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (set LOCKTOPUS_BIN)`);
  }
  return bin;
}

/**
 * The sanitizers the server binary was built with (LOCKTOPUS_E2E_SANITIZE,
 * set by CTest from LOCKTOPUS_SANITIZE, e.g. "address,undefined"); empty
 * for a plain build.
 */
export const SANITIZERS = (process.env.LOCKTOPUS_E2E_SANITIZE || '').split(',').filter(Boolean);

// ---------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the promise's value, rejects if it takes longer than ms. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls fn (may be async) until it returns a truthy value; returns that value. */
export async function waitFor(fn, what, { timeout = TIMEOUT, interval = 20 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

// The process ID alone repeats across runs, and a server at SERVER_ADDRESS
// keeps the namespaces of earlier runs.
const runId = `${process.pid}.${crypto.randomBytes(3).toString('hex')}`;
let nsCounter = 0;
/** A namespace name no other test (of this run or an earlier one) uses. */
export function uniqueNs(prefix = 'ns') {
  nsCounter += 1;
  return `${prefix}-${runId}-${nsCounter}`;
}

/** Resource shorthands: w('a', 'b') is a write lock on the path ["a","b"]. */
export const w = (...p) => ({ type: 'write', path: p });
export const r = (...p) => ({ type: 'read', path: p });

/** The answers the server sends, exactly. */
export const enqueued = (id) => ({ id: String(id), action: 'lock', state: 'enqueued' });
export const acquired = (id) => ({ id: String(id), action: 'lock', state: 'acquired' });
export const ready = (id) => ({ id: String(id), action: 'release', state: 'ready' });

/** A port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// A server someone else started

/** host:port of the server under test when someone else started it, else ''. */
export const SERVER_ADDRESS = process.env.SERVER_ADDRESS || '';

function parseAddress(text) {
  const m = /^(.+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`SERVER_ADDRESS=${text}: expected host:port`);
  }
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}
const remoteAddress = SERVER_ADDRESS ? parseAddress(SERVER_ADDRESS) : undefined;

/**
 * Thrown by what a test cannot do to a server at SERVER_ADDRESS; test()
 * reports the test as skipped with its message.
 */
export class SkipTest extends Error {}

/**
 * For a test's or describe's `skip` option: false normally; with
 * SERVER_ADDRESS set, the reason the test needs a server of its own
 * (`why`, e.g. 'signals the server').
 */
export function needsOwnServer(why) {
  return remoteAddress ? `needs a server of its own (${why}); SERVER_ADDRESS is set` : false;
}

function skipOnRemote(why) {
  const reason = needsOwnServer(why);
  if (reason) throw new SkipTest(reason);
}

// ---------------------------------------------------------------------------
// Server processes

const allServers = [];

process.on('exit', () => {
  for (const s of allServers) s.kill();
});

/** The environment without the caller's LOCKTOPUS_* settings, plus env. */
function serverEnv(env) {
  const clean = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LOCKTOPUS_')) clean[k] = v;
  }
  return { ...clean, ...env };
}

/** Where a server (or a proxy in front of servers) listens, and the requests every test makes of it. */
export class ServerAddress {
  constructor(host, port) {
    this.host = host;
    this.port = port;
  }

  get base() {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The lock protocol URL of a namespace; params are appended as given (not encoded). */
  wsUrl(ns, params = '') {
    return `ws://${this.base}/v1?namespace=${encodeURIComponent(ns)}${params ? `&${params}` : ''}`;
  }

  /** Opens a raw protocol connection; resolves once it is open. */
  connect(ns, params = '') {
    return Client.open(this.wsUrl(ns, params));
  }

  /** Opens n connections one after another. */
  async connectMany(ns, n, params = '') {
    const clients = [];
    for (let i = 0; i < n; i += 1) clients.push(await this.connect(ns, params));
    return clients;
  }

  get(pathAndQuery, headers = {}) {
    return httpGet(this.host, this.port, pathAndQuery, headers);
  }

  /** The statistics of a namespace, asserting they are served. */
  async stats(ns) {
    const res = await this.get(`/stats_v1?namespace=${encodeURIComponent(ns)}`);
    assert.equal(res.status, 200, `stats of ${ns}: ${res.status} ${res.body}`);
    return JSON.parse(res.body);
  }
}

/**
 * The server at SERVER_ADDRESS: requests only. Whatever needs the process
 * (signals, its log) skips the test instead.
 */
class RemoteServer extends ServerAddress {
  constructor({ host, port }) {
    super(host, port);
    this.argv = [`(SERVER_ADDRESS=${SERVER_ADDRESS})`];
  }

  get proc() { return skipOnRemote('uses the server process'); }

  get output() { return skipOnRemote("reads the server's log"); }

  get stderr() { return skipOnRemote("reads the server's log"); }

  waitForStderr() { return skipOnRemote("reads the server's log"); }

  waitExit() { return skipOnRemote('waits for the server to exit'); }

  signal() { skipOnRemote('signals the server'); }

  kill() {} // not ours

  tail() { return '(started by someone else: no log here)'; }
}

export class Server extends ServerAddress {
  constructor(proc, argv) {
    super('127.0.0.1', undefined);
    this.proc = proc;
    this.argv = argv;
    this.output = '';
    this.stderr = '';
    this.exitStatus = undefined;
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
    this.logWaiters = new Set();
    const onData = (stream) => (chunk) => {
      const text = chunk.toString();
      this.output += text;
      if (stream === 'stderr') this.stderr += text;
      for (const waiter of this.logWaiters) waiter();
    };
    proc.stdout.on('data', onData('stdout'));
    proc.stderr.on('data', onData('stderr'));
  }

  /** Waits until the server's stderr matches re; returns the match. */
  waitForStderr(re, timeout = TIMEOUT) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this.stderr.match(re);
        if (m) {
          done();
          resolve(m);
        } else if (this.exitStatus) {
          done();
          reject(new Error(`server exited (${JSON.stringify(this.exitStatus)}) before stderr matched ${re}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for stderr to match ${re}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.logWaiters.delete(check);
      };
      this.logWaiters.add(check);
      this.exited.then(() => check());
      check();
    });
  }

  /** Waits for the process to exit; returns {code, signal}. */
  waitExit(timeout = TIMEOUT) {
    return withTimeout(this.exited, timeout, 'the server to exit');
  }

  signal(sig) {
    this.proc.kill(sig);
  }

  kill() {
    if (!this.exitStatus && this.proc.exitCode === null && this.proc.signalCode === null) {
      try {
        this.proc.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /**
   * The server's output for failure messages: its end, and a sanitizer
   * report from its first line on when there is one.
   */
  tail(chars = 6000) {
    const out = this.output;
    const end = out.length > chars ? `...${out.slice(-chars)}` : out;
    const report = out.search(SANITIZER_REPORT);
    if (report < 0 || report >= out.length - chars) return end;
    const start = out.lastIndexOf('\n', report) + 1;
    return `${out.slice(start, start + chars)}\n...\n${end}`;
  }
}

/**
 * The port file a caller named, with `--port-file FILE`, `--port-file=FILE`
 * or LOCKTOPUS_PORT_FILE (the flag wins, as in the server); else undefined.
 */
function namedPortFile(argv, env) {
  for (let i = argv.length - 1; i >= 0; i -= 1) {
    if (argv[i] === '--port-file') return argv[i + 1];
    if (argv[i].startsWith('--port-file=')) return argv[i].slice('--port-file='.length);
  }
  return env.LOCKTOPUS_PORT_FILE;
}

/**
 * Waits until `file` holds the port the server listens on; returns it. Fails
 * once the server has exited or after `timeout` ms. The server writes the
 * file whole (a scratch file, then renamed), so a file that exists is
 * complete.
 */
async function readPortFile(server, file, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      if (!/^\d+\n$/.test(text)) throw new Error(`port file ${file} holds ${JSON.stringify(text)}, not a port`);
      return Number(text);
    }
    if (server.exitStatus) throw new Error(`server exited (${JSON.stringify(server.exitStatus)}) before writing ${file}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for the port file ${file}`);
    await Promise.race([sleep(10), server.exited]);
  }
}

/**
 * Starts the server on 127.0.0.1 and a port it chooses, with extra flags;
 * resolves once it listens, with `port` read from its port file: the one the
 * caller names (`--port-file` in args, or LOCKTOPUS_PORT_FILE in env), which
 * must not exist yet and is left in place; else a fresh temporary one passed
 * with `--port-file` and removed once read.
 * `env` adds environment variables (LOCKTOPUS_* from the caller's environment
 * never leak in). `hostPort: false` leaves out `-H 127.0.0.1 -p 0`.
 * `maxOpenFiles` starts it under `ulimit -n` (through bash, which execs it:
 * the process ID stays the server's).
 * With SERVER_ADDRESS set, returns a handle to that server when no option
 * is given, and skips the test otherwise.
 */
export async function startServer(options = {}) {
  if (remoteAddress) {
    const own = ownServerReason(options);
    if (own) skipOnRemote(own);
    return new RemoteServer(remoteAddress);
  }
  return spawnServer(options);
}

/** What in startServer's options only a server of the test's own can honour; '' if nothing. */
function ownServerReason({ args = [], env = {}, hostPort = true, maxOpenFiles } = {}) {
  const wants = [];
  if (args.length) wants.push(`flags ${args.join(' ')}`);
  if (Object.keys(env).length) wants.push(`environment ${Object.keys(env).join(' ')}`);
  if (!hostPort) wants.push('its own address');
  if (maxOpenFiles !== undefined) wants.push(`ulimit -n ${maxOpenFiles}`);
  return wants.join(', ');
}

async function spawnServer({ args = [], env = {}, hostPort = true, maxOpenFiles } = {}) {
  let portFile = namedPortFile(args, env);
  let portDir;
  if (portFile === undefined) {
    portDir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-e2e-'));
    portFile = path.join(portDir, 'port');
  }
  const argv = [
    ...(hostPort ? ['-H', '127.0.0.1', '-p', '0'] : []),
    ...(portDir ? ['--port-file', portFile] : []),
    ...args,
  ];
  const [file, fileArgs] = maxOpenFiles === undefined
    ? [serverBinary(), argv]
    : ['bash', ['-c', `ulimit -n ${Number(maxOpenFiles)} && exec "$0" "$@"`, serverBinary(), ...argv]];
  const proc = spawn(file, fileArgs, {
    env: serverEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = new Server(proc, argv);
  allServers.push(server);
  proc.on('error', () => {}); // reported through the failed wait below
  try {
    server.port = await readPortFile(server, portFile);
  } catch (err) {
    server.kill();
    throw new Error(`server ${argv.join(' ')} did not start: ${err.message}\n--- server output ---\n${server.tail()}`);
  } finally {
    if (portDir) fs.rmSync(portDir, { recursive: true, force: true });
  }
  return server;
}

/**
 * Runs the binary to completion (for CLI checks); resolves {code, signal,
 * stdout, stderr}. With SERVER_ADDRESS set, skips the test: it checks the
 * binary here, not the server there.
 */
export function runServerCli(args, { env = {}, timeout = TIMEOUT } = {}) {
  skipOnRemote('runs the server binary');
  return new Promise((resolve, reject) => {
    const proc = spawn(serverBinary(), args, { env: serverEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => { stdout += c; });
    proc.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not exit within ${timeout} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeout);
    proc.on('error', (err) => { clearTimeout(timer); reject(err); });
    // 'close', not 'exit': it comes once stdout and stderr are drained too
    // (after 'exit' and one turn of the loop, a busy machine still lost
    // output).
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Starts a server for the tests of one describe block (before/after hooks);
 * returns a holder whose `server` is set once started. With SERVER_ADDRESS
 * set and options only a server of its own can honour, none is started and
 * each test that asks the holder for it is skipped.
 */
export function sharedServer(hooks, options = {}) {
  const own = remoteAddress ? ownServerReason(options) : '';
  let server;
  const holder = {
    get server() {
      if (own) skipOnRemote(own);
      return server;
    },
  };
  hooks.before(async () => {
    if (!own) server = await startServer(options);
  });
  hooks.after(() => {
    server?.kill();
    if (server instanceof Server) assertNoSanitizerReport(server);
  });
  return holder;
}

const SANITIZER_REPORT = /==\d+==ERROR: |WARNING: ThreadSanitizer|runtime error: |LeakSanitizer/;

/**
 * Fails if the server's output (from offset `from` on) holds a sanitizer
 * report: under ASan/TSan builds a test must not pass while the server
 * reports an error it survived or that the final SIGKILL would hide.
 */
export function assertNoSanitizerReport(server, from = 0) {
  const out = server.output.slice(from);
  const at = out.search(SANITIZER_REPORT);
  if (at >= 0) {
    const start = out.lastIndexOf('\n', at) + 1;
    assert.fail(`server ${server.argv.join(' ')} reported a sanitizer error:\n${out.slice(start, start + 8000)}`);
  }
}

/**
 * node:test's test(), with a time bound; when the test fails, the output of
 * the servers it could have used is appended to the error; a sanitizer report
 * of such a server during the test fails it. Servers the test started are
 * killed and its raw clients dropped when it ends.
 */
export function test(name, options, fn) {
  if (typeof options === 'function') {
    fn = options;
    options = {};
  }
  return nodeTest(name, { timeout: TEST_TIMEOUT, ...options }, async (t) => {
    const first = allServers.length;
    const aliveBefore = allServers.filter((s) => !s.exitStatus).map((s) => [s, s.output.length]);
    const relevant = () => [...aliveBefore, ...allServers.slice(first).map((s) => [s, 0])];
    try {
      await fn(t);
      for (const [s, from] of relevant()) assertNoSanitizerReport(s, from);
    } catch (err) {
      if (err instanceof SkipTest) {
        t.skip(err.message);
        return;
      }
      const logs = relevant().map(([s]) => `--- server ${s.argv.join(' ')} (port ${s.port}) output ---\n${s.tail()}`);
      if (logs.length && err && typeof err === 'object') {
        try {
          err.message = `${err.message}\n${logs.join('\n')}`;
        } catch {
          // message not writable: keep the original error
        }
      }
      throw err;
    } finally {
      for (const s of allServers.slice(first)) s.kill();
      for (const c of openClients) c.terminate();
      openClients.clear();
    }
  });
}

// ---------------------------------------------------------------------------
// Raw protocol clients

const openClients = new Set();

export class Client {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.queue = [];
    this.received = []; // everything ever received, for failure messages
    this.waiters = new Set();
    this.closeInfo = undefined;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        openClients.delete(this);
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('message', (data, isBinary) => {
      const msg = { text: data.toString(), isBinary };
      this.queue.push(msg);
      this.received.push(msg.text);
      this.wake();
    });
    ws.on('error', () => {}); // a close follows
    openClients.add(this);
  }

  /** `options` go to the `ws` constructor (headers, for one). */
  static open(url, timeout = TIMEOUT, options = {}) {
    return withTimeout(new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      ws.once('open', () => resolve(new Client(ws, url)));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => reject(new Error(`upgrade to ${url} refused: HTTP ${res.statusCode} ${body}`)));
      });
      ws.once('error', (err) => reject(new Error(`upgrade to ${url} failed: ${err.message}`)));
    }), timeout, `the upgrade to ${url}`);
  }

  wake() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves when a frame or the close arrives, or after ms. */
  waitEvent(ms) {
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.waiters.delete(wake); resolve(); };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }

  /** The next frame {text, isBinary}; fails after timeout or if the connection closes first. */
  async next(timeout = TIMEOUT) {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (this.queue.length) return this.queue.shift();
      if (this.closeInfo) {
        throw new Error(`connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for a message; received so far: ${JSON.stringify(this.received)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no message within ${timeout} ms; received so far: ${JSON.stringify(this.received)}`);
      }
      await this.waitEvent(left);
    }
  }

  /** The next frame as JSON, asserting it is a text frame holding JSON. */
  async answer(timeout = TIMEOUT) {
    const msg = await this.next(timeout);
    assert.equal(msg.isBinary, false, `server sent a binary frame: ${msg.text}`);
    try {
      return JSON.parse(msg.text);
    } catch {
      assert.fail(`server sent a frame that is not JSON: ${msg.text}`);
    }
  }

  /** Asserts the next answer equals expected exactly. */
  async expect(expected, timeout = TIMEOUT) {
    const got = await this.answer(timeout);
    assert.deepEqual(got, expected, `on ${this.url}: received ${JSON.stringify(this.received)}`);
    return got;
  }

  /** Asserts that nothing arrives within ms. */
  async expectSilence(ms = QUIET) {
    const deadline = Date.now() + ms;
    while (!this.queue.length && !this.closeInfo && Date.now() < deadline) {
      await this.waitEvent(deadline - Date.now());
    }
    assert.equal(this.queue.length, 0, `expected no message within ${ms} ms, got ${JSON.stringify(this.queue.map((m) => m.text))}`);
    assert.equal(this.closeInfo, undefined, `expected the connection to stay open, it closed: ${JSON.stringify(this.closeInfo)}`);
  }

  send(msg) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  sendBinary(msg) {
    const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.ws.send(Buffer.from(text, 'utf8'), { binary: true });
  }

  /** Sends a lock request; resolves with the immediate answer. */
  async lock(...resources) {
    this.send({ action: 'lock', resources });
    return this.answer();
  }

  /** Sends a release; resolves with the next answer. */
  async release() {
    this.send({ action: 'release' });
    return this.answer();
  }

  /** Drops the TCP connection without a close handshake. */
  terminate() {
    this.ws.terminate();
  }

  /** Starts a close handshake. */
  close(code = 1000, reason) {
    this.ws.close(code, reason);
  }

  /** Resolves {code, reason} once closed. */
  waitClosed(timeout = TIMEOUT) {
    return withTimeout(this.closed, timeout, `the close of ${this.url}`);
  }
}

/**
 * Asserts that the client receives exactly one text frame
 * `communication error: ...` (containing `reason` when given) and then a close
 * with code 3000. Returns the error text.
 */
export async function expectProtocolError(client, reason) {
  const msg = await client.next();
  assert.equal(msg.isBinary, false, 'the error frame must be a text frame');
  assert.match(msg.text, /^communication error: ./, `expected an error frame, got ${msg.text}`);
  if (reason !== undefined) {
    assert.ok(msg.text.includes(reason), `error frame ${JSON.stringify(msg.text)} should mention ${JSON.stringify(reason)}`);
  }
  const { code } = await client.waitClosed();
  assert.equal(code, 3000, `close code after ${msg.text}`);
  assert.deepEqual(client.queue.map((m) => m.text), [], 'nothing may follow the error frame');
  return msg.text;
}

/** Resolves {status, headers, body} of the rejected upgrade; fails if the upgrade succeeds. */
export function upgradeRefusal(url, timeout = TIMEOUT, options = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`upgrade to ${url} was accepted, expected a refusal`));
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        resolve({ status: res.statusCode, headers: res.headers, body });
        req.destroy();
      });
    });
    ws.once('error', (err) => reject(new Error(`upgrade to ${url} failed without an HTTP answer: ${err.message}`)));
  }), timeout, `the answer to the upgrade ${url}`);
}

// ---------------------------------------------------------------------------
// Abandonment

/** Abandon timeouts are this long; "not before" windows are EARLY long. */
export const ABANDON = 600;
export const EARLY = 150;
// How late past a quiet window an observation still counts as inside it.
const STALL_SLACK = 100;

/**
 * `holder` holds write ["x"] and `waiter` waits for it; `end` ends the
 * holder's connection. The waiter must not be acquired within `notBefore` ms
 * and then (unless `released` is false) must be acquired within TIMEOUT.
 */
export async function abandonScenario(server, {
  params = '', end = (c) => c.terminate(), notBefore = EARLY, released = true,
} = {}) {
  const ns = uniqueNs();
  const holder = await server.connect(ns, params);
  const waiter = await server.connect(ns);
  assert.deepEqual(await holder.lock(w('x')), acquired(1));
  assert.deepEqual(await waiter.lock(w('x')), enqueued(2));
  const start = Date.now();
  end(holder);
  if (notBefore > 0) {
    // Seen before `notBefore` (plus slack), an acquisition or a released
    // lock proves the server early. Seen later, it proves nothing: this
    // process may have stalled on a loaded machine past the real timeout.
    const early = () => Date.now() - start <= notBefore + STALL_SLACK;
    try {
      await waiter.expectSilence(notBefore);
      // the abandoned lock is still live and counted as acquired
      const stats = await server.stats(ns);
      if (early()) {
        assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending, stats.LocksAcquired, stats.LocksPending], [1, 1, 1, 1]);
      }
    } catch (error) {
      if (early()) throw error;
      console.log(`# abandon window observed ${Date.now() - start} ms after the drop: not checked`);
    }
  }
  if (!released) return { ns, holder, waiter };
  await waiter.expect(acquired(2), TIMEOUT);
  const elapsed = Date.now() - start;
  const stats = await server.stats(ns);
  assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending, stats.LastGroupID], [1, 0, 2]);
  return { ns, holder, waiter, elapsed };
}

// ---------------------------------------------------------------------------
// HTTP

export function httpGet(host, port, pathAndQuery, headers = {}, timeout = TIMEOUT) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: pathAndQuery, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), timeout, `GET ${pathAndQuery}`);
}
