// One chaos worker process: many raw WebSocket clients that lock and release
// random resources in random namespaces, and now and then misbehave (see
// FAULTS). The flood fault's locks take paths outside the checked universe
// (intervals.mjs) and are not checked for overlaps; they are checked for
// their answers and, by the coordinator, for what they leave behind. Forked by chaos.mjs, which gives the settings as JSON in argv[2]
// and may SIGSTOP/SIGCONT the whole process.
//
// Every lock a client saw acquired becomes an interval (intervals.mjs) sent
// to the coordinator in batches with a low mark: no interval that starts
// before the low mark will be sent later. Counters travel with each batch.
// The message {type: 'stop'} ends the load: each client finishes its cycle,
// releases, closes, and the worker sends its last batch and exits.
//
// Session clients (cfg.sessionClients of them, when cfg.blipRate > 0) open
// resumable sessions through a TCP relay of their own (Relay) and, in
// cfg.blipRate of their lock cycles, have it cut: a blip. They resume with
// their token and go on from what the server says the lock is (see
// runSession); a lock held across a blip is one interval, and a lock the
// server lost within the session's window is reported as lost.
// With CHAOS_DEBUG set in the environment, a stopping worker prints every
// 5 s where each of its clients is (the phase map), to find a client that
// holds the stop up.

import net from 'node:net';
import WebSocket from 'ws';
import { Inbox } from '../lib/inbox.mjs';
import { lockMessage, randomLock } from './intervals.mjs';

const cfg = JSON.parse(process.argv[2]);
const now = () => process.hrtime.bigint();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

/** The promise's value, or 'timeout' after ms (the timer is cleared). */
function within(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => { timer = setTimeout(resolve, ms, 'timeout'); })])
    .finally(() => clearTimeout(timer));
}

// Faults a client may fire in a lock cycle, and when they apply.
const READY_FAULTS = ['garbage', 'binary', 'wrong_state', 'oversized', 'non_reader', 'flood'];
const WAITING_FAULTS = ['reset_waiting', 'close_waiting'];
const HOLDING_FAULTS = ['reset_holding', 'close_holding', 'garbage_holding', 'oversized_holding'];
const FAULTS = [...READY_FAULTS, ...WAITING_FAULTS, ...HOLDING_FAULTS];

let stopping = false;
// refused: ordinary locks refused for the server's lock memory (close 1013,
// try again later); flood: the flood fault's locks, granted or refused.
// sessions: opened, resumed by the lock state the server reported, and
// given up (late: not resumed within the window, as when the worker was
// frozen in the middle of a blip).
const counts = {
  ops: 0, cancels: 0, connections: 0, refused: 0, flood: { granted: 0, refused: 0 }, faults: {}, errors: {},
  sessions: { opened: 0, resumed: { acquired: 0, enqueued: 0, none: 0 }, late: 0 },
};
const errorSamples = [];
let intervals = [];
let lost = []; // lost locks (IntervalChecker.lose), sent with the intervals
const held = new Map(); // client slot -> hrtime of its current acquisition
const live = new Set(); // open Conns
const phase = new Map();
const at = (slot, p) => phase.set(slot, p);

function error(kind, detail) {
  counts.errors[kind] = (counts.errors[kind] || 0) + 1;
  if (errorSamples.length < 10) errorSamples.push(`${kind}: ${detail}`);
}

function fault(kind) {
  counts.faults[kind] = (counts.faults[kind] || 0) + 1;
}

/** A message for a report: its arrival stamp left out. */
const show = (m) => JSON.stringify(m, (k, v) => (k === 't' ? undefined : v));

