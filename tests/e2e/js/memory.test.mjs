// The memory attack: hundreds of connections each sending the largest lock
// the limits allow, while ordinary clients keep locking and releasing.
//
//   - a lock over --max-lock-segments is a protocol error naming the flag;
//   - a lock within the limits that --max-lock-memory cannot cover gets the
//     reason frame and close 1013 (try again later), and is counted in
//     /metrics; the others are granted;
//   - the server's RSS stays under its baseline plus the budget plus a fixed
//     cost per connection and per I/O thread (release builds only: ASan's
//     quarantine and TSan's shadow make RSS meaningless);
//   - the ordinary clients see no error and never wait long;
//   - once the attackers are gone, the lock memory is back to what the
//     ordinary clients hold and RSS to its baseline within the soak test's
//     margin (5 %, at least 2 MiB).
//
// And the session attack: --max-sessions sessions, each holding the
// largest lock the budget lets it and detached by a dropped connection for
// the longest window, then one session more (503): the server stays within
// baseline + budget + the fixed cost per connection it had and per session
// it keeps, and gives it all back when the windows pass.

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  SANITIZERS, SCALE, TIMEOUT, WebSocket, sleep, startServer, test, w, waitFor, withTimeout,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const MiB = 1024 * 1024;
const BUDGET = 32 * MiB;
const THREADS = 2;
// Fixed costs over the budget (docs/operations.md, Security and limits): a
// connection's session with a read chunk of its message in flight, and per I/O
// thread one message of --max-message-bytes being parsed (the frame, its JSON
// and its resources).
const PER_CONNECTION = 72 * 1024;
const PER_SESSION = 1024; // a detached session without its lock
const SESSIONS = SANITIZERS.length ? 100 : 500;
const PER_THREAD = 8 * MiB;
const ATTACKERS = SANITIZERS.length ? 60 : 300;
const ORDINARY = 8;
// An ordinary lock waits for nothing but the server's turn.
const MAX_ORDINARY_WAIT_MS = 2000 * SCALE;

function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}

/** Samples the RSS of `pid` every 20 ms until stopped: {max, min, stop()}. */
function sampler(pid) {
  const s = { max: rss(pid), min: rss(pid) };
  const timer = setInterval(() => {
    const v = rss(pid);
    s.max = Math.max(s.max, v);
    s.min = Math.min(s.min, v);
  }, 20);
  s.stop = () => clearInterval(timer);
  return s;
}

