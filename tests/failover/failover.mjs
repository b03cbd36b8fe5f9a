// The failover driver: a whole HA cluster on loopback under load, one fault
// per round. 3 etcd members; 2 groups of 2 Locktopus servers that replicate
// to each other (a peer token per group), each under a supervisor that
// restarts it (as systemd's Restart= would) and each talking to etcd
// through TCP forwarders of its own, so that it can be cut off from etcd
// alone; HAProxy in front (packaging/haproxy/): the cluster of
// tests/lib/cluster.mjs, as scripts/cluster.sh starts it. About 100 clients
// lock overlapping read/write paths in 4 namespaces (2 per group) through
// the proxy, each in a session (docs/protocol.md, Sessions). A client whose
// connection drops, or that hears nothing (not even a pong) for
// --silence-ms, resumes its session through the same URL, and goes on from
// what the server says its lock is; it keeps "using" a lock it held until
// the server confirms it, or until its window has passed since its last
// proof of life.
//
// Faults, one per round, in turn:
//   kill9       kill -9 of a group's active
//   kill-standby kill -9 of a group's standby under load (its supervisor
//               restarts it)
//   sigstop     SIGSTOP of an active for longer than the grace, then SIGCONT
//   blip-replication  the replication stream between active and standby
//               cut (both TCP sockets destroyed with `ss -K`; without the
//               privilege for that, the standby stalled past the ack bound
//               instead)
//   cut-etcd    an active cut off from etcd (its forwarders closed) while its
//               clients stay connected
//   kill-catching-up  kill -9 of the active while its standby has to catch
//               up: in turn, a standby stopped (SIGSTOP) until the active
//               dropped it from the in-sync set for lagging, then let go;
//               and a standby killed and started again right before
//   etcd-leader kill -9 of etcd's leader (restarted a little later)
//   switchover  a clean SIGTERM of an active: drain, resign, successor
//   one-group   kill -9 of one group's active while the other group runs
//   wrong-group clients straight to the other group's active (bypassing the
//               proxy) with this group's namespaces: each must be refused
//               (421), never granted a lock
//   record-loss the group's record deleted from etcd, then kill -9 of its
//               active: the group must grant nothing (no IDs from the
//               start, no skipped grace) until an operator stops its
//               servers and runs locktopus --ha-init; then it serves again
//               after the grace, IDs above every earlier one
// Before each fault the group's standby must be in the record's in-sync
// set (within --rejoin-ms and 10 s of the round's start, else it fails).
//
// Checks, over every round:
//   violations      two clients held conflicting locks at once (by their
//                   own clocks, CLOCK_MONOTONIC; tests/chaos/intervals.mjs);
//   id-regressions  a lock acquired after a conflicting one has a smaller
//                   or equal ID: its fencing token went back;
//   lost            a client resumed its session within its window and was
//                   told its lock is gone (close 4410, or `"lock":"none"`
//                   for a lock it had been told was acquired or enqueued),
//                   or was given another ID. Allowed (and counted apart, as
//                   lost-degraded) only in the group of a round whose
//                   takeover was degraded with no in-sync standby in the
//                   record (kill-catching-up), or whose record was lost;
//   and per fault kind: after kill9/one-group the standby, in sync, takes
//   over with its replica (its log: an in-sync takeover) and the group
//   serves again within TTL + 1 s (without an in-sync standby: a degraded
//   takeover, within the grace + 2 s); a standby not in the record's
//   in-sync set never takes over without the grace (kill-catching-up);
//   after kill-standby and blip-replication the active grants again within
//   the ack bound + 1 s, and the standby is back in the in-sync set within
//   --rejoin-ms (of its restart, or of the cut); a switchover serves again
//   within 1 s of the resign; killing etcd's leader disconnects no client;
//   during one-group the other group sees no disconnect at all; no client
//   sees a frame the protocol does not allow at that point.
// The last line is
//   failover: rounds R, faults F, violations V, id-regressions I, lost L, max-unavailable-ms M; ...
// and the exit status is 0 only if every check held.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { IntervalChecker, PATHS, lockMessage, randomLock } from '../chaos/intervals.mjs';
import { HaCluster, etcdBinary, haproxyBinary, request } from '../lib/cluster.mjs';
import { Inbox } from '../lib/inbox.mjs';
import { driverOptions, failureList } from '../lib/driver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => process.hrtime.bigint();
const msSince = (t) => Number(now() - t) / 1e6;
const msBetween = (from, to) => Number(to - from) / 1e6;
const ns2ms = (ms) => BigInt(Math.round(ms * 1e6));

const OPTIONS = {
  bin: { type: 'string', default: path.join(root, 'build/release/bin/locktopus') },
  rounds: { type: 'string', default: '20' },
  clients: { type: 'string', default: '100' },
  'ttl-ms': { type: 'string', default: '2000' },
  'max-abandon-ms': { type: 'string', default: '5000' },
  'ack-timeout-ms': { type: 'string', default: '500' },
  'rejoin-ms': { type: 'string', default: '5000' },
  'silence-ms': { type: 'string', default: '1000' },
  'load-ms': { type: 'string', default: '3000' },
  faults: {
    type: 'string',
    default: 'kill9,kill-standby,sigstop,blip-replication,cut-etcd,kill-catching-up,etcd-leader,switchover,' +
      'one-group,wrong-group,record-loss',
  },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};
const { opt, num } = driverOptions('failover', OPTIONS);
const ROUNDS = num('rounds');
const TTL = num('ttl-ms');
const MAX_ABANDON = num('max-abandon-ms');
const ACK = num('ack-timeout-ms');
const REJOIN = num('rejoin-ms');
const SILENCE = num('silence-ms');
const LOAD = num('load-ms');
// The server's grant window and the grace after an unclean death
// (server/core/ha/node.h): TTL - margin, and window + max abandon + margin.
const MARGIN = Math.max(TTL / 5, 200);
const GRACE = TTL - MARGIN + MAX_ABANDON + MARGIN;
// After kill -9 of an active with an in-sync standby: serving again within
// the TTL (the lease running out, the election) and a second.
const IN_SYNC_BOUND = TTL + 1000;
const FAULTS = opt.faults.split(',');
// The sessions' windows (their abandon timeouts): the shortest ones run out
// during a failover (their clients stop using their locks, then find out),
// the longest outlast it.
const WINDOWS = [1000, 3000, 4000, 5000].filter((w) => w <= MAX_ABANDON);
const GROUPS = ['g0', 'g1'];