/** A WebSocket with a queue of incoming messages, each stamped on arrival. */
class Conn extends Inbox {
  constructor(url) {
    super();
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        live.delete(this);
        this.finish(code);
        resolve(code);
      });
    });
    this.ws.on('message', (data) => {
      const t = now();
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        msg = { text: data.toString() };
      }
      msg.t = t;
      this.push(msg);
    });
    this.ws.on('error', () => {}); // a close follows
    live.add(this);
  }

  static open(url) {
    const conn = new Conn(url);
    return new Promise((resolve, reject) => {
      conn.ws.once('open', () => {
        conn.openedAt = now();
        resolve(conn);
      });
      conn.ws.once('unexpected-response', (req, res) => {
        reject(new Error(`HTTP ${res.statusCode}`));
        conn.ws.terminate();
      });
      conn.closed.then((code) => reject(new Error(`closed (${code}) before open`)));
    });
  }

  send(text) {
    this.ws.send(text);
  }

  /** SO_LINGER 0: the peer sees a TCP reset. */
  reset() {
    if (this.ws._socket) this.ws._socket.resetAndDestroy();
    else this.ws.terminate();
  }

  async closeCleanly() {
    this.ws.close(1000);
    const code = await within(this.closed, cfg.stuckMs);
    if (code === 'timeout') this.ws.terminate();
  }

  /** Waits for the server to close this connection; an error if it does not. */
  async expectClosed(what) {
    const code = await within(this.closed, cfg.stuckMs);
    if (code === 'timeout') {
      error('not_refused', `${what} did not close the connection`);
      this.ws.terminate();
    }
  }
}

const RELEASE = JSON.stringify({ action: 'release' });

function record(slot, who, ns, id, res, a, r) {
  held.delete(slot);
  intervals.push({ ns, id, res, a, r, who });
}

function abandonParam() {
  const u = Math.random();
  if (u < 0.1) return '&abandon-timeout-ms=0';
  if (u < 0.2) return `&abandon-timeout-ms=${1 + Math.floor(Math.random() * 20)}`;
  if (u < 0.25) return `&abandon-timeout-ms=${Math.floor(cfg.longAbandonMs / 2 + Math.random() * cfg.longAbandonMs / 2)}`;
  return ''; // the server's default
}

const REFUSED = /^communication error: lock refused: the server's lock memory is full \(over max-lock-memory \(\d+\)\); try again later$/;
let floods = 0;

/**
 * The largest lock a message of cfg.maxMessageBytes holds: write paths of
 * depth 16, every segment new, under a first segment of the flood's own (so
 * it conflicts only with locks of the empty path).
 */
function floodLock(tag) {
  const resources = [];
  let bytes = 40;
  for (let r = 0; bytes < cfg.maxMessageBytes - 200; r += 1) {
    const path = [`${tag}.${r}`];
    for (let d = 1; d < 16; d += 1) path.push(d.toString(36));
    bytes += JSON.stringify({ type: 'w', path }).length + 1;
    resources.push({ type: 'w', path });
  }
  resources.pop();
  return JSON.stringify({ action: 'lock', resources });
}

/**
 * The memory attack: cfg.floodConnections connections at once, each sending
 * the largest lock the limits allow. Each is granted, or refused with the
 * reason frame and close 1013 once the lock memory budget is spent. Each
 * granted one, on its own (waiting for one while holding another could
 * deadlock behind a lock of the empty path), holds for a moment and then
 * releases or drops.
 */
async function flood(url, who) {
  const tag = `flood.${cfg.worker}.${(floods += 1)}`;
  await Promise.all(Array.from({ length: cfg.floodConnections }, async (_, k) => {
    let c;
    try {
      c = await Conn.open(url);
    } catch {
      return;
    }
    c.send(floodLock(`${tag}.${k}`));
    let m = await c.next(cfg.stuckMs);
    if (m.text !== undefined && REFUSED.test(m.text)) {
      const code = await within(c.closed, cfg.stuckMs);
      if (code !== 1013) error('unexpected', `${who}: flood refused, then closed with ${code}`);
      counts.flood.refused += 1;
      return;
    }
    if (m.state === 'enqueued') m = await c.next(cfg.stuckMs);
    if (m.action !== 'lock' || m.state !== 'acquired') {
      error('unexpected', `${who}: flood lock answered with ${show(m)}`);
      c.reset();
      return;
    }
    counts.flood.granted += 1;
    await sleep(rand(100, 500));
    if (Math.random() < 0.5) {
      c.send(RELEASE);
      await c.next(cfg.stuckMs);
      await c.closeCleanly();
    } else {
      c.reset();
      await c.closed;
    }
  }));
}

