// The failover driver: a whole HA cluster on loopback under load, one fault
// per round. 3 etcd members; 2 groups of 2 Locktopus servers, each under a
// supervisor that restarts it (as systemd's Restart= would) and each
// talking to etcd through TCP forwarders of its own, so that it can be cut
// off from etcd alone; HAProxy in front (packaging/haproxy/): the cluster
// of tests/lib/cluster.mjs, as scripts/cluster.sh starts it. About 100
// clients lock overlapping read/write paths in 4 namespaces (2 per group)
// through the proxy. A client that loses its connection, or hears nothing
// (not even a pong) for --silence-ms, keeps "using" what it held for its
// abandon timeout, then reconnects through the same URL.
//
// Faults, one per round, in turn:
//   kill9       kill -9 of a group's active
//   sigstop     SIGSTOP of an active for longer than the grace, then SIGCONT
//   cut-etcd    an active cut off from etcd (its forwarders closed) while its
//               clients stay connected
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
//
// Checks, over every round:
//   violations      two clients held conflicting locks at once (by their
//                   own clocks, CLOCK_MONOTONIC; tests/chaos/intervals.mjs);
//   id-regressions  a lock acquired after a conflicting one has a smaller
//                   or equal ID: its fencing token went back;
//   and per fault kind: after kill9/one-group the group serves again within
//   the grace + 2 s; a switchover serves again within 1 s of the resign;
//   killing etcd's leader disconnects no client; during one-group the other
//   group sees no disconnect at all.
// The last line is
//   failover: rounds R, faults F, violations V, id-regressions I, max-unavailable-ms M
// and the exit status is 0 only if every check held.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { IntervalChecker, PATHS, decode, lockMessage, randomLock } from '../chaos/intervals.mjs';
import { HaCluster, etcdBinary, haproxyBinary, request } from '../lib/cluster.mjs';
import { driverOptions, failureList } from '../lib/driver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => process.hrtime.bigint();
const msSince = (t) => Number(now() - t) / 1e6;

const OPTIONS = {
  bin: { type: 'string', default: path.join(root, 'build/release/bin/locktopus') },
  rounds: { type: 'string', default: '20' },
  clients: { type: 'string', default: '100' },
  'ttl-ms': { type: 'string', default: '2000' },
  'max-abandon-ms': { type: 'string', default: '5000' },
  'silence-ms': { type: 'string', default: '1000' },
  'load-ms': { type: 'string', default: '3000' },
  faults: { type: 'string', default: 'kill9,sigstop,cut-etcd,etcd-leader,switchover,one-group,wrong-group,record-loss' },
  keep: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};
const { opt, num } = driverOptions('failover', OPTIONS);
const ROUNDS = num('rounds');
const TTL = num('ttl-ms');
const MAX_ABANDON = num('max-abandon-ms');
const SILENCE = num('silence-ms');
const LOAD = num('load-ms');
// The server's grant window and the grace after an unclean death
// (server/core/ha/node.h): TTL - margin, and window + max abandon + margin.
const MARGIN = Math.max(TTL / 5, 200);
const GRACE = TTL - MARGIN + MAX_ABANDON + MARGIN;
const FAULTS = opt.faults.split(',');
const ABANDONS = [0, 1000, 2000, 3000].filter((a) => a <= MAX_ABANDON);
const GROUPS = ['g0', 'g1'];