const { failures, fail } = failureList();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-failover-'));
process.on('exit', () => {
  if (!opt.keep) fs.rmSync(dir, { recursive: true, force: true });
});
const summary = (rounds, faults, rest) => `failover: rounds ${rounds}, faults ${faults}, violations ${checker.violations}, ` +
  `id-regressions ${rest.regressions ?? 0}, lost ${rest.lost ?? 0}, max-unavailable-ms ${rest.max ?? 0}; ${rest.tail}`;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(summary(0, 0, { tail: `FAIL: interrupted by ${sig}` }));
    process.exit(1);
  });
}
// ---- forwarders: each server talks to etcd through its own -----------------

class Forwarder {
  constructor(target) {
    this.target = target;
    this.sockets = new Set();
    this.cut = false;
    this.server = net.createServer((socket) => {
      if (this.cut) return socket.destroy();
      const upstream = net.connect(target, '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    });
  }
  async listen() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
  }
  setCut(cut) {
    this.cut = cut;
    if (cut) for (const s of this.sockets) s.destroy();
  }
}

// ---- the cluster ---------------------------------------------------------------

// 3 etcd members; a short election timeout lets etcd keep a 1 s lease (its
// minimum is 1.5 election timeouts): a dead active is seen within ~1.5 s.
// Each server reaches etcd through forwarders of its own, and is restarted
// whenever it exits, as systemd's Restart= would. Replication is on (the
// harness's default): each group's servers share a peer token.
const cluster = new HaCluster({
  bin: opt.bin,
  dir,
  groups: GROUPS,
  etcd: { heartbeatMs: 50, electionTimeoutMs: 500 },
  serverArgs: ['--ha-ttl-ms', String(TTL), '--max-abandon-timeout', String(MAX_ABANDON),
    '--default-abandon-timeout', '1000', '--keepalive-ms', '1000', '--ha-ack-timeout-ms', String(ACK)],
  env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKTOPUS_'))),
  endpoints: async (s) => {
    s.forwarders = [];
    for (const m of cluster.etcd.members) {
      const f = new Forwarder(m.client);
      await f.listen();
      s.forwarders.push(f);
    }
    return s.forwarders.map((f) => `http://127.0.0.1:${f.port}`).join(',');
  },
  onExit: (s, code) => {
    if (code === 2) {
      fail(`${s.name} refused its flags (exit 2); see ${s.log}`);
      return null;
    }
    return 200;
  },
  proxy: { inter: 100, fall: 1, rise: 1 },
});
const { etcd, servers } = cluster;

async function waitFor(fn, patience, what) {
  const deadline = Date.now() + patience;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await sleep(50);
  }
  fail(`timed out after ${patience} ms waiting for ${what}`);
  return false;
}

// The group HAProxy sends a namespace to (its X-Locktopus-Group header).
async function groupOf(ns) {
  const res = await request(cluster.proxyPort, `/stats_v1?namespace=${encodeURIComponent(ns)}`);
  return res.headers['x-locktopus-group'];
}


// ---- the group's replication, as the record and the logs show it -------------

// A server's name in the record's in-sync set and in the logs: its -H:-p.
const nameOf = (s) => `127.0.0.1:${s.port}`;
const alive = (proc) => proc != null && proc.exitCode === null && proc.signalCode === null;
const otherOf = (group, s) => servers.find((x) => x.group === group && x !== s);

// The revision of server s's candidacy that the group's record lists in its
// in-sync set, or null. A server that restarts campaigns anew, with a new
// revision.
async function inSyncRevision(group, s) {
  const record = await cluster.record(group);
  return (record?.in_sync ?? []).find((m) => m.name === nameOf(s))?.revision ?? null;
}

// Whether the group's record lists server s in its in-sync set, by another
// revision than `stale` (that of a run of s that has died).
async function inSync(group, s, stale = null) {
  const revision = await inSyncRevision(group, s);
  return revision !== null && revision !== stale;
}

// Polls server s's log from byte `from` on until it matches `pattern` (a
// string or a RegExp): the moment it did, or null after `patience` ms.
async function awaitLog(s, from, pattern, patience) {
  const deadline = Date.now() + patience;
  for (;;) {
    const text = cluster.serverLog(s, from);
    if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) return now();
    if (Date.now() > deadline) return null;
    await sleep(20);
  }
}

// How the group's new active took over, by the last election its log shows
// from the offsets in `from` (server -> byte) on: in_sync, clean, degraded,
// or null if none of its servers says.
function takeoverKind(group, from) {
  let kind = null;
  for (const s of servers.filter((x) => x.group === group)) {
    const elected = cluster.serverLog(s, from.get(s)).split('\n').filter((l) => l.includes('elected (epoch'));
    const last = elected.pop();
    if (!last) continue;
    if (last.includes('in-sync takeover')) kind = 'in_sync';
    else if (last.includes('clean takeover')) kind = 'clean';
    else if (last.includes('degraded takeover')) kind = 'degraded';
  }
  return kind;
}

// The established TCP connections of server `from`'s process to server
// `to`'s port, as [local, peer] address pairs (ss -tnp).
function connections(from, to) {
  const out = spawnSync('ss', ['-tnpH', 'state', 'established', 'dst', nameOf(to)], { encoding: 'utf8' });
  if (out.status !== 0) return [];
  return out.stdout.split('\n').filter((l) => l.includes(`pid=${from.proc.pid},`))
    .map((l) => l.trim().split(/\s+/).slice(2, 4));
}