/** Misbehaviour while ready: the connection ends with it. */
async function readyFault(conn, kind, url, who) {
  fault(kind);
  switch (kind) {
    case 'garbage':
      conn.send(pick(['not json', '{"action":', '[1,2,3]', '{"action":"fly"}',
        '{"action":"lock","resources":[]}', '{"action":"lock","resources":[{"type":"x","path":[]}]}',
        '{"action":"lock","resources":[{"type":"read","path":[1]}]}']));
      await conn.expectClosed(kind);
      return;
    case 'binary': {
      const bytes = Buffer.alloc(1 + Math.floor(Math.random() * 200));
      for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
      conn.ws.send(bytes, { binary: true });
      await conn.expectClosed(kind);
      return;
    }
    case 'wrong_state':
      conn.send(RELEASE); // release while ready
      await conn.expectClosed(kind);
      return;
    case 'oversized':
      conn.send('x'.repeat(cfg.maxMessageBytes + 1 + Math.floor(Math.random() * cfg.maxMessageBytes * 4)));
      await conn.expectClosed(kind);
      return;
    case 'non_reader': {
      // Stops reading, sends lock/release pairs blindly (always valid), then
      // goes away; the server either drops it or just queues its answers.
      conn.ws._socket.pause();
      const until = Date.now() + rand(300, 2000);
      while (Date.now() < until && !stopping) {
        const n = 1 + Math.floor(Math.random() * 200);
        for (let i = 0; i < n; i += 1) {
          conn.send(lockMessage(randomLock()));
          conn.send(RELEASE);
        }
        await sleep(rand(20, 200));
      }
      if (Math.random() < 0.5) conn.reset();
      else conn.ws.terminate();
      await conn.closed;
      return;
    }
    case 'flood':
      await flood(url, who);
      await conn.closeCleanly();
      return;
    default:
      throw new Error(`unknown fault ${kind}`);
  }
}

