// The chaos driver: starts the server, forks workers (worker.mjs) that run
// hundreds of clients locking random resources while faults fire, freezes
// whole workers now and then (SIGSTOP/SIGCONT), and then checks:
//
//   violations  no two conflicting locks were ever held at once, as the
//               clients saw it (intervals.mjs), a lock held across a blip
//               counting as held all along;
//   lost        no session client that resumed within its window found
//               its lock gone (close 4410, or `lock: none` for a lock the
//               server had confirmed);
//   leaks       once the clients are gone and the longest abandon timeout
//               has passed, every namespace is freed (/stats_v1 answers 404
//               Namespace not found): nothing pending or acquired, nothing
//               holding it, its memory given back;
//   rss         the server's VmRSS is back within a margin of its baseline
//               (taken after start, before any load);
//   server      still the same process, no ERROR line or sanitizer report on
//               its stderr, clients got only the answers
//               docs/protocol.md allows (and, when --max-lock-memory is
//               spent, the refusal with close 1013), no lock waited
//               forever, and SIGTERM makes it exit 0.
//
// One fault, flood, is the memory attack: connections at once each sending
// the largest lock --max-message-bytes holds (paths of their own); they are
// granted or refused with 1013 as the --max-lock-memory budget (2 MiB here)
// allows. The summary counts them, and ordinary locks refused.
//
// Blips: --session-clients clients per worker (when --blip-rate is above 0)
// open resumable sessions through TCP relays of their own that the test cuts
// in --blip-rate of their lock cycles for --blip-ms; they resume with their
// token within their window (--session-ms, times --timeout-scale).
//
// The last line is `chaos: ops N, faults F, violations V, lost L, leaks K; ...`; the
// exit status is 0 only if every check passed. With --soak it samples the
// server's RSS and open descriptors every --sample-seconds and adds a last
// line `soak: ...` that fails on growth (see growth()). `--help` lists the
// options. Run it through scripts/chaos.sh or scripts/soak.sh.

import { fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IntervalChecker } from './intervals.mjs';
import { driverOptions, failureList } from '../lib/driver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);

const OPTIONS = {
  bin: { type: 'string', default: path.resolve(here, '../../build/release/bin/locktopus') },
  seconds: { type: 'string', default: '60' },
  workers: { type: 'string', default: '4' },
  clients: { type: 'string', default: '75' }, // per worker
  namespaces: { type: 'string', default: '6' },
  'fault-rate': { type: 'string', default: '0.03' }, // per lock cycle
  'cancel-rate': { type: 'string', default: '0.05' }, // of enqueued locks
  freeze: { type: 'string', default: 'true' },
  'think-ms': { type: 'string', default: '20,200' },
  'hold-ms': { type: 'string', default: '0,20' },
  'default-abandon-ms': { type: 'string', default: '500' },
  'long-abandon-ms': { type: 'string', default: '4000' },
  'max-message-bytes': { type: 'string', default: '4096' },
  'max-lock-memory': { type: 'string', default: '2097152' },
  'flood-connections': { type: 'string', default: '16' }, // per flood fault
  'blip-rate': { type: 'string', default: '0.03' }, // per session client's lock cycle; 0: no sessions
  'session-clients': { type: 'string', default: '10' }, // per worker
  'session-ms': { type: 'string', default: '2000,4000' }, // their windows, times --timeout-scale
  'blip-ms': { type: 'string', default: '20,600' }, // how long a relay stays cut
  'timeout-scale': { type: 'string', default: '1' },
  sanitizer: { type: 'string', default: '' },
  soak: { type: 'boolean', default: false },
  'sample-seconds': { type: 'string', default: '5' },
  'server-log': { type: 'string', default: '' },
  help: { type: 'boolean', default: false },
};
const { opt, num } = driverOptions('chaos', OPTIONS);
const pair = (k) => opt[k].split(',').map(Number);