// Cuts the standby's replication stream from the active: both ends of its
// TCP connection destroyed (ss -K, which needs CAP_NET_ADMIN). How it was
// cut: 'ss -K', or, when ss could not, 'stall': the standby stopped
// (SIGSTOP) for the ack bound and a second, so that the active drops it.
async function cutReplication(standby, active) {
  const before = connections(standby, active);
  for (const [local, peer] of before) {
    for (const [src, dst] of [[local, peer], [peer, local]]) {
      spawnSync('ss', ['-K', '-tnH', 'state', 'established', 'src', src, 'dst', dst]);
    }
  }
  const left = new Set(connections(standby, active).map(([local]) => local));
  if (before.length > 0 && before.every(([local]) => !left.has(local))) return 'ss -K';
  standby.proc.kill('SIGSTOP');
  await sleep(ACK + 1000);
  standby.proc.kill('SIGCONT');
  return 'stall';
}

// ---- clients -----------------------------------------------------------------

const origin = now();
const checker = new IntervalChecker({ origin, report: (line) => console.log(line) });
const intervals = []; // everything checked, for the fencing check
let ops = 0;
const disconnects = { g0: 0, g1: 0 };
// Every resume: {group, t, inWindow, outcome}, outcome the lock the server
// reported (acquired, enqueued, none), gone (4410) or late (not resumed
// within the window); lost locks: what IntervalChecker.lose takes, and the
// group.
const resumes = [];
const lostLocks = [];
// Frames the protocol does not allow where they came: each a failure.
let unexpected = 0;
function surprise(what) {
  unexpected += 1;
  if (unexpected <= 10) console.log(`unexpected: ${what}`);
}

const RELEASE = JSON.stringify({ action: 'release' });
const EXPIRED = 'communication error: session expired: its lock is gone';
const FRAME_MS = 5000; // for a frame that is due at once
const STUCK_MS = 60000; // for a lock's answer, which may wait behind others

// One WebSocket connection: its frames in order, its end, and how long
// the server has been silent. It pings the server and ends itself once
// nothing (not even a pong) came for --silence-ms.
class Conn extends Inbox {
  static open(url) {
    const conn = new Conn(url);
    return new Promise((resolve, reject) => {
      conn.ws.once('open', () => {
        conn.openedAt = now();
        conn.heard = conn.openedAt;
        conn.pinger = setInterval(() => {
          if (msSince(conn.heard) > SILENCE) conn.ws.terminate();
          else conn.ws.ping();
        }, Math.max(50, SILENCE / 4));
        resolve(conn);
      });
      conn.ws.once('unexpected-response', (req, res) => {
        reject(new Error(`HTTP ${res.statusCode}`));
        conn.ws.terminate();
      });
      conn.ws.once('close', (code) => reject(new Error(`closed (${code}) before open`)));
    });
  }

  constructor(url) {
    super();
    this.ours = false; // closed by this client
    this.ws = new WebSocket(url, { handshakeTimeout: 2000, perMessageDeflate: false });
    this.ws.on('message', (data) => {
      this.heard = now();
      const text = data.toString();
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        m = { text };
      }
      m.t = this.heard;
      this.push(m);
    });
    this.ws.on('pong', () => { this.heard = now(); });
    this.ws.on('close', (code) => {
      clearInterval(this.pinger);
      this.finish(code);
    });
    this.ws.on('error', () => {}); // a close follows
  }

  send(text) {
    this.ws.send(text);
  }

  close() {
    this.ours = true;
    this.ws.close(1000);
  }

  terminate() {
    this.ours = true;
    this.ws.terminate();
  }
}

const show = (m) => (m.closed ? `close ${m.code}` : m.timeout ? 'nothing'
  : m.text ?? JSON.stringify(m, (k, v) => (k === 't' ? undefined : v)));

class Worker {
  constructor(number, ns, group) {
    this.number = number;
    this.ns = ns;
    this.group = group;
    // Each group's clients (every other one) take every window in turn.
    this.window = WINDOWS[Math.floor(number / 2) % WINDOWS.length];
    // The client's margin on its window, as the C++ client's: its lock is
    // its own until its last proof of life is older than the window less
    // this (docs/ha.md, What a client sees).
    this.margin = Math.max(this.window / 10, 100);
    this.who = `client ${number}`;
  }

  url(session) {
    return `ws://127.0.0.1:${cluster.proxyPort}/v1?namespace=${encodeURIComponent(this.ns)}&session=${session}`;
  }

  async run(stop) {
    while (!stop.done) {
      await this.session(stop);
      await sleep(50 + Math.random() * 100);
    }
  }

  // One session: lock cycles across every connection it takes, until it
  // ends (gone, given up, or the run stops).
  async session(stop) {
    let conn;
    try {
      conn = await Conn.open(this.url(`new&abandon-timeout-ms=${this.window}`));
    } catch {
      return; // no active yet (503), or the proxy's connection refused
    }
    const first = await conn.next(FRAME_MS);
    if (first.action !== 'session' || first.state !== 'new' || first['abandon-timeout-ms'] !== this.window) {
      if (!first.closed) surprise(`${this.who}: session=new answered with ${show(first)}`);
      conn.terminate();
      return;
    }
    // state: ready, locking (sent), enqueued, holding (since a), releasing
    // (cancelling: an enqueued lock's release, which its `acquired` may
    // cross)
    const s = { token: first.session, conn, state: 'ready', id: null, res: null, a: null, cancelling: false };
    for (;;) {
      if (s.state === 'ready') {
        if (stop.done) return s.conn.close();
        await sleep(Math.random() * 30);
        if (!s.conn.closeEvent) {
          s.res = randomLock();
          s.id = null;
          s.conn.send(lockMessage(s.res));
          s.state = 'locking';
        }
      } else if (s.state === 'holding') {
        await sleep(5 + Math.random() * 60);
        if (!s.conn.closeEvent) {
          s.conn.send(RELEASE);
          this.record(s, now());
          s.state = 'releasing';
        }
      }
      const m = await s.conn.next(STUCK_MS);
      if (m.timeout) {
        surprise(`${this.who}: no answer within ${STUCK_MS} ms while ${s.state} ${s.id ?? ''}`);
        s.conn.terminate();
        return;
      }
      if (m.closed || m.text?.startsWith('communication error')) {
        // A refusal (a draining server's, say) ends the connection, not
        // the session: its close follows.
        if (!m.closed) await s.conn.next(FRAME_MS);
        if (!await this.resume(s, stop)) return;
        continue;
      }
      if (!this.answer(s, m)) {
        surprise(`${this.who}: ${show(m)} while ${s.state} (lock ${s.id})`);
        s.conn.terminate();
        return;
      }
    }
  }