async function metric(server, name) {
  const res = await server.get('/metrics');
  const m = res.body.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm'));
  assert.ok(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

/**
 * A lock of `paths` distinct write paths of `depth` segments each, the
 * segments padded so the message is close to `bytes`.
 */
function bigLock(tag, paths, depth, bytes) {
  const overhead = 32 * paths + 40;
  const segment = Math.max(8, Math.floor((bytes - overhead) / (paths * depth)) - 3);
  const resources = [];
  for (let p = 0; p < paths; p += 1) {
    const path = [];
    for (let d = 0; d < depth; d += 1) path.push(`${tag}.${p}.${d}.`.padEnd(segment, 'x'));
    resources.push({ type: 'write', path });
  }
  return JSON.stringify({ action: 'lock', resources });
}

/**
 * Ordinary clients in a process of their own (ordinary_clients.mjs);
 * stop() resolves to {cycles, maxWaitMs, errors}.
 */
function ordinaryClients(server) {
  const child = fork(path.join(here, 'ordinary_clients.mjs'), [server.wsUrl('ordinary'), String(ORDINARY)],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    async stop() {
      child.send('stop');
      await withTimeout(exited, TIMEOUT * 3, 'the ordinary clients to stop');
      return JSON.parse(out);
    },
  };
}

/**
 * Opens `n` connections at once (with URL `params`), each sending
 * `message(k)`; resolves to their first frames and closes.
 */
function attack(server, n, message, params = '') {
  return Promise.all(Array.from({ length: n }, (_, k) => new Promise((resolve) => {
    const text = message(k);
    const ws = new WebSocket(server.wsUrl(`attack${k % 4}`, params), { perMessageDeflate: false });
    const out = { ws, frame: undefined, close: undefined };
    ws.on('open', () => ws.send(text));
    ws.on('message', (data) => {
      if (out.frame === undefined) out.frame = data.toString();
      if (!out.frame.startsWith('communication error')) resolve(out);
    });
    ws.on('close', (code) => {
      out.close = code;
      resolve(out);
    });
    ws.on('error', () => {});
  })));
}

/**
 * The RSS sampled for a second once `n` connections have come and gone,
 * each taking a small lock: the baseline that an attack of `n` is measured
 * from. With `sessions`, each connection is a new session, which ends with
 * it: the tables that the attack's sessions grow are grown once here too.
 */
async function baseline(server, n, { sessions = false } = {}) {
  // Their locks end with them, whatever the server's default abandon timeout.
  const params = sessions ? 'session=new&abandon-timeout-ms=0' : 'abandon-timeout-ms=0';
  await Promise.all((await attack(server, n,
    () => JSON.stringify({ action: 'lock', resources: [w('warm')] }), params))
    .map((a) => a.ws.terminate()));
  if (sessions) {
    await waitFor(async () => await metric(server, 'locktopus_sessions') === 0, 'the warm-up sessions to end');
  }
  await sleep(1000);
  const base = sampler(server.proc.pid);
  await sleep(1000);
  base.stop();
  return base;
}

describe('memory budget under attack', () => {
  test('hundreds of the largest locks: refused or granted within the budget; ordinary clients unaffected; memory given back', {
    timeout: 240_000 * SCALE,
  }, async () => {
    const server = await startServer({
      args: ['--max-lock-memory', String(BUDGET), '--threads', String(THREADS),
        '--default-abandon-timeout', '0'],
    });
    const pid = server.proc.pid;
    const ordinary = ordinaryClients(server);

    // Warm up, then the baseline: ordinary load and a round of connections
    // that come and go, as the attackers will.
    const base = await baseline(server, ATTACKERS);

    const during = sampler(pid);
    // 1. The attack of the issue: 1,024 distinct write paths of depth 64 (a
    // ~800 KB message) from 20 connections, over --max-lock-segments.
    const over = await attack(server, 20, (k) => bigLock(`o${k}`, 1024, 64, 800_000));
    for (const a of over) {
      assert.match(a.frame ?? '', /^communication error: lock of at least \d+ path segments over max-lock-segments \(16384\)/);
      assert.equal(a.close, 3000);
    }
    // 2. The largest lock every limit allows: 16,384 segments (1,024 paths
    // of depth 16) in a message of nearly 1 MiB, from every attacker.
    const big = await attack(server, ATTACKERS, (k) => bigLock(`a${k}`, 1024, 16, 1_040_000));
    await sleep(500);
    during.stop();
    const granted = big.filter((a) => a.frame && !a.frame.startsWith('communication error'));
    const refused = big.filter((a) => a.frame?.startsWith('communication error'));
    assert.equal(granted.length + refused.length, ATTACKERS, 'every attacker is answered');
    assert.ok(granted.length > 0, 'some fit in the budget');
    assert.ok(refused.length > 0, 'the rest are refused');
    for (const a of granted) assert.equal(JSON.parse(a.frame).state, 'acquired');
    for (const a of refused) {
      assert.equal(a.frame, `communication error: lock refused: the server's lock memory is full (over max-lock-memory (${BUDGET})); try again later`);
      assert.equal(a.close, 1013);
    }
    assert.equal(await metric(server, 'locktopus_locks_refused_total{reason="lock_memory"}'), refused.length);
    assert.ok(await metric(server, 'locktopus_lock_memory_bytes') <= BUDGET);

    // The attackers go; their locks are released at once (abandon timeout 0).
    for (const a of big) a.ws.terminate();
    await sleep(1500);
    const after = sampler(pid);
    await sleep(2000);
    after.stop();
    const seen = await ordinary.stop();

    assert.deepEqual(seen.errors, []);
    assert.ok(seen.cycles > 100, `ordinary clients kept going: ${seen.cycles} cycles`);
    assert.ok(seen.maxWaitMs <= MAX_ORDINARY_WAIT_MS,
      `an ordinary lock waited ${seen.maxWaitMs} ms (bound ${MAX_ORDINARY_WAIT_MS})`);
    assert.ok(await metric(server, 'locktopus_lock_memory_bytes') < 64 * 1024, 'lock memory back to the ordinary clients\' own');

    const report = `RSS MiB: baseline ${(base.max / MiB).toFixed(1)}, during ${(during.max / MiB).toFixed(1)}, after ${(after.min / MiB).toFixed(1)}; ` +
      `${granted.length} granted, ${refused.length} refused; ordinary: ${seen.cycles} cycles, longest wait ${seen.maxWaitMs} ms`;
    console.log(report);
    if (SANITIZERS.length) return;
    const connections = ATTACKERS + ORDINARY;
    const bound = base.max + BUDGET + connections * PER_CONNECTION + THREADS * PER_THREAD;
    assert.ok(during.max <= bound, `${report}: over baseline + budget + fixed costs (${(bound / MiB).toFixed(1)} MiB)`);
    const margin = Math.max(2 * MiB, base.max * 0.05);
    assert.ok(after.min <= base.max + margin, `${report}: not back within ${(margin / MiB).toFixed(1)} MiB of the baseline`);
  });

  test('--max-sessions detached sessions holding large locks: within the budget, all given back', {
    timeout: 120_000 * SCALE,
  }, async (t) => {
    const WINDOW = 4000 * SCALE;
    const server = await startServer({
      args: ['--max-lock-memory', String(BUDGET), '--threads', String(THREADS),
        '--max-sessions', String(SESSIONS), '--max-abandon-timeout', String(WINDOW),
        '--default-abandon-timeout', String(WINDOW)],
    });
    const pid = server.proc.pid;
    const base = await baseline(server, SESSIONS, { sessions: true });

    const during = sampler(pid);
    // Every socket of the test, closed at its end whatever happens, so that
    // a failure does not keep the test process waiting on them.
    const sockets = [];
    t.after(() => sockets.forEach((ws) => ws.terminate()));
    const opened = await Promise.all(Array.from({ length: SESSIONS }, (_, k) => new Promise((resolve) => {
      const url = `${server.wsUrl(`session${k % 4}`)}&session=new&abandon-timeout-ms=${WINDOW}`;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      sockets.push(ws);
      const frames = [];
      ws.on('message', (data) => {
        frames.push(data.toString());
        if (frames.length === 1) ws.send(bigLock(`s${k}`, 256, 16, 200_000));
        if (frames.length === 2) resolve({ ws, frames, close: undefined });
      });
      ws.on('close', (code) => resolve({ ws, frames, close: code }));
      ws.on('error', () => {});
    })));
    const locked = opened.filter((o) => o.frames[1] && !o.frames[1].startsWith('communication error'));
    const refused = opened.filter((o) => o.frames[1]?.startsWith('communication error: lock refused'));
    assert.equal(locked.length + refused.length, SESSIONS, 'every session is answered');
    assert.ok(locked.length > 0 && refused.length > 0, `${locked.length} locked, ${refused.length} refused`);
    // Every connection drops; every session stays, detached, with its lock.
    for (const o of opened) o.ws.terminate();
    await waitFor(async () => await metric(server, 'locktopus_sessions_detached') === SESSIONS,
      'every session to be detached');
    assert.equal(await metric(server, 'locktopus_sessions'), SESSIONS);
    assert.equal(await metric(server, 'locktopus_acquired_locks'), locked.length);
    const more = await new Promise((resolve) => {
      const ws = new WebSocket(`${server.wsUrl('session0')}&session=new`);
      sockets.push(ws);
      ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.on('open', () => { ws.terminate(); resolve('accepted'); });
      ws.on('error', () => {});
    });
    assert.equal(more, 503, 'one session more is refused');
    during.stop();
    await waitFor(async () => await metric(server, 'locktopus_sessions') === 0, 'every window to pass',
      { timeout: WINDOW + TIMEOUT });
    await sleep(500);
    const after = sampler(pid);
    await sleep(1000);
    after.stop();
    assert.equal(await metric(server, 'locktopus_acquired_locks'), 0);
    assert.equal(await metric(server, 'locktopus_lock_memory_bytes'), 0);

    const report = `RSS MiB: baseline ${(base.max / MiB).toFixed(1)}, during ${(during.max / MiB).toFixed(1)}, ` +
      `after ${(after.min / MiB).toFixed(1)}; ${locked.length} sessions locked, ${refused.length} refused`;
    console.log(report);
    if (SANITIZERS.length) return;
    const bound = base.max + BUDGET + SESSIONS * (PER_CONNECTION + PER_SESSION) + THREADS * PER_THREAD;
    assert.ok(during.max <= bound, `${report}: over baseline + budget + fixed costs (${(bound / MiB).toFixed(1)} MiB)`);
    const margin = Math.max(2 * MiB, base.max * 0.05);
    assert.ok(after.min <= base.max + margin, `${report}: not back within ${(margin / MiB).toFixed(1)} MiB of the baseline`);
  });
});