const seconds = num('seconds');
const scale = num('timeout-scale');
const defaultAbandonMs = num('default-abandon-ms');
const longAbandonMs = num('long-abandon-ms');
const blipRate = num('blip-rate');
const sessionMs = pair('session-ms').map((ms) => Math.round(ms * scale));
const longestAbandonMs = Math.max(defaultAbandonMs, longAbandonMs, blipRate > 0 ? sessionMs[1] : 0);
const stuckMs = Math.round(60_000 * scale);
const MiB = 1024 * 1024;
// The RSS margins of the sanitizer builds, from 60 s runs with room to
// spare: ASan ended ~40 MiB over its baseline, TSan ~22 MiB.
const SANITIZER_RSS_MARGIN = { address: 96 * MiB, thread: 64 * MiB };

const { failures, fail } = failureList();

// --- The server ---------------------------------------------------------

const logPath = opt['server-log'] || path.join(fs.mkdtempSync('/tmp/locktopus-chaos-'), 'server.log');
const log = fs.createWriteStream(logPath);
// The server writes the port it listens on here; read once, then removed.
const portDir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-chaos-port-'));
const portFile = path.join(portDir, 'port');
const serverArgs = ['-H', '127.0.0.1', '-p', '0', '--port-file', portFile,
  '--default-abandon-timeout', String(defaultAbandonMs),
  '--max-message-bytes', String(num('max-message-bytes')),
  '--max-lock-memory', String(num('max-lock-memory'))];
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKTOPUS_')));
// ASan holds freed memory in a quarantine (256 MiB by default) and its
// allocator keeps freed pages: bound the one, return the other, so that the
// RSS check means something (the caller's ASAN_OPTIONS come last and win).
if (opt.sanitizer === 'address') {
  env.ASAN_OPTIONS = ['quarantine_size_mb=16', 'thread_local_quarantine_size_kb=256',
    'allocator_release_to_os_interval_ms=500', process.env.ASAN_OPTIONS].filter(Boolean).join(':');
}
const server = spawn(opt.bin, serverArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
let serverOutput = '';
let serverExit = null;
const serverExited = new Promise((resolve) => {
  server.on('exit', (code, signal) => {
    serverExit = { code, signal };
    resolve(serverExit);
  });
});
server.on('error', (err) => fail(`cannot start ${opt.bin}: ${err.message}`));
// Whatever happens to this driver, its server and workers go with it.
const children = [];
process.on('exit', () => {
  for (const c of [server, ...children]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(portDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(`chaos: ops 0, faults 0, violations 0, lost 0, leaks 0; FAIL: interrupted by ${sig}`);
    process.exit(1);
  });
}
for (const stream of [server.stdout, server.stderr]) {
  stream.on('data', (chunk) => {
    log.write(chunk);
    // Keep the start and any trouble; skip the routine warnings.
    const text = chunk.toString();
    if (serverOutput.length < 1_000_000) serverOutput += text;
  });
}
const port = await (async () => {
  const deadline = Date.now() + 30_000 * scale;
  let found;
  while (found === undefined && Date.now() < deadline && !serverExit) {
    if (fs.existsSync(portFile)) found = Number(fs.readFileSync(portFile, 'utf8'));
    else await sleep(20);
  }
  fs.rmSync(portDir, { recursive: true, force: true });
  if (found > 0) return found;
  console.log(serverOutput);
  console.log(`chaos: ops 0, faults 0, violations 0, lost 0, leaks 0; FAIL: the server did not start`);
  server.kill('SIGKILL');
  process.exit(1);
})();
const pid = server.pid;

function rssBytes() {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}
const fdCount = () => fs.readdirSync(`/proc/${pid}/fd`).length;

function httpGet(p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 10_000 * scale }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

await sleep(500);
const baseRss = rssBytes();
const baseFds = fdCount();
const origin = process.hrtime.bigint();
const startedAt = Date.now();
console.log(`chaos: server pid ${pid} on port ${port} (${opt.bin}), baseline RSS ${(baseRss / MiB).toFixed(1)} MiB, ${baseFds} fds; log ${logPath}`);

// --- The workers --------------------------------------------------------

const namespaces = Array.from({ length: num('namespaces') }, (_, i) => `chaos-${process.pid}-${i}`);
const nWorkers = num('workers');
const checker = new IntervalChecker({ origin, report: (s) => console.log(s) });
const workers = [];
for (let i = 0; i < nWorkers; i += 1) {
  const cfg = {
    worker: i, port, namespaces, clients: num('clients'),
    faultRate: num('fault-rate'), cancelRate: num('cancel-rate'),
    thinkMs: pair('think-ms'), holdMs: pair('hold-ms'),
    longAbandonMs, maxMessageBytes: num('max-message-bytes'), stuckMs, rampMs: 1000,
    floodConnections: num('flood-connections'),
    sessionClients: blipRate > 0 ? num('session-clients') : 0, blipRate, sessionMs, blipMs: pair('blip-ms'),
    firstFrameMs: Math.round(5000 * scale),
  };
  const child = fork(path.join(here, 'worker.mjs'), [JSON.stringify(cfg)], { serialization: 'advanced' });
  children.push(child);
  const w = { child, lowMark: 0n, counts: null, errorSamples: [], exited: null };
  w.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('message', (m) => {
    if (m.type !== 'batch') return;
    for (const iv of m.intervals) checker.add(iv);
    for (const ev of m.lost) checker.lose(ev);
    w.lowMark = m.lowMark;
    w.counts = m.counts;
    w.errorSamples = m.errorSamples;
  });
  workers.push(w);
}
const advance = () => {
  let mark = workers[0].lowMark;
  for (const w of workers) if (w.lowMark < mark) mark = w.lowMark;
  if (mark > checker.watermark) checker.advance(mark);
};
const checkTimer = setInterval(advance, 500);

// --- Load, freezes and samples -----------------------------------------

let running = true;
let freezes = 0;
const samples = []; // {s, rss, fds}
const sampler = (async () => {
  while (running) {
    await sleep(num('sample-seconds') * 1000);
    if (!running || serverExit) break;
    samples.push({ s: (Date.now() - startedAt) / 1000, rss: rssBytes(), fds: fdCount() });
  }
})();
const freezer = (async () => {
  if (opt.freeze !== 'true') return;
  while (running) {
    await sleep(rand(1000, 5000));
    if (!running) break;
    const w = workers[Math.floor(Math.random() * workers.length)];
    w.child.kill('SIGSTOP');
    freezes += 1;
    await sleep(rand(200, 2000));
    w.child.kill('SIGCONT');
  }
})();

const progress = setInterval(() => {
  const c = totals();
  console.log(`chaos: ${Math.round((Date.now() - startedAt) / 1000)} s: ops ${c.ops}, faults ${c.faults + freezes}, ` +
    `checked ${checker.checked}, violations ${checker.violations}, lost ${checker.lost}, server RSS ${(rssBytes() / MiB).toFixed(1)} MiB`);
}, 10_000);

function totals() {
  const t = {
    ops: 0, cancels: 0, connections: 0, refused: 0, flood: { granted: 0, refused: 0 },
    faults: 0, byFault: {}, errors: 0, byError: {},
    sessions: { opened: 0, resumed: { acquired: 0, enqueued: 0, none: 0 }, late: 0 },
  };
  for (const w of workers) {
    if (!w.counts) continue;
    t.ops += w.counts.ops;
    t.refused += w.counts.refused;
    t.flood.granted += w.counts.flood.granted;
    t.flood.refused += w.counts.flood.refused;
    t.cancels += w.counts.cancels;
    t.connections += w.counts.connections;
    const ws = w.counts.sessions;
    t.sessions.opened += ws.opened;
    t.sessions.late += ws.late;
    for (const k of Object.keys(ws.resumed)) t.sessions.resumed[k] += ws.resumed[k];
    for (const [k, v] of Object.entries(w.counts.faults)) {
      t.faults += v;
      t.byFault[k] = (t.byFault[k] || 0) + v;
    }
    for (const [k, v] of Object.entries(w.counts.errors)) {
      t.errors += v;
      t.byError[k] = (t.byError[k] || 0) + v;
    }
  }
  return t;
}

const runEnd = Date.now() + seconds * 1000;
while (Date.now() < runEnd && !serverExit) await sleep(Math.min(250, runEnd - Date.now()));
running = false;
await freezer;
await sampler;
clearInterval(progress);
for (const w of workers) w.child.kill('SIGCONT');
for (const w of workers) if (w.child.connected) w.child.send({ type: 'stop' });
const stopBy = Date.now() + stuckMs + 30_000 * scale;
for (const [i, w] of workers.entries()) {
  const status = await Promise.race([w.exited, sleep(Math.max(0, stopBy - Date.now())).then(() => null)]);
  if (status === null) {
    fail(`worker ${i} did not stop`);
    w.child.kill('SIGKILL');
  } else if (status.code !== 0) {
    fail(`worker ${i} exited with ${JSON.stringify(status)}`);
  }
}
clearInterval(checkTimer);
checker.finish();
const loadSeconds = (Date.now() - startedAt) / 1000;

// --- Leaks ---------------------------------------------------------------

const leakBy = Date.now() + longestAbandonMs + 3000 * scale;
let leaking = namespaces;
let lastStats = {};
for (;;) {
  const still = [];
  for (const ns of leaking) {
    try {
      const res = await httpGet(`/stats_v1?namespace=${encodeURIComponent(ns)}`);
      if (res.status === 404) continue; // freed (or never opened)
      lastStats[ns] = JSON.parse(res.body);
      still.push(ns);
    } catch (err) {
      lastStats[ns] = err.message;
      still.push(ns);
    }
  }
  leaking = still;
  if (leaking.length === 0 || Date.now() > leakBy || serverExit) break;
  await sleep(250);
}
for (const ns of leaking) {
  console.log(`leak: namespace ${ns} after ${longestAbandonMs} ms + margin: ${JSON.stringify(lastStats[ns])}`);
}
const leaks = leaking.length;

// --- The server's health -------------------------------------------------

let rssNote = '';
let fdNote = '';
if (serverExit) {
  fail(`the server exited during the run: ${JSON.stringify(serverExit)}`);
} else {
  await sleep(1000);
  const endRss = rssBytes();
  const endFds = fdCount();
  // Sanitizers keep memory on purpose: ASan its quarantine (16 MiB here) and
  // allocator caches, TSan the shadow of every byte the server ever touched.
  const margin = opt.sanitizer ? Math.max(SANITIZER_RSS_MARGIN[opt.sanitizer] || 0, baseRss)
    : Math.max(8 * MiB, baseRss / 2);
  const peak = Math.max(...samples.map((s) => s.rss), endRss);
  rssNote = `rss ${(baseRss / MiB).toFixed(1)} -> ${(endRss / MiB).toFixed(1)} MiB (peak ${(peak / MiB).toFixed(1)}, margin ${(margin / MiB).toFixed(0)})`;
  if (endRss > baseRss + margin) fail(`server RSS ${rssNote}`);
  fdNote = `fds ${baseFds} -> ${endFds}`;
  if (endFds > baseFds) {
    fail(`server descriptors ${fdNote}`);
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        console.log(`  fd ${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
      } catch { /* closed meanwhile */ }
    }
    if (process.env.CHAOS_DEBUG) await sleep(600_000);
  }
}
const trouble = serverOutput.split('\n').filter((l) =>
  / ERROR |internal error|ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error:|LeakSanitizer|==\d+==ERROR/.test(l));
if (trouble.length > 0) {
  fail(`the server logged ${trouble.length} error line(s), first: ${trouble[0]}`);
}

const t = totals();
if (t.errors > 0) {
  fail(`clients saw ${t.errors} error(s): ${JSON.stringify(t.byError)}`);
  for (const w of workers) for (const s of w.errorSamples) console.log(`  ${s}`);
}

// --- Soak: growth over time ----------------------------------------------

/**
 * Growth of a series of samples taken under steady load: the samples after a
 * warm-up (the first fifth of the run, at most 60 s) are cut in thirds; the
 * series grows if the smallest sample of the last third exceeds the largest
 * of the first third by more than the margin. The slope of a least-squares
 * line is printed too, for information.
 */
function growth(name, series, margin, unit, div) {
  const warm = Math.min(60, seconds / 5);
  const xs = series.filter((s) => s.s >= warm);
  if (xs.length < 6) return { line: `${name}: too few samples (${xs.length})`, ok: true };
  const third = Math.floor(xs.length / 3);
  const first = xs.slice(0, third).map((s) => s.v);
  const last = xs.slice(-third).map((s) => s.v);
  const firstMax = Math.max(...first);
  const lastMin = Math.min(...last);
  const n = xs.length;
  const mx = xs.reduce((a, s) => a + s.s, 0) / n;
  const my = xs.reduce((a, s) => a + s.v, 0) / n;
  const slope = xs.reduce((a, s) => a + (s.s - mx) * (s.v - my), 0) /
    xs.reduce((a, s) => a + (s.s - mx) ** 2, 0);
  const lim = margin(firstMax);
  const ok = lastMin <= firstMax + lim;
  const f = (v) => (v / div).toFixed(div === 1 ? 0 : 1);
  return {
    ok,
    line: `${name} ${f(Math.min(...xs.map((s) => s.v)))}..${f(Math.max(...xs.map((s) => s.v)))} ${unit}, ` +
      `first third max ${f(firstMax)}, last third min ${f(lastMin)} (margin ${f(lim)}), ` +
      `slope ${f(slope * 60)} ${unit}/min${ok ? '' : ' GROWS'}`,
  };
}
let soakLine = null;
if (opt.soak) {
  const rss = growth('rss', samples.map((s) => ({ s: s.s, v: s.rss })),
    (m) => Math.max(2 * MiB, m * 0.05), 'MiB', MiB);
  const fds = growth('fds', samples.map((s) => ({ s: s.s, v: s.fds })),
    (m) => Math.max(8, m * 0.05), 'fds', 1);
  console.log(`soak: samples every ${num('sample-seconds')} s:`);
  for (const s of samples) console.log(`  ${s.s.toFixed(0)} s  rss ${(s.rss / MiB).toFixed(1)} MiB  fds ${s.fds}`);
  if (!rss.ok) fail(`server RSS grows: ${rss.line}`);
  if (!fds.ok) fail(`server descriptors grow: ${fds.line}`);
  soakLine = `soak: ${samples.length} samples, ${rss.line}; ${fds.line}; ${rss.ok && fds.ok ? 'ok' : 'FAIL'}`;
}

// --- Shutdown --------------------------------------------------------------

if (!serverExit) {
  server.kill('SIGTERM');
  const status = await Promise.race([serverExited, sleep(30_000 * scale).then(() => null)]);
  if (status === null) {
    fail('the server did not exit within 30 s of SIGTERM');
    server.kill('SIGKILL');
    await serverExited;
  } else if (status.code !== 0) {
    fail(`the server exited with ${JSON.stringify(status)} on SIGTERM`);
  }
  await sleep(100); // the last of its output
  const late = serverOutput.split('\n').filter((l) =>
    /ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error:|LeakSanitizer|==\d+==ERROR/.test(l));
  if (late.length > 0 && trouble.length === 0) fail(`sanitizer report at exit: ${late[0]}`);
}
log.end();

const faults = t.faults + freezes;
console.log(`faults fired: ${JSON.stringify({ ...t.byFault, sigstop: freezes })}`);
console.log(`load ${loadSeconds.toFixed(0)} s, ${t.connections} connections, ${t.cancels} cancels, ` +
  `${checker.checked} intervals checked`);
console.log(`flood locks: ${t.flood.granted} granted, ${t.flood.refused} refused (close 1013); ` +
  `ordinary locks refused: ${t.refused}`);
if ((t.byFault.flood || 0) > 0 && t.flood.granted + t.flood.refused === 0) fail('no flood lock was answered');
if (blipRate > 0) {
  const r = t.sessions.resumed;
  console.log(`sessions: ${t.sessions.opened} opened, ${t.byFault.blip || 0} blips, ` +
    `${r.acquired + r.enqueued + r.none} resumed (lock acquired ${r.acquired}, enqueued ${r.enqueued}, ` +
    `none ${r.none}), ${t.sessions.late} not resumed within the window`);
  if (seconds >= 10 && t.sessions.opened === 0) fail('no session was opened');
}
const checks = [checker.violations, checker.lost, leaks].filter((n) => n > 0).length;
const status = failures.length === 0 && checks === 0;
const tail = [rssNote, fdNote, `errors ${t.errors}`, status ? 'ok' : `FAILED (${failures.length + checks})`]
  .filter(Boolean).join(', ');
const chaosLine = `chaos: ops ${t.ops}, faults ${faults}, violations ${checker.violations}, lost ${checker.lost}, ` +
  `leaks ${leaks}; ${tail}`;
if (soakLine) {
  console.log(chaosLine);
  console.log(soakLine);
} else {
  console.log(chaosLine);
}
process.exit(status ? 0 : 1);