  // An answer on the session's connection; false if the protocol does not
  // allow it now.
  answer(s, m) {
    if (s.state === 'locking' && m.action === 'lock' && typeof m.id === 'string') {
      s.id = m.id;
      if (m.state === 'enqueued') {
        s.state = 'enqueued';
        return true;
      }
      if (m.state === 'acquired') return this.acquired(s, m.t);
    }
    if (s.state === 'enqueued' && m.action === 'lock' && m.state === 'acquired' && m.id === s.id) {
      return this.acquired(s, m.t);
    }
    if (s.state === 'releasing' && m.action === 'release' && m.state === 'ready' && m.id === s.id) {
      ops += 1;
      s.state = 'ready';
      s.cancelling = false;
      return true;
    }
    return s.state === 'releasing' && s.cancelling && m.action === 'lock' && m.state === 'acquired' && m.id === s.id;
  }

  acquired(s, t) {
    s.state = 'holding';
    s.a = t;
    return true;
  }

  // The connection is gone: resumes the session through the same URL
  // until its window has passed since the last proof of life, and goes on
  // from the lock the server reports. A lock held meanwhile is one
  // interval if the server confirms it within the window; past the window
  // the client has stopped using it (its interval ends there), and it
  // still resumes, to release what the server kept. False once the
  // session is over.
  async resume(s, stop) {
    const old = s.conn;
    if (!old.ours) disconnects[this.group] += 1;
    old.terminate();
    const deadline = old.heard + ns2ms(this.window - this.margin);
    let late = false;
    let pause = 20;
    for (;;) {
      if (!late && now() >= deadline) {
        late = true;
        resumes.push({ group: this.group, t: deadline, inWindow: false, outcome: 'late' });
        if (s.state === 'holding') this.record(s, deadline);
      }
      if (stop.done) {
        if (s.state === 'holding' && !late) this.record(s, deadline);
        return false;
      }
      // The server keeps a session for its window after a failover at
      // most, and a degraded one's grace: past that it is gone.
      if (now() > deadline + ns2ms(GRACE + this.window)) return false;
      await sleep(pause);
      pause = Math.min(pause * 2, 400);
      let conn;
      try {
        conn = await Conn.open(this.url(s.token));
      } catch {
        continue; // 503 until the group has an active; 429 after failed resumes
      }
      // The server took the resume before it answered the upgrade.
      const inWindow = !late && conn.openedAt < deadline;
      const first = await conn.next(FRAME_MS);
      s.conn = conn;
      if (first.timeout) {
        surprise(`${this.who}: no answer to a resume`);
        conn.terminate();
        return false;
      }
      if (first.closed || first.text !== undefined) {
        const end = first.closed ? first : await conn.next(FRAME_MS);
        if (first.text !== undefined && first.text !== EXPIRED) {
          surprise(`${this.who}: resume answered with ${show(first)}`);
        } else if (end.code === 1006 || end.code === 1012) {
          continue; // the server went away meanwhile: again
        } else if (end.code !== 4410) {
          surprise(`${this.who}: resume answered with ${show(first)}, then ${show(end)}`);
        }
        resumes.push({ group: this.group, t: first.t ?? now(), inWindow, outcome: 'gone' });
        if (inWindow && (s.state === 'enqueued' || s.state === 'holding')) this.lose(s, first.t ?? now(), '4410');
        conn.terminate();
        return false;
      }
      if (first.action !== 'session' || first.state !== 'resumed' || first.session !== s.token ||
          !['acquired', 'enqueued', 'none'].includes(first.lock) || (first.lock === 'none') !== (first.id === undefined)) {
        surprise(`${this.who}: resume while ${s.state} answered with ${show(first)}`);
        conn.terminate();
        return false;
      }
      resumes.push({ group: this.group, t: first.t, inWindow, outcome: first.lock });
      return this.resumed(s, first, late, inWindow);
    }
  }

  // Goes on from a `resumed` frame: false if the session is over.
  resumed(s, first, late, inWindow) {
    const { lock } = first;
    const told = s.state === 'enqueued' || s.state === 'holding' || s.state === 'releasing';
    if (told && lock !== 'none' && first.id !== s.id) {
      // Another lock than the one it was told of: never right.
      this.lose(s, first.t, `lock ${first.id} ${lock}`);
      s.conn.terminate();
      return false;
    }
    if (lock === 'none' && (s.state === 'enqueued' || s.state === 'holding')) {
      if (inWindow) this.lose(s, first.t, 'none');
      s.state = 'ready';
      return true;
    }
    if (lock === 'enqueued' && s.state === 'holding') {
      // Told acquired before, enqueued now: it lost its place.
      this.lose(s, first.t, 'enqueued');
      s.conn.terminate();
      return false;
    }
    if (s.state === 'ready' && lock !== 'none') {
      surprise(`${this.who}: resumed while ready with ${show(first)}`);
      s.conn.terminate();
      return false;
    }
    if (s.state === 'locking') {
      if (lock === 'none') {
        s.state = 'ready';
        return true;
      }
      s.id = first.id;
      s.state = 'enqueued';
    }
    if (s.state === 'releasing') {
      if (lock === 'none') {
        ops += 1;
        s.state = 'ready';
        s.cancelling = false;
      } else {
        s.conn.send(RELEASE);
      }
      return true;
    }
    if (late && lock !== 'none') {
      // Not used since the window passed: given back.
      s.conn.send(RELEASE);
      s.cancelling = lock === 'enqueued';
      s.state = 'releasing';
      return true;
    }
    if (lock === 'acquired' && s.state === 'enqueued') this.acquired(s, first.t);
    return true;
  }