const { failures, fail } = failureList();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-failover-'));
process.on('exit', () => {
  if (!opt.keep) fs.rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(`failover: rounds 0, faults 0, violations 0, id-regressions 0, max-unavailable-ms 0; FAIL: interrupted by ${sig}`);
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
// whenever it exits, as systemd's Restart= would.
const cluster = new HaCluster({
  bin: opt.bin,
  dir,
  groups: GROUPS,
  etcd: { heartbeatMs: 50, electionTimeoutMs: 500 },
  serverArgs: ['--ha-ttl-ms', String(TTL), '--max-abandon-timeout', String(MAX_ABANDON),
    '--default-abandon-timeout', '1000', '--keepalive-ms', '1000'],
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

// ---- clients -----------------------------------------------------------------

const origin = now();
const checker = new IntervalChecker({ origin, report: (line) => console.log(line) });
const intervals = []; // everything checked, for the fencing check
let ops = 0;
const disconnects = { g0: 0, g1: 0 };

class Worker {
  constructor(number, ns, group) {
    this.number = number;
    this.ns = ns;
    this.group = group;
    this.abandon = ABANDONS[number % ABANDONS.length];
    this.busyUntil = 0n; // still "using" a lost lock until then
  }

  url() {
    return `ws://127.0.0.1:${cluster.proxyPort}/v1?namespace=${encodeURIComponent(this.ns)}&abandon-timeout-ms=${this.abandon}`;
  }

  async run(stop) {
    while (!stop.done) {
      const wait = Number(this.busyUntil - now()) / 1e6;
      if (wait > 0) await sleep(wait);
      await this.session(stop);
      await sleep(50 + Math.random() * 100);
    }
  }

  // One connection, cycles until it ends. Resolves when it has ended.
  session(stop) {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url(), { handshakeTimeout: 2000 });
      let heard = now();
      let held = null; // {id, res, a}
      let lock = null;
      let ended = false;
      let opened = false;
      let pinger = null;
      const end = (lost) => {
        if (ended) return;
        ended = true;
        clearInterval(pinger);
        if (held) {
          // It may still be ours until the abandon timeout has passed.
          const r = lost ? now() + BigInt(this.abandon) * 1_000_000n : now();
          this.record(held, r);
          this.busyUntil = r;
          held = null;
        }
        if (lost && opened) disconnects[this.group] += 1;
        ws.terminate();
        resolve();
      };
      const next = () => {
        if (stop.done) return end(false);
        lock = { res: randomLock(), sent: now() };
        ws.send(lockMessage(lock.res));
      };
      ws.on('open', () => {
        opened = true;
        heard = now();
        pinger = setInterval(() => {
          if (msSince(heard) > SILENCE) return end(true);
          try { ws.ping(); } catch { end(true); }
        }, Math.max(50, SILENCE / 4));
        next();
      });
      ws.on('pong', () => { heard = now(); });
      ws.on('message', (data) => {
        heard = now();
        const text = data.toString();
        if (text.startsWith('communication error')) return end(true);
        const m = JSON.parse(text);
        if (m.action === 'lock' && m.state === 'acquired') {
          held = { id: BigInt(m.id), res: lock.res, a: now() };
          setTimeout(() => {
            if (ended) return;
            this.record(held, now());
            held = null;
            ws.send('{"action":"release"}');
          }, 5 + Math.random() * 60);
        } else if (m.action === 'release' && m.state === 'ready') {
          ops += 1;
          setTimeout(() => { if (!ended) next(); }, Math.random() * 30);
        }
      });
      ws.on('close', () => end(true));
      ws.on('error', () => end(true));
    });
  }

  record(h, r) {
    const iv = { ns: this.ns, a: h.a, r, res: h.res, who: `client ${this.number}`, id: h.id };
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

class Probe {
  constructor(ns) {
    this.ns = ns;
    this.lastGrant = now();
    this.maxGap = 0;
    this.grants = 0;
  }
  async run(stop) {
    while (!stop.done) {
      await new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${cluster.proxyPort}/v1?namespace=${this.ns}&abandon-timeout-ms=0`,
          { handshakeTimeout: 1000 });
        const done = () => { ws.terminate(); resolve(); };
        const timer = setTimeout(done, 20000);
        ws.on('open', () => ws.send(lockMessage([3])));
        ws.on('message', (data) => {
          const text = data.toString();
          // A server that began to drain refuses the lock: try again.
          if (text.startsWith('communication error')) {
            clearTimeout(timer);
            done();
            return;
          }
          const m = JSON.parse(text);
          if (m.action === 'lock' && m.state === 'acquired') {
            const gap = msSince(this.lastGrant);
            this.maxGap = Math.max(this.maxGap, gap);
            this.lastGrant = now();
            this.grants += 1;
            clearTimeout(timer);
            done();
          }
        });
        ws.on('error', () => { clearTimeout(timer); done(); });
        ws.on('close', () => { clearTimeout(timer); done(); });
      });
      await sleep(20);
    }
  }
  // The longest gap between grants from now on.
  reset() {
    this.maxGap = 0;
  }
  currentGap() {
    return Math.max(this.maxGap, msSince(this.lastGrant));
  }
}

// ---- the run -------------------------------------------------------------------

async function main() {
  for (const [tool, found] of [['etcd', etcdBinary()], ['haproxy', haproxyBinary()]]) {
    if (!found) {
      console.log(`failover: ${tool} is not installed (scripts/setup.sh installs it)`);
      process.exit(2);
    }
  }
  await cluster.start();
  for (const g of ['g0', 'g1']) await waitFor(async () => (await cluster.active(g)) !== null, 30000, `group ${g} to elect an active`);

  // Namespaces: two of each group, and a probe namespace per group.
  const names = { g0: [], g1: [] };
  const probes = {};
  for (let i = 0; names.g0.length < 3 || names.g1.length < 3; i += 1) {
    const ns = `failover-${i}`;
    const g = `g${await groupOf(ns)}`;
    if (names[g] && names[g].length < 3) names[g].push(ns);
  }
  for (const g of ['g0', 'g1']) probes[g] = new Probe(names[g].pop());

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
  const stats = {};
  for (let round = 0; round < ROUNDS && failures.length === 0; round += 1) {
    const kind = FAULTS[round % FAULTS.length];
    const group = round % 2 === 0 ? 'g0' : 'g1';
    const other = group === 'g0' ? 'g1' : 'g0';
    await sleep(LOAD);
    const victim = await cluster.active(group);
    if (!victim) {
      fail(`round ${round}: group ${group} has no active before the fault`);
      break;
    }
    faults += 1;
    const before = { ...disconnects };
    probes[group].reset();
    probes[other].reset();
    const t0 = now();
    let recovery = null; // ms from the fault (or the resign) to serving again
    console.log(`round ${round}: ${kind} on ${group} (active ${victim.name})`);
    switch (kind) {
      case 'kill9':
      case 'one-group': {
        victim.proc.kill('SIGKILL');
        await waitFor(async () => probes[group].grants > 0 && msSince(probes[group].lastGrant) < 200 &&
          probes[group].lastGrant > t0, GRACE + 10000, `${group} to serve again`);
        recovery = Number(probes[group].lastGrant - t0) / 1e6;
        if (recovery > GRACE + 2000) fail(`round ${round}: ${kind}: ${group} served again after ${recovery.toFixed(0)} ms, over the grace + 2 s (${GRACE + 2000} ms)`);
        if (kind === 'one-group' && disconnects[other] !== before[other]) {
          fail(`round ${round}: one-group: ${disconnects[other] - before[other]} disconnects in the other group`);
        }
        break;
      }
      case 'sigstop': {
        victim.proc.kill('SIGSTOP');
        await sleep(GRACE + 2000);
        victim.proc.kill('SIGCONT');
        await waitFor(async () => probes[group].lastGrant > t0, 15000, `${group} to serve again`);
        recovery = Number(probes[group].lastGrant - t0) / 1e6;
        break;
      }
      case 'cut-etcd': {
        for (const f of victim.forwarders) f.setCut(true);
        await sleep(2 * TTL);
        for (const f of victim.forwarders) f.setCut(false);
        await waitFor(async () => probes[group].lastGrant > t0 && msSince(probes[group].lastGrant) < 200,
          GRACE + 15000, `${group} to serve again`);
        recovery = Number(probes[group].lastGrant - t0) / 1e6;
        break;
      }
      case 'etcd-leader': {
        const leader = await etcd.leader();
        if (leader === null) {
          fail(`round ${round}: no etcd leader to kill`);
          break;
        }
        console.log(`  killing etcd ${etcd.members[leader].name}`);
        await etcd.kill(leader);
        await sleep(3 * TTL);
        etcd.restart(leader);
        const lost = disconnects.g0 + disconnects.g1 - before.g0 - before.g1;
        if (lost > 0) fail(`round ${round}: killing etcd's leader disconnected ${lost} clients`);
        recovery = Math.max(probes.g0.currentGap(), probes.g1.currentGap());
        break;
      }
      case 'switchover': {
        victim.proc.kill('SIGTERM');
        const log = path.join(dir, `${victim.name}.log`);
        let resigned = null;
        await waitFor(async () => {
          if (!resigned && fs.readFileSync(log, 'utf8').includes('resigning cleanly')) resigned = now();
          return resigned !== null && probes[group].lastGrant > resigned;
        }, 20000, `${group} to hand over cleanly`);
        if (resigned) {
          recovery = Number(probes[group].lastGrant - resigned) / 1e6;
          if (recovery > 1000) fail(`round ${round}: switchover: ${group} served again ${recovery.toFixed(0)} ms after the resign, over 1 s`);
        }
        break;
      }
      case 'wrong-group': {
        // Straight to the other group's active, this group's namespaces.
        const wrong = await cluster.active(other);
        let refused = 0;
        for (const ns of [...names[group], probes[group].ns]) {
          for (let i = 0; i < 5; i += 1) {
            const got = await straightLock(wrong, ns);
            if (got.status === 421) refused += 1;
            else fail(`round ${round}: wrong-group: ${wrong.name} (group ${other}) answered ${got.status} for ${ns} of group ${group}${got.id ? `, lock ${got.id} acquired` : ''}`);
          }
        }
        console.log(`  wrong-group: ${refused} straight requests to ${wrong.name} refused with 421`);
        break;
      }
      case 'record-loss': {
        const key = Buffer.from(`/locktopus/${group}/record`).toString('base64');
        if (!await etcd.post('/v3/kv/deleterange', { key })) fail(`round ${round}: record-loss: etcd did not delete`);
        const proc = victim.proc;
        proc.kill('SIGKILL');
        // Grants the victim sent before it died (it was the active, with a
        // record, when it sent them) may still be on their way: counted
        // once it is gone and they have arrived.
        if (proc.exitCode === null && proc.signalCode === null) await new Promise((resolve) => proc.once('exit', resolve));
        await sleep(250);
        // Longer than a failover takes: the group must grant nothing.
        const seen = probes[group].grants;
        await sleep(GRACE + 2000);
        if (probes[group].grants !== seen) {
          fail(`round ${round}: record-loss: ${group} granted ${probes[group].grants - seen} locks without a record`);
        }
        // The operator: stop the group's servers, initialise, start them.
        const group_servers = servers.filter((x) => x.group === group);
        for (const x of group_servers) await cluster.stopServer(x, 'SIGKILL');
        let init = null;
        await waitFor(async () => {
          init = cluster.haInit();
          return init.code === 0;
        }, 10000, `locktopus --ha-init to succeed (${init?.output})`);
        console.log(`  record-loss: ${init?.output.split('\n').pop()}`);
        const restarted = now();
        for (const x of group_servers) cluster.startServer(x);
        await waitFor(async () => probes[group].lastGrant > restarted, GRACE + 15000, `${group} to serve again`);
        recovery = Number(probes[group].lastGrant - t0) / 1e6;
        break;
      }
      default:
        fail(`unknown fault ${kind}`);
    }
    if (recovery !== null) {
      maxUnavailable = Math.max(maxUnavailable, recovery);
      (stats[kind] ??= []).push(Math.round(recovery));
      console.log(`  ${kind}: served again after ${recovery.toFixed(0)} ms; disconnects g0 ${disconnects.g0 - before.g0}, g1 ${disconnects.g1 - before.g1}`);
    }
    // Both groups serve before the next round.
    for (const g of ['g0', 'g1']) await waitFor(async () => (await cluster.active(g)) !== null, GRACE + 15000, `group ${g} to have an active`);
  }

  stop.done = true;
  await Promise.race([Promise.all(running), sleep(MAX_ABANDON + 10000)]);
  clearInterval(ticker);
  checker.finish();
  const regressions = idRegressions();
  await cluster.stop({ graceful: false });
  for (const [kind, list] of Object.entries(stats)) console.log(`  ${kind}: served again after [${list.join(', ')}] ms`);
  const ok = failures.length === 0 && checker.violations === 0 && regressions === 0;
  console.log(`failover: rounds ${Math.min(ROUNDS, faults)}, faults ${faults}, violations ${checker.violations}, ` +
    `id-regressions ${regressions}, max-unavailable-ms ${Math.round(maxUnavailable)}; ops ${ops}, checked ${checker.checked}; ` +
    `${ok ? 'ok' : `FAIL (${failures.length})`}`);
  if (!ok && opt.keep) console.log(`logs in ${dir}`);
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  fail(err.stack);
  console.log('failover: rounds 0, faults 0, violations 0, id-regressions 0, max-unavailable-ms 0; FAIL');
  process.exit(1);
});