/** Runs lock cycles on one connection until it ends. */
async function runConnection(slot, conn, ns, who, url) {
  for (;;) {
    at(slot, 'think');
    await sleep(rand(cfg.thinkMs[0], cfg.thinkMs[1]));
    at(slot, 'cycle');
    if (stopping || conn.closeEvent) {
      if (conn.closeEvent) error('closed', `${who}: server closed a ready connection (${conn.closeEvent.code})`);
      await conn.closeCleanly();
      return;
    }
    const f = Math.random() < cfg.faultRate ? pick(FAULTS) : null;
    if (READY_FAULTS.includes(f)) {
      at(slot, f);
      await readyFault(conn, f, url, who);
      return;
    }
    if (Math.random() < 0.003) { // ordinary churn
      await conn.closeCleanly();
      return;
    }

    const res = randomLock();
    conn.send(lockMessage(res));
    at(slot, 'lock');
    let m = await conn.next(cfg.stuckMs);
    if (m.text !== undefined && REFUSED.test(m.text)) {
      // Not the client's fault: try again later, on a new connection.
      const code = await within(conn.closed, cfg.stuckMs);
      if (code !== 1013) error('unexpected', `${who}: lock refused, then closed with ${code}`);
      counts.refused += 1;
      return;
    }
    if (m.action !== 'lock' || (m.state !== 'acquired' && m.state !== 'enqueued') || typeof m.id !== 'string') {
      error('unexpected', `${who}: lock answered with ${show(m)}`);
      conn.reset();
      return;
    }
    const { id } = m;
    let acquiredAt = null;
    if (m.state === 'acquired') acquiredAt = m.t;

    if (acquiredAt === null) {
      at(slot, 'wait');
      const plan = WAITING_FAULTS.includes(f) ? f : Math.random() < cfg.cancelRate ? 'cancel' : null;
      if (plan) {
        m = await conn.next(rand(0, 50));
        if (m.timeout) {
          if (plan === 'cancel') {
            conn.send(RELEASE);
            // The acquisition notice may cross the release on the wire.
            m = await conn.next(cfg.stuckMs);
            if (m.action === 'lock' && m.state === 'acquired' && m.id === id) m = await conn.next(cfg.stuckMs);
            if (m.action !== 'release' || m.state !== 'ready' || m.id !== id) {
              error('unexpected', `${who}: cancel of ${id} answered with ${show(m)}`);
              conn.reset();
              return;
            }
            counts.cancels += 1;
            continue;
          }
          fault(plan);
          if (plan === 'reset_waiting') {
            conn.reset();
            await conn.closed;
          } else {
            await conn.closeCleanly();
          }
          return;
        }
      } else {
        m = await conn.next(cfg.stuckMs);
      }
      if (m.timeout) {
        error('stuck', `${who}: lock ${id} in ${ns} not acquired within ${cfg.stuckMs} ms`);
        conn.reset();
        return;
      }
      if (m.action !== 'lock' || m.state !== 'acquired' || m.id !== id) {
        error('unexpected', `${who}: waiting for ${id}, got ${show(m)}`);
        conn.reset();
        return;
      }
      acquiredAt = m.t;
    }

    // Holding.
    held.set(slot, acquiredAt);
    at(slot, 'hold');
    await sleep(rand(cfg.holdMs[0], cfg.holdMs[1]));
    if (HOLDING_FAULTS.includes(f)) {
      fault(f);
      at(slot, f);
      const t = now();
      record(slot, who, ns, id, res, acquiredAt, t);
      switch (f) {
        case 'reset_holding':
          conn.reset();
          await conn.closed;
          return;
        case 'close_holding':
          await conn.closeCleanly();
          return;
        case 'garbage_holding':
          conn.send(pick(['{"action":"lock","resources":[{"type":"read","path":[]}]}', '{]', '"release"']));
          await conn.expectClosed(f);
          return;
        default: // oversized_holding
          conn.send(`{"action":"release","pad":"${'y'.repeat(cfg.maxMessageBytes)}"}`);
          await conn.expectClosed(f);
          return;
      }
    }
    const t = now();
    conn.send(RELEASE);
    record(slot, who, ns, id, res, acquiredAt, t);
    at(slot, 'release');
    m = await conn.next(cfg.stuckMs);
    if (m.action !== 'release' || m.state !== 'ready' || m.id !== id) {
      error('unexpected', `${who}: release of ${id} answered with ${show(m)}`);
      conn.reset();
      return;
    }
    counts.ops += 1;
  }
}

async function client(slot) {
  await sleep(rand(0, cfg.rampMs));
  let n = 0;
  while (!stopping) {
    const ns = pick(cfg.namespaces);
    const url = `ws://127.0.0.1:${cfg.port}/v1?namespace=${encodeURIComponent(ns)}${abandonParam()}`;
    let conn;
    try {
      conn = await Conn.open(url);
    } catch (err) {
      error('connect', err.message);
      await sleep(200);
      continue;
    }
    counts.connections += 1;
    at(slot, 'open');
    n += 1;
    await runConnection(slot, conn, ns, `w${cfg.worker}/c${slot}/${n}`, url);
    held.delete(slot);
  }
  at(slot, 'done');
}

// --- Session clients and blips ---------------------------------------------

/**
 * A TCP relay on loopback between one session client and the server: each
 * connection it accepts is piped to a new connection to the server. cut()
 * is a network blip: it destroys both sockets of every pair (the server side
 * with a FIN or a reset), or, stale, only the client's, leaving the server's
 * open and silent until after the resume (the server then closes it with
 * 4409); for `ms` afterwards it drops any connection at once.
 */