  lose(s, t, how) {
    lostLocks.push({ group: this.group, ns: this.ns, who: this.who, id: s.id, state: s.state, how, t });
    if (s.state === 'holding') this.record(s, t);
  }

  record(s, r) {
    const iv = { ns: this.ns, a: s.a, r, res: s.res, who: this.who, id: BigInt(s.id) };
    checker.add(iv);
    intervals.push(iv);
  }
}

// Fencing: among conflicting locks, the one acquired later has the larger
// ID. Per namespace and path, the largest ID acquired so far by a read and
// by a write; a lock must be above every conflicting one.
function idRegressions() {
  const OVERLAP = PATHS.map((p) => PATHS.map((q) => {
    const n = Math.min(p.length, q.length);
    for (let i = 0; i < n; i += 1) if (p[i] !== q[i]) return false;
    return true;
  }));
  const sorted = [...intervals].sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
  const seen = new Map();
  let regressions = 0;
  for (const iv of sorted) {
    if (!seen.has(iv.ns)) seen.set(iv.ns, { r: PATHS.map(() => 0n), w: PATHS.map(() => 0n) });
    const { r, w } = seen.get(iv.ns);
    let limit = 0n;
    for (const code of iv.res) {
      const p = code >> 1;
      const writes = (code & 1) === 1;
      for (let q = 0; q < PATHS.length; q += 1) {
        if (!OVERLAP[p][q]) continue;
        if (w[q] > limit) limit = w[q];
        if (writes && r[q] > limit) limit = r[q];
      }
    }
    if (iv.id <= limit) {
      regressions += 1;
      if (regressions <= 10) {
        console.log(`id-regression: ${iv.who} acquired lock ${iv.id} in ${iv.ns} at ` +
          `${(Number(iv.a - origin) / 1e6).toFixed(0)} ms after a conflicting lock ${limit}`);
      }
    }
    for (const code of iv.res) {
      const p = code >> 1;
      const table = (code & 1) === 1 ? w : r;
      if (iv.id > table[p]) table[p] = iv.id;
    }
  }
  return regressions;
}

// One lock request straight to server s (not through the proxy): the
// refusal's status, or 101 and the ID if a write lock was acquired (which
// the checker then holds against every other client's).
function straightLock(s, ns) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/v1?namespace=${encodeURIComponent(ns)}&abandon-timeout-ms=0`,
      { handshakeTimeout: 2000 });
    const res = [1]; // write of the first path, as lockMessage codes it
    let settled = false;
    const done = (v) => {
      if (settled) return;
      settled = true;
      ws.terminate();
      resolve(v);
    };
    ws.on('unexpected-response', (req, r) => done({ status: r.statusCode }));
    ws.on('open', () => ws.send(lockMessage(res)));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.action === 'lock' && m.state === 'acquired') {
        const iv = { ns, a: now(), r: now(), res, who: `straight to ${s.name}`, id: BigInt(m.id) };
        checker.add(iv);
        intervals.push(iv);
        done({ status: 101, id: m.id });
      }
    });
    ws.on('error', () => done({ status: 0 }));
    setTimeout(() => done({ status: 101 }), 2000);
  });
}

// ---- probes: how long a group cannot grant ------------------------------------

// How long a probe attempt may go unanswered before the next one starts.
const PROBE_STUCK_MS = 1000;

// Locks a path of its own in the probe namespace, again and again, each on a
// new connection without a session: a lock an active took with it to a
// replica (abandoned on the new active after its window) then blocks no
// later probe.
class Probe {
  constructor(ns) {
    this.ns = ns;
    this.lastGrant = now();
    this.maxGap = 0;
    this.grants = 0;
    this.n = 0;
    this.since = null; // mark()
    this.firstGrant = null; // the first grant of a connection opened since
  }
  async run(stop) {
    while (!stop.done) {
      const opened = now();
      this.n += 1;
      const lock = JSON.stringify({ action: 'lock', resources: [{ type: 'write', path: ['probe', String(this.n)] }] });
      const attempt = new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.proxyPort}/v1?namespace=${this.ns}&abandon-timeout-ms=0`,
          { handshakeTimeout: 1000 });
        const done = () => { clearTimeout(timer); ws.terminate(); resolve(); };
        const timer = setTimeout(done, 20000);
        ws.on('open', () => ws.send(lock));
        ws.on('message', (data) => {
          const text = data.toString();
          // A server that began to drain refuses the lock: try again.
          if (text.startsWith('communication error')) return done();
          const m = JSON.parse(text);
          if (m.action === 'lock' && m.state === 'acquired') {
            this.granted(opened);
            done();
          }
        });
        ws.on('error', done);
        ws.on('close', done);
      });
      // An attempt unanswered for PROBE_STUCK_MS (its lock sent to a server
      // that was then paused, or killed before the proxy saw it) goes on
      // alone, and the next one starts: one such attempt must not hide the
      // new active's first grant for the 20 s of its own timer.
      await Promise.race([attempt, sleep(PROBE_STUCK_MS)]);
      await sleep(20);
    }
  }
  granted(opened) {
    const t = now();
    this.maxGap = Math.max(this.maxGap, msBetween(this.lastGrant, t));
    this.lastGrant = t;
    this.grants += 1;
    if (this.since !== null && this.firstGrant === null && opened > this.since) this.firstGrant = t;
  }
  // From t on: the longest gap between grants, and the first grant of a
  // connection opened after t.
  mark(t) {
    this.since = t;
    this.firstGrant = null;
    this.maxGap = 0;
  }
  currentGap() {
    return Math.max(this.maxGap, msSince(this.lastGrant));
  }
  // Waits for the first grant after the mark: ms from the mark, or null.
  async recovered(patience, what) {
    if (!await waitFor(async () => this.firstGrant !== null, patience, what)) return null;
    return msBetween(this.since, this.firstGrant);
  }
}

