// HAProxy for the end-to-end tests: configurations from packaging/haproxy/
// on free loopback ports, the proxy's view of its servers through its admin
// socket, raw HTTP requests whose target goes on the wire byte for byte, and
// a reference of how the server reads a request target.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ServerAddress, TIMEOUT, freePort, waitFor, withTimeout,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PACKAGING = path.resolve(here, '../../../packaging/haproxy');

/** The haproxy binary (Debian puts it in /usr/sbin, often not on a user's PATH), or undefined. */
export const HAPROXY = ['haproxy', '/usr/sbin/haproxy'].find(
  (bin) => spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0,
);

/**
 * Health checks every INTER ms; two failures in a row take a server out, so
 * that one slow answer (a sanitizer build on a busy machine) does not.
 */
export const INTER = 100;

const running = new Set();
process.on('exit', () => {
  for (const proxy of running) proxy.proc.kill('SIGKILL');
});

/** A running HAProxy, and the requests a test makes through it. */
class Proxy extends ServerAddress {
  constructor(proc, port, dir) {
    super('127.0.0.1', port);
    this.proc = proc;
    this.dir = dir;
    this.socket = path.join(dir, 'admin.sock');
    this.output = '';
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    proc.stdout.on('data', (c) => { this.output += c; });
    proc.stderr.on('data', (c) => { this.output += c; });
  }

  async stop() {
    running.delete(this);
    this.proc.kill('SIGKILL');
    await this.exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs one command on the proxy's admin socket; resolves with its answer. */
function adminCommand(proxy, command) {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect(proxy.socket);
    let text = '';
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (c) => { text += c; });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  }), TIMEOUT, `haproxy: ${command}`);
}

/** {"backend/server": "UP" | "DOWN" | ...} from `show stat`. */
export async function serverStates(proxy) {
  const [header, ...rows] = (await adminCommand(proxy, 'show stat')).trim().split('\n');
  const columns = header.replace(/^# /, '').split(',');
  const [px, sv, status] = ['pxname', 'svname', 'status'].map((c) => columns.indexOf(c));
  const states = {};
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[sv] !== 'FRONTEND' && cells[sv] !== 'BACKEND') states[`${cells[px]}/${cells[sv]}`] = cells[status];
  }
  return states;
}

/** Waits until the proxy sees the server `name` (backend/server) in `state`. */
export function waitForState(proxy, name, state) {
  return waitFor(async () => (await serverStates(proxy))[name] === state, `haproxy to see ${name} ${state}`);
}

/**
 * Starts haproxy with the configuration `render(listen, dir)` returns, on a
 * free loopback port, with an admin socket in `dir`; resolves once every
 * server is UP. The caller stops it (stop()).
 */