class Relay {
  static async start(port) {
    const relay = new Relay(port);
    await new Promise((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.port = relay.server.address().port;
    return relay;
  }

  constructor(target) {
    this.target = target;
    this.pairs = new Set();
    this.stale = [];
    this.downUntil = 0;
    this.server = net.createServer({ noDelay: true }, (down) => this.accept(down));
  }

  accept(down) {
    down.on('error', () => {});
    if (Date.now() < this.downUntil) {
      down.destroy();
      return;
    }
    const up = net.connect({ host: '127.0.0.1', port: this.target, noDelay: true });
    up.on('error', () => {});
    const pair = { down, up, stale: false };
    this.pairs.add(pair);
    down.pipe(up);
    up.pipe(down);
    down.on('close', () => {
      this.pairs.delete(pair);
      if (!pair.stale) up.destroy();
    });
    up.on('close', () => {
      if (!pair.stale) down.destroy();
    });
  }

  /** Cuts every connection; returns the moment, taken before the cut. */
  cut(ms, stale) {
    const t = now();
    this.downUntil = Date.now() + ms;
    for (const pair of this.pairs) {
      this.pairs.delete(pair);
      if (stale) {
        pair.stale = true;
        pair.down.unpipe(pair.up);
        pair.up.unpipe(pair.down);
        pair.up.pause();
        this.stale.push(pair.up);
      } else if (Math.random() < 0.5) {
        pair.up.resetAndDestroy();
      } else {
        pair.up.destroy();
      }
      pair.down.destroy();
    }
    return t;
  }

  dropStale() {
    for (const up of this.stale) up.destroy();
    this.stale = [];
  }

  close() {
    this.dropStale();
    for (const pair of this.pairs) pair.down.destroy();
    this.server.close();
  }
}

// Where a cycle's blip cuts: before the lock, just after sending it, while
// enqueued, while holding, just after sending the release.
const BLIP_PHASES = ['ready', 'lock', 'wait', 'hold', 'release'];
const TOKEN = /^[A-Za-z0-9._~-]+$/;
const EXPIRED = 'communication error: session expired: its lock is gone';
const ms2ns = (ms) => BigInt(Math.round(ms * 1e6));

/** Opens a connection and reads the server's first frame. */
async function openSession(url) {
  const conn = await Conn.open(url);
  counts.connections += 1;
  return { conn, first: await conn.next(cfg.firstFrameMs) };
}

/** The lock is gone although the session was resumed within its window. */
function lose(s, t, how) {
  lost.push({ ns: s.ns, who: s.who, id: s.id, state: s.state, how, t });
  if (s.state === 'holding') record(s.slot, s.who, s.ns, s.id, s.res, s.a, t);
}

/** A blip: the relay cut for 20–600 ms (cfg.blipMs). */
function blip(s) {
  fault('blip');
  s.plan = null;
  s.cut = s.relay.cut(rand(cfg.blipMs[0], cfg.blipMs[1]), Math.random() < 0.3);
}

/**
 * A blip 0–3 ms after a request was sent: it may reach the server first, or
 * not (bytes still unread in the relay are lost with its socket).
 */
function blipSoon(s) {
  const { conn } = s;
  setTimeout(() => {
    if (s.conn === conn && !conn.closeEvent) blip(s);
  }, rand(0, 3));
}

/**
 * Not resumed within the window (the worker frozen during the blip, say):
 * the client must assume its lock gone from the end of the window on, the
 * earliest the server may end it.
 */
function giveUp(s, deadline, conn) {
  counts.sessions.late += 1;
  if (s.state === 'holding') record(s.slot, s.who, s.ns, s.id, s.res, s.a, deadline);
  if (conn) conn.reset();
  s.relay.dropStale();
  return false;
}

/**
 * After a blip: resumes the session with its token within its window and
 * goes on from the lock state the `resumed` frame reports. False if the
 * session is over (lost, given up or failed).
 */
async function resume(s) {
  const code = await within(s.conn.closed, cfg.stuckMs);
  if (s.cut === null) {
    error('closed', `${s.who}: server closed the session's connection (${code}) while ${s.state}`);
    return false;
  }
  const deadline = s.cut + ms2ns(s.windowMs);
  s.cut = null;
  at(s.slot, `resume ${s.state}`);
  let conn;
  let first;
  for (;;) {
    if (now() >= deadline) return giveUp(s, deadline, null);
    try {
      ({ conn, first } = await openSession(s.resumeUrl));
      break;
    } catch (err) {
      // 429: too many failed resumes from this address; the session is not
      // gone, try again later.
      await sleep(/HTTP 429/.test(err.message) ? rand(100, 300) : rand(10, 50));
    }
  }
  setTimeout(() => s.relay.dropStale(), rand(0, 200));
  // The server took the resume before it answered the upgrade, so within
  // the window if that answer came within it.
  if (conn.openedAt >= deadline) return giveUp(s, deadline, conn);
  s.conn = conn;
  if (first.text !== undefined || first.closed) {
    const closed = first.closed ? first.code : await within(conn.closed, cfg.stuckMs);
    if ((first.text !== undefined && first.text !== EXPIRED) || closed !== 4410) {
      error('unexpected', `${s.who}: resume answered with ${show(first)}, then closed with ${closed}`);
      conn.reset();
    }
    lose(s, first.t || now(), '4410');
    return false;
  }
  const lock = first.lock;
  if (first.action !== 'session' || first.state !== 'resumed' || first.session !== s.token ||
      first['abandon-timeout-ms'] !== s.windowMs || !(lock in counts.sessions.resumed) ||
      (lock === 'none') !== (first.id === undefined)) {
    error('session', `${s.who}: resume while ${s.state} answered with ${show(first)}`);
    conn.reset();
    return false;
  }
  counts.sessions.resumed[lock] += 1;
  const same = first.id === s.id;
  if (lock === 'none' && (s.state === 'enqueued' || s.state === 'holding')) {
    lose(s, first.t, 'none'); // a lock the server had confirmed
    s.state = 'ready';
    return true;
  }
  switch (s.state) {
    case 'ready':
      if (lock === 'none') return true;
      break;
    case 'locking': // the lock in flight was taken, or not
      if (lock === 'none') {
        s.state = 'ready';
        return true;
      }
      s.id = first.id;
      s.state = 'enqueued';
      if (lock === 'acquired') acquired(s, first.t);
      return true;
    case 'enqueued':
      if (!same) break;
      if (lock === 'acquired') acquired(s, first.t);
      return true;
    case 'holding':
      if (lock === 'acquired' && same) return true;
      break;
    default: // releasing: the release in flight was taken, or is sent again
      if (lock === 'none') {
        counts.ops += 1;
        s.state = 'ready';
        return true;
      }
      if (lock === 'acquired' && same) {
        conn.send(RELEASE);
        return true;
      }
      break;
  }
  error('unexpected', `${s.who}: resumed while ${s.state} (lock ${s.id}) with ${show(first)}`);
  conn.reset();
  return false;
}

function acquired(s, t) {
  s.a = t;
  s.state = 'holding';
  held.set(s.slot, t);
  if (s.plan === 'wait') s.plan = 'hold';
}

/** An answer on the session's connection; false if unexpected. */
function sessionAnswer(s, m) {
  if (s.state === 'locking' && m.action === 'lock' && typeof m.id === 'string') {
    s.id = m.id;
    if (m.state === 'enqueued') {
      s.state = 'enqueued';
      return true;
    }
    if (m.state === 'acquired') {
      acquired(s, m.t);
      return true;
    }
  }
  if (s.state === 'enqueued' && m.action === 'lock' && m.state === 'acquired' && m.id === s.id) {
    acquired(s, m.t);
    return true;
  }
  if (s.state === 'releasing' && m.action === 'release' && m.state === 'ready' && m.id === s.id) {
    counts.ops += 1;
    s.state = 'ready';
    return true;
  }
  return false;
}

/** Lock cycles in one session, across blips, until it ends. */
async function runSession(slot, relay, who) {
  const ns = pick(cfg.namespaces);
  const windowMs = Math.round(rand(cfg.sessionMs[0], cfg.sessionMs[1]));
  const base = `ws://127.0.0.1:${relay.port}/v1?namespace=${encodeURIComponent(ns)}`;
  let conn;
  let first;
  try {
    ({ conn, first } = await openSession(`${base}&session=new&abandon-timeout-ms=${windowMs}`));
  } catch (err) {
    error('connect', `${who}: ${err.message}`);
    await sleep(200);
    return;
  }
  if (first.action !== 'session' || first.state !== 'new' || typeof first.session !== 'string' ||
      !TOKEN.test(first.session) || first['abandon-timeout-ms'] !== windowMs) {
    error('session', `${who}: session=new answered with ${show(first)}`);
    conn.reset();
    await conn.closed;
    return;
  }
  counts.sessions.opened += 1;
  const s = {
    slot, who, ns, windowMs, relay, conn, token: first.session, resumeUrl: `${base}&session=${first.session}`,
    state: 'ready', id: null, res: null, a: null, plan: null, cut: null,
  };
  for (;;) {
    at(slot, `session ${s.state}`);
    if (s.state === 'ready' || s.state === 'holding') {
      if (s.state === 'ready') await sleep(rand(cfg.thinkMs[0], cfg.thinkMs[1]));
      else await sleep(rand(cfg.holdMs[0], cfg.holdMs[1]));
      if (s.plan === (s.state === 'ready' ? 'ready' : 'hold')) blip(s);
      if (s.cut !== null || s.conn.closeEvent) {
        if (await resume(s)) continue;
        return;
      }
      if (s.state === 'holding') {
        const t = now();
        s.conn.send(RELEASE);
        record(slot, who, ns, s.id, s.res, s.a, t);
        s.state = 'releasing';
        if (s.plan === 'release') blipSoon(s);
        continue;
      }
      if (stopping || Math.random() < 0.003) {
        await s.conn.closeCleanly();
        return;
      }
      s.plan = Math.random() < cfg.blipRate ? pick(BLIP_PHASES) : null;
      if (s.plan === 'ready') continue;
      s.res = randomLock();
      s.id = null;
      s.conn.send(lockMessage(s.res));
      s.state = 'locking';
      if (s.plan === 'lock') blipSoon(s);
      continue;
    }
    // locking, enqueued or releasing: an answer is due, or the drop.
    let m;
    if (s.plan === 'wait' && s.state === 'enqueued') {
      m = await s.conn.next(rand(0, 50));
      if (m.timeout) {
        blip(s);
        m = await s.conn.next(cfg.stuckMs);
      }
    } else {
      m = await s.conn.next(cfg.stuckMs);
    }
    if (m.closed) {
      if (await resume(s)) continue;
      return;
    }
    if (m.text !== undefined && REFUSED.test(m.text)) {
      const code = await within(s.conn.closed, cfg.stuckMs);
      if (code !== 1013) error('unexpected', `${who}: lock refused, then closed with ${code}`);
      counts.refused += 1;
      return;
    }
    if (m.timeout) {
      error('stuck', `${who}: ${s.state} ${s.id ?? ''} in ${ns}: no answer within ${cfg.stuckMs} ms`);
      s.conn.reset();
      return;
    }
    if (!sessionAnswer(s, m)) {
      error('unexpected', `${who}: ${show(m)} while ${s.state} (lock ${s.id})`);
      s.conn.reset();
      return;
    }
  }
}

async function sessionClient(slot) {
  const relay = await Relay.start(cfg.port);
  await sleep(rand(0, cfg.rampMs));
  let n = 0;
  while (!stopping) {
    n += 1;
    await runSession(slot, relay, `w${cfg.worker}/s${slot}/${n}`);
    held.delete(slot);
  }
  relay.close();
  at(slot, 'done');
}

const FOREVER = 1n << 62n;

function flush(last = false) {
  const batch = intervals;
  const lostBatch = lost;
  intervals = [];
  lost = [];
  let lowMark = last ? FOREVER : now();
  for (const t of held.values()) if (t < lowMark) lowMark = t;
  for (const conn of live) for (const m of conn.queue) if (m.t < lowMark) lowMark = m.t;
  return new Promise((resolve) => {
    process.send({ type: 'batch', intervals: batch, lost: lostBatch, lowMark, counts, errorSamples }, resolve);
  });
}

process.on('message', (m) => {
  if (m.type === 'stop') {
    stopping = true;
    if (process.env.CHAOS_DEBUG) setInterval(() => console.log(`w${cfg.worker} phases`, JSON.stringify([...phase.entries()])), 5000).unref();
  }
});

const timer = setInterval(() => { flush(); }, 200);
await Promise.all([
  ...Array.from({ length: cfg.clients }, (_, i) => client(i)),
  ...Array.from({ length: cfg.sessionClients }, (_, i) => sessionClient(cfg.clients + i)),
]);
clearInterval(timer);
await flush(true);
process.disconnect();