// ---- the run -------------------------------------------------------------------

// The resumes of `group`'s clients from `t` to `until`: within their
// windows, by what the server said (the lock's state, or gone: 4410), and
// how many sessions passed their window before they could resume.
function resumeCounts(group, t, until) {
  const c = { inWindow: 0, acquired: 0, enqueued: 0, none: 0, gone: 0, late: 0 };
  for (const r of resumes) {
    if (r.group !== group || r.t < t || r.t >= until) continue;
    if (r.inWindow) {
      c.inWindow += 1;
      c[r.outcome] += 1;
    } else if (r.outcome === 'late') {
      c.late += 1;
    }
  }
  return `resumes in window ${c.inWindow} (acquired ${c.acquired}, enqueued ${c.enqueued}, none ${c.none}, ` +
    `gone ${c.gone}), past the window ${c.late}`;
}

// The round a lost lock belongs to: its group's last round before it.
const roundOf = (ev, rounds) => rounds.filter((r) => r.group === ev.group && r.t0 !== null && r.t0 <= ev.t).pop();

// Whether a lost lock may be forgiven: its round's takeover was degraded
// with no in-sync standby in the record, or the record itself was lost.
const forgiven = (round) => round !== undefined &&
  (round.kind === 'record-loss' || (round.takeover === 'degraded' && round.inSyncBefore === false));