async function startHaproxy(render) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-proxy-'));
  const port = await freePort();
  const config = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(config, render(`127.0.0.1:${port}`, dir));
  const proc = spawn(HAPROXY, ['-f', config, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proxy = new Proxy(proc, port, dir);
  running.add(proxy);
  try {
    await waitFor(async () => {
      const states = Object.values(await serverStates(proxy));
      return states.length > 0 && states.every((s) => s === 'UP');
    }, 'haproxy to see every server UP');
  } catch (err) {
    err.message += `\n--- haproxy output ---\n${proxy.output}\n--- config ---\n${fs.readFileSync(config, 'utf8')}`;
    await proxy.stop();
    throw err;
  }
  return proxy;
}

/**
 * HAProxy with packaging/haproxy/locktopus.cfg.in, rendered by render.sh:
 * group K is groups[K], a list of servers; `lua` replaces
 * locktopus_namespace.lua. Backend names are
 * locktopus_gK, server names gKsI.
 */
export function startProxy(groups, { lua } = {}) {
  return startHaproxy((listen, dir) => {
    const args = ['--listen', listen, '--inter', String(INTER), '--fall', '2', '--rise', '1',
      '--stats-socket', path.join(dir, 'admin.sock')];
    if (lua) args.push('--lua', lua);
    for (const group of groups) args.push('--group', group.map((s) => `127.0.0.1:${s.port}`).join(','));
    const res = spawnSync(path.join(PACKAGING, 'render.sh'), args, { encoding: 'utf8' });
    assert.equal(res.status, 0, `render.sh: ${res.stderr}`);
    return res.stdout;
  });
}

/** HAProxy with the unsafe fixture in front of two servers; its backend is `servers`, servers s0 and s1. */
export function startUnsafeProxy([s0, s1]) {
  return startHaproxy((listen, dir) => {
    const text = fs.readFileSync(path.join(PACKAGING, 'unsafe-consistent-hash.cfg'), 'utf8')
      .replaceAll('@LISTEN@', listen)
      .replaceAll('@SERVER0@', `127.0.0.1:${s0.port}`)
      .replaceAll('@SERVER1@', `127.0.0.1:${s1.port}`)
      .replaceAll('@INTER@', String(INTER));
    return `global\n    stats socket ${path.join(dir, 'admin.sock')} mode 600 level admin\n\n${text}`;
  });
}

// CRC-32 as zlib and HAProxy's crc32 converter compute it (reflected,
// polynomial 0xEDB88320). Debian 12's node (18) has no zlib.crc32.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xFFFFFFFF;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

/** The group of a namespace (bytes or a string's UTF-8) among n: CRC-32 mod n, as the proxy computes it. */
export function groupOf(ns, n = 2) {
  return crc32(typeof ns === 'string' ? Buffer.from(ns, 'utf8') : ns) % n;
}

// ---------------------------------------------------------------------------
// How the server reads a request target (server/core/routes.cc, Boost.URL),
// written from RFC 3986 independently of the proxy's Lua decoder.

const PCHAR = "[A-Za-z0-9\\-._~!$&'()*+,;=:@]";
const ESCAPE = '%[0-9A-Fa-f]{2}';
const ORIGIN_FORM = new RegExp(
  `^(/(?:${PCHAR}|/|${ESCAPE})*)(?:\\?((?:${PCHAR}|[/?]|${ESCAPE})*))?$`,
);

/** Percent-decodes the latin1 string s ('+' is a space) into bytes. */
function decode(s) {
  const bytes = [];
  for (let i = 0; i < s.length; i += 1) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(s[i] === '+' ? 0x20 : s.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

/**
 * The server's reading of a target (a latin1 string, one char per byte):
 * {malformed: true}, or {ns}: the bytes of the first parameter whose decoded
 * name is `namespace` (empty without a value), undefined if none is.
 */
export function serverReading(target) {
  const m = ORIGIN_FORM.exec(target);
  if (!m) return { malformed: true };
  if (m[2] === undefined) return { ns: undefined };
  for (const param of m[2].split('&')) {
    const eq = param.indexOf('=');
    if (decode(eq < 0 ? param : param.slice(0, eq)).toString('latin1') === 'namespace') {
      return { ns: eq < 0 ? Buffer.alloc(0) : decode(param.slice(eq + 1)) };
    }
  }
  return { ns: undefined };
}

/** Every byte percent-encoded: a spelling of ns that needs no other rule. */
export function encodeAll(ns) {
  return [...Buffer.from(ns)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

// ---------------------------------------------------------------------------
// Raw HTTP

const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  + 'Sec-WebSocket-Version: 13\r\n';

/**
 * GET `target` (a latin1 string, sent byte for byte) from port, as a
 * WebSocket upgrade when `upgrade`. Resolves {status, headers, body}; status 0
 * if the connection closed without an answer. After a 101 the connection
 * stays open (`socket`; the caller ends it), holding the namespace open.
 */
export function rawGet(port, target, { upgrade = false } = {}) {
  return withTimeout(new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (answer) => {
      if (done) return;
      done = true;
      resolve(answer);
    };
    socket.on('connect', () => {
      socket.write(Buffer.concat([
        Buffer.from('GET '), Buffer.from(target, 'latin1'),
        Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgrade ? UPGRADE : 'Connection: close\r\n'}\r\n`),
      ]));
    });
    // The answer so far, once its header is complete.
    const parse = () => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      return { status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4).toString('utf8') };
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const answer = parse();
      if (answer?.status === 101) {
        finish({ ...answer, socket });
      } else if (answer && Buffer.byteLength(answer.body) >= Number(answer.headers['content-length'] ?? Infinity)) {
        socket.destroy();
        finish(answer);
      }
    });
    socket.on('close', () => finish(parse() ?? { status: 0, headers: {}, body: '' }));
    socket.on('error', () => {});
  }), TIMEOUT, `GET ${JSON.stringify(target)}`);
}

/** The proxy answered this itself: the server names itself in every answer. */
export const fromProxy = (res) => res.headers.server === undefined;