async function main() {
  for (const [tool, found] of [['etcd', etcdBinary()], ['haproxy', haproxyBinary()]]) {
    if (!found) {
      console.log(`failover: ${tool} is not installed (scripts/setup.sh installs it)`);
      process.exit(2);
    }
  }
  await cluster.start();
  for (const g of GROUPS) await waitFor(async () => (await cluster.active(g)) !== null, 30000, `group ${g} to elect an active`);

  // Namespaces: two of each group, and a probe namespace per group.
  const names = { g0: [], g1: [] };
  const probes = {};
  for (let i = 0; names.g0.length < 3 || names.g1.length < 3; i += 1) {
    const ns = `failover-${i}`;
    const g = `g${await groupOf(ns)}`;
    if (names[g] && names[g].length < 3) names[g].push(ns);
  }
  for (const g of GROUPS) probes[g] = new Probe(names[g].pop());

  const stop = { done: false };
  const workers = [];
  const clients = num('clients');
  for (let i = 0; i < clients; i += 1) {
    const g = i % 2 === 0 ? 'g0' : 'g1';
    const ns = names[g][Math.floor(i / 2) % names[g].length];
    workers.push(new Worker(i, ns, g));
  }
  const running = [...workers.map((w) => w.run(stop)), ...Object.values(probes).map((p) => p.run(stop))];
  const ticker = setInterval(() => checker.advance(now() - 120_000_000_000n), 5000);

  let faults = 0;
  let maxUnavailable = 0;
  const stats = {}; // kind -> [ms unavailable, with the takeover's kind]
  const rejoins = {}; // kind -> [ms until the standby was in sync again]
  const rounds = [];
  let catchingUp = 0; // kill-catching-up rounds so far
  for (let n = 0; n < ROUNDS && failures.length === 0; n += 1) {
    const kind = FAULTS[n % FAULTS.length];
    const group = n % 2 === 0 ? 'g0' : 'g1';
    const other = group === 'g0' ? 'g1' : 'g0';
    const round = { n, kind, group, t0: null, inSyncBefore: null, takeover: null, lost: 0, lostDegraded: 0 };
    rounds.push(round);
    await sleep(LOAD);
    const victim = await cluster.active(group);
    if (!victim) {
      fail(`round ${n}: group ${group} has no active before the fault`);
      break;
    }
    const standby = otherOf(group, victim);
    // Every fault starts with the standby in sync.
    if (!await waitFor(() => inSync(group, standby), REJOIN + 10000,
      `round ${n}: ${standby.name} to be in ${group}'s in-sync set before the fault`)) break;
    faults += 1;
    const before = { ...disconnects };
    const from = new Map(servers.map((s) => [s, cluster.logEnd(s)]));
    let recovery = null; // ms from the fault (or the resign) to serving again
    let rejoin = null; // ms from the standby's restart (or the cut) to in sync
    const fault = (what = '') => {
      round.t0 = now();
      probes[group].mark(round.t0);
      probes[other].mark(round.t0);
      console.log(`round ${n}: ${kind} on ${group} (active ${victim.name}, standby ${standby.name})${what}`);
    };
    // The record as the fault left it (only the active writes its in-sync
    // set, and the new one only once it has been elected, a lease later).
    const recordInSync = async (stale = null) => { round.inSyncBefore = await inSync(group, standby, stale); };
    // After a takeover: its kind, which must agree with the record's
    // in-sync set at the fault, and the bound on the time it took.
    const checkTakeover = (bounded) => {
      round.takeover = takeoverKind(group, from);
      if (round.inSyncBefore && round.takeover !== 'in_sync' && round.takeover !== 'clean') {
        fail(`round ${n}: ${kind}: ${standby.name} was in the in-sync set, yet took over ${round.takeover}`);
      }
      if (!round.inSyncBefore && round.takeover === 'in_sync') {
        fail(`round ${n}: ${kind}: ${standby.name} was not in the in-sync set, yet took over in sync (no grace)`);
      }
      if (!bounded || recovery === null) return;
      const limit = round.takeover === 'in_sync' ? IN_SYNC_BOUND : GRACE + 2000;
      if (recovery > limit) {
        fail(`round ${n}: ${kind}: ${group} served again after ${recovery.toFixed(0)} ms, over ` +
          `${round.takeover === 'in_sync' ? 'TTL + 1 s' : 'the grace + 2 s'} (${limit} ms)`);
      }
      if (round.takeover === 'degraded' && recovery < GRACE) {
        fail(`round ${n}: ${kind}: ${group} served again ${recovery.toFixed(0)} ms after a degraded takeover, within the grace`);
      }
    };
    // The standby back in the in-sync set: its name in the active's log
    // (from byte `at` on) and in the record; ms since `t`.
    const awaitRejoin = async (active, at, t) => {
      const seen = await awaitLog(active, at, `in-sync standbys becoming [${nameOf(standby)}]`, REJOIN + 10000);
      if (seen === null || !await waitFor(() => inSync(group, standby), 5000, `${standby.name} in the record's in-sync set`)) {
        fail(`round ${n}: ${kind}: ${standby.name} not back in sync within ${REJOIN + 10000} ms`);
        return null;
      }
      const ms = msBetween(t, seen);
      if (ms > REJOIN) fail(`round ${n}: ${kind}: ${standby.name} back in sync after ${ms.toFixed(0)} ms, over ${REJOIN} ms`);
      return ms;
    };
    // The active kept serving through a fault of its standby's: no other
    // active, and a gap between grants within the ack bound + 1 s.
    const checkActiveServed = async () => {
      if ((await cluster.active(group)) !== victim) fail(`round ${n}: ${kind}: ${victim.name} is no longer ${group}'s active`);
      recovery = probes[group].currentGap();
      if (recovery > ACK + 1000) {
        fail(`round ${n}: ${kind}: ${victim.name} granted nothing for ${recovery.toFixed(0)} ms, over the ack bound + 1 s (${ACK + 1000} ms)`);
      }
    };
    // kill -9 of server s; resolves once the supervisor has started it again.
    const killAndRestart = async (s) => {
      const proc = s.proc;
      proc.kill('SIGKILL');
      await waitFor(async () => s.proc !== proc && alive(s.proc), 5000, `${s.name} to be restarted`);
      return s.started;
    };
    switch (kind) {
      case 'kill9':
      case 'one-group': {
        fault();
        victim.proc.kill('SIGKILL');
        await recordInSync();
        recovery = await probes[group].recovered(GRACE + 10000, `${group} to serve again`);
        checkTakeover(true);
        if (kind === 'one-group' && disconnects[other] !== before[other]) {
          fail(`round ${n}: one-group: ${disconnects[other] - before[other]} disconnects in the other group`);
        }
        break;
      }
      case 'kill-standby': {
        fault();
        const restarted = await killAndRestart(standby);
        rejoin = await awaitRejoin(victim, from.get(victim), restarted);
        await checkActiveServed();
        break;
      }
      case 'blip-replication': {
        fault();
        const how = await cutReplication(standby, victim);
        console.log(`  blip-replication: cut by ${how}`);
        if (await awaitLog(victim, from.get(victim), new RegExp(`standby ${nameOf(standby)}('s stream ended| dropped)`),
          5000) === null) {
          fail(`round ${n}: blip-replication: ${victim.name} did not see its stream to ${standby.name} end`);
        }
        rejoin = await awaitRejoin(victim, from.get(victim), round.t0);
        await checkActiveServed();
        break;
      }
      case 'kill-catching-up': {
        catchingUp += 1;
        if (catchingUp % 2 === 1) {
          // The standby stopped until the active has dropped it from the
          // in-sync set for lagging (and served on alone), the active
          // killed, the standby let go: its replica lacks what the active
          // did alone.
          standby.proc.kill('SIGSTOP');
          await waitFor(async () => !await inSync(group, standby), 5000, `${victim.name} to drop ${standby.name}`);
          fault(`, ${standby.name} stopped and dropped from the in-sync set`);
          victim.proc.kill('SIGKILL');
          standby.proc.kill('SIGCONT');
          await recordInSync();
        } else {
          // The standby killed and started again, the active killed right
          // after: the record may still list the standby's dead run (by
          // its candidacy's revision), never the new one.
          const stale = await inSyncRevision(group, standby);
          await cluster.stopServer(standby, 'SIGKILL');
          cluster.startServer(standby);
          fault(`, right after restarting ${standby.name}`);
          victim.proc.kill('SIGKILL');
          await recordInSync(stale);
        }
        recovery = await probes[group].recovered(GRACE + 10000, `${group} to serve again`);
        checkTakeover(true);
        break;
      }
      case 'sigstop': {
        fault();
        victim.proc.kill('SIGSTOP');
        await recordInSync();
        recovery = await probes[group].recovered(GRACE + 10000, `${group} to serve again`);
        checkTakeover(false);
        await sleep(GRACE + 2000 - msSince(round.t0));
        victim.proc.kill('SIGCONT');
        break;
      }
      case 'cut-etcd': {
        fault();
        for (const f of victim.forwarders) f.setCut(true);
        await recordInSync();
        await sleep(2 * TTL);
        for (const f of victim.forwarders) f.setCut(false);
        const uncut = now();
        await waitFor(async () => probes[group].lastGrant > uncut, GRACE + 15000, `${group} to serve again`);
        recovery = probes[group].maxGap;
        checkTakeover(false);
        break;
      }
      case 'etcd-leader': {
        const leader = await etcd.leader();
        if (leader === null) {
          fail(`round ${n}: no etcd leader to kill`);
          break;
        }
        fault(`: killing etcd ${etcd.members[leader].name}`);
        await etcd.kill(leader);
        await sleep(3 * TTL);
        etcd.restart(leader);
        const lost = disconnects.g0 + disconnects.g1 - before.g0 - before.g1;
        if (lost > 0) fail(`round ${n}: killing etcd's leader disconnected ${lost} clients`);
        recovery = Math.max(probes.g0.currentGap(), probes.g1.currentGap());
        break;
      }
      case 'switchover': {
        fault();
        victim.proc.kill('SIGTERM');
        const resigned = await awaitLog(victim, from.get(victim), 'resigning cleanly', 20000);
        if (resigned === null) {
          fail(`round ${n}: switchover: ${victim.name} did not resign within 20 s`);
          break;
        }
        round.inSyncBefore = true; // waited for above
        await probes[group].recovered(20000, `${group} to hand over cleanly`);
        if (probes[group].firstGrant !== null) {
          recovery = msBetween(resigned, probes[group].firstGrant);
          if (recovery > 1000) fail(`round ${n}: switchover: ${group} served again ${recovery.toFixed(0)} ms after the resign, over 1 s`);
        }
        checkTakeover(false);
        break;
      }
      case 'wrong-group': {
        fault();
        // Straight to the other group's active, this group's namespaces.
        const wrong = await cluster.active(other);
        let refused = 0;
        for (const ns of [...names[group], probes[group].ns]) {
          for (let i = 0; i < 5; i += 1) {
            const got = await straightLock(wrong, ns);
            if (got.status === 421) refused += 1;
            else fail(`round ${n}: wrong-group: ${wrong.name} (group ${other}) answered ${got.status} for ${ns} of group ${group}${got.id ? `, lock ${got.id} acquired` : ''}`);
          }
        }
        console.log(`  wrong-group: ${refused} straight requests to ${wrong.name} refused with 421`);
        break;
      }
      case 'record-loss': {
        fault();
        const key = Buffer.from(`/locktopus/${group}/record`).toString('base64');
        if (!await etcd.post('/v3/kv/deleterange', { key })) fail(`round ${n}: record-loss: etcd did not delete`);
        const proc = victim.proc;
        proc.kill('SIGKILL');
        // Grants the victim sent before it died (it was the active, with a
        // record, when it sent them) may still be on their way: counted
        // once it is gone and they have arrived.
        if (alive(proc)) await new Promise((resolve) => proc.once('exit', resolve));
        await sleep(250);
        // Longer than a failover takes: the group must grant nothing.
        const seen = probes[group].grants;
        await sleep(GRACE + 2000);
        if (probes[group].grants !== seen) {
          fail(`round ${n}: record-loss: ${group} granted ${probes[group].grants - seen} locks without a record`);
        }
        // The operator: stop the group's servers, initialise, start them.
        const groupServers = servers.filter((x) => x.group === group);
        for (const x of groupServers) await cluster.stopServer(x, 'SIGKILL');
        let init = null;
        await waitFor(async () => {
          init = cluster.haInit();
          return init.code === 0;
        }, 10000, `locktopus --ha-init to succeed (${init?.output})`);
        console.log(`  record-loss: ${init?.output.split('\n').pop()}`);
        const restarted = now();
        for (const x of groupServers) cluster.startServer(x);
        await waitFor(async () => probes[group].lastGrant > restarted, GRACE + 15000, `${group} to serve again`);
        recovery = msBetween(round.t0, probes[group].lastGrant);
        break;
      }
      default:
        fail(`unknown fault ${kind}`);
    }
    const takeover = round.takeover ? `${round.takeover.replace('_', '-')} takeover, ` : '';
    if (recovery !== null) {
      maxUnavailable = Math.max(maxUnavailable, recovery);
      (stats[kind] ??= []).push(`${Math.round(recovery)}${round.takeover ? ` ${round.takeover}` : ''}`);
    }
    if (rejoin !== null) (rejoins[kind] ??= []).push(Math.round(rejoin));
    console.log(`  ${kind}: ${takeover}${recovery === null ? '' : `unavailable ${recovery.toFixed(0)} ms, `}` +
      `${rejoin === null ? '' : `standby in sync again after ${rejoin.toFixed(0)} ms, `}` +
      `disconnects g0 ${disconnects.g0 - before.g0}, g1 ${disconnects.g1 - before.g1}`);
    // Both groups serve before the next round.
    for (const g of GROUPS) await waitFor(async () => (await cluster.active(g)) !== null, GRACE + 15000, `group ${g} to have an active`);
  }

  stop.done = true;
  await Promise.race([Promise.all(running), sleep(MAX_ABANDON + GRACE + 10000)]);
  clearInterval(ticker);
  let lost = 0;
  let lostDegraded = 0;
  for (const ev of lostLocks) {
    const round = roundOf(ev, rounds);
    if (forgiven(round)) {
      lostDegraded += 1;
      round.lostDegraded += 1;
    } else {
      lost += 1;
      if (round) round.lost += 1;
      checker.lose(ev);
    }
  }
  checker.finish();
  const regressions = idRegressions();
  await cluster.stop({ graceful: false });
  for (const [kind, list] of Object.entries(stats)) console.log(`  ${kind}: unavailable [${list.join(', ')}] ms`);
  for (const [kind, list] of Object.entries(rejoins)) console.log(`  ${kind}: standby in sync again after [${list.join(', ')}] ms`);
  // Each round's resumes, until the next round's fault.
  const faulted = rounds.filter((r) => r.t0 !== null);
  for (const [i, r] of faulted.entries()) {
    console.log(`  round ${r.n} ${r.kind} on ${r.group}: ${resumeCounts(r.group, r.t0, faulted[i + 1]?.t0 ?? now())}; ` +
      `lost ${r.lost}, lost-degraded ${r.lostDegraded}`);
  }
  if (unexpected > 0) fail(`${unexpected} frames the protocol does not allow where they came (above)`);
  const ok = failures.length === 0 && checker.violations === 0 && regressions === 0 && lost === 0;
  console.log(summary(Math.min(ROUNDS, faults), faults, {
    regressions, lost, max: Math.round(maxUnavailable),
    tail: `lost-degraded ${lostDegraded}, ops ${ops}, checked ${checker.checked}; ${ok ? 'ok' : `FAIL (${failures.length})`}`,
  }));
  if (!ok && opt.keep) console.log(`logs in ${dir}`);
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  fail(err.stack);
  console.log(summary(0, 0, { tail: 'FAIL' }));
  process.exit(1);
});
