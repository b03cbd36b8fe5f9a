// The namespace churn driver: many distinct namespaces, each used once and
// left idle, against one server, and then checks that they gave everything
// back:
//
//   memory    the server's VmRSS after the churn is within --max-growth-mib
//             of its baseline (taken after a warm-up), and within
//             --max-bytes-per-namespace per namespace churned; skipped
//             (--no-rss) under sanitizers, whose allocators keep memory;
//   freed     /metrics counts no open namespace, and as many openings as
//             namespaces used; /stats_v1 of a churned namespace answers 404
//             Namespace not found, as for one never opened;
//   page      the status page / stays under --max-page-bytes;
//   ids       a churned namespace opened again continues above its last ID.
//
// Each namespace gets one connection that locks one path, waits for the
// answer, releases it, and closes. --concurrency connections at a time.
// The last line is `churn: namespaces N, ...; ok` or `...; FAIL`, and the exit
// status says the same. Run it through scripts/churn.sh.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { driverOptions, failureList } from '../lib/driver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

const OPTIONS = {
  bin: { type: 'string', default: path.resolve(here, '../../build/release/bin/locktopus') },
  namespaces: { type: 'string', default: '20000' },
  warmup: { type: 'string', default: '2000' },
  concurrency: { type: 'string', default: '64' },
  'max-growth-mib': { type: 'string', default: '16' },
  'max-bytes-per-namespace': { type: 'string', default: '128' },
  'max-page-bytes': { type: 'string', default: '16384' },
  rss: { type: 'boolean', default: true },
  'no-rss': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};
const { opt, num } = driverOptions('churn', OPTIONS, { integer: true });
const total = num('namespaces');
const warmup = num('warmup');
const concurrency = Math.max(1, num('concurrency'));
const checkRss = opt.rss && !opt['no-rss'];

const { failures, fail } = failureList();

// --- The server ---------------------------------------------------------

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-churn-'));
const portFile = path.join(scratch, 'port');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKTOPUS_')));
// One I/O thread: the driver and the server share the machine's cores.
const server = spawn(opt.bin, ['-H', '127.0.0.1', '-p', '0', '--port-file', portFile, '--threads', '1'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (chunk) => {
  if (serverLog.length < 100_000) serverLog += chunk;
});
let exited = false;
server.on('exit', () => { exited = true; });
process.on('exit', () => {
  if (!exited) server.kill('SIGKILL');
  fs.rmSync(scratch, { recursive: true, force: true });
});

const port = await (async () => {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited) {
    try {
      return Number(fs.readFileSync(portFile, 'utf8'));
    } catch {
      await sleep(20);
    }
  }
  console.log(serverLog);
  console.log('churn: namespaces 0; FAIL: the server did not start');
  process.exit(1);
})();

function get(target) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function rssBytes() {
  const status = fs.readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}

async function metric(name) {
  const { body } = await get('/metrics');
  const m = body.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// --- One namespace, used once --------------------------------------------

const lock = JSON.stringify({ action: 'lock', resources: [{ type: 'write', path: ['jobs', 'nightly'] }] });
const release = JSON.stringify({ action: 'release' });

// Opens `ns`, locks, releases, closes; resolves with the lock's ID.
function useOnce(ns) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1?namespace=${encodeURIComponent(ns)}`);
    let id = null;
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`${ns}: no answer within 30 s`)); }, 30_000);
    ws.on('open', () => ws.send(lock));
    ws.on('message', (data) => {
      const answer = JSON.parse(data.toString());
      if (answer.action === 'lock' && answer.state === 'acquired') {
        id = Number(answer.id);
        ws.send(release);
      } else if (answer.action === 'release' && answer.state === 'ready') {
        ws.close(1000);
      } else {
        reject(new Error(`${ns}: unexpected ${data}`));
      }
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (id === null) reject(new Error(`${ns}: closed before its lock was acquired`));
      else resolve(id);
    });
    ws.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

// Namespaces never seen that started above 1: their set of the server's
// summary of freed namespaces had overflowed (engine/id_marks.h). Allowed;
// counted for the report.
let startedHigh = 0;

// Uses namespaces `${prefix}0` ... `${prefix}${n - 1}` once each.
async function churn(prefix, n) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const ns = `${prefix}${next++}`;
      if (await useOnce(ns) !== 1) startedHigh += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

// Every namespace freed: none open, once every connection has closed.
async function awaitFreed(what) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await metric('locktopus_namespaces') === 0) return;
    await sleep(50);
  }
  fail(`${what}: ${await metric('locktopus_namespaces')} namespaces still open 30 s after the last client left`);
}

// --- The run ---------------------------------------------------------------

const started = Date.now();
let before = 0;
let after = 0;
try {
  await churn('warm-', warmup);
  await awaitFreed('warm-up');
  before = rssBytes();
  await churn('ns-', total);
  await awaitFreed('churn');
  after = rssBytes();
} catch (err) {
  fail(err.message);
}
const seconds = (Date.now() - started) / 1000;

const opened = await metric('locktopus_namespaces_opened_total');
if (opened !== warmup + total) fail(`/metrics counts ${opened} namespaces opened, not ${warmup + total}`);
for (const ns of ['ns-0', `ns-${Math.floor(total / 2)}`, `ns-${total - 1}`].slice(0, total)) {
  const res = await get(`/stats_v1?namespace=${ns}`);
  if (res.status !== 404 || res.body !== 'Namespace not found') {
    fail(`/stats_v1 of the freed ${ns}: ${res.status} ${res.body}`);
  }
}
const page = await get('/');
if (page.body.length > num('max-page-bytes')) {
  fail(`the status page is ${page.body.length} bytes, over ${num('max-page-bytes')}`);
}
if (total > 0) {
  // Its last ID was 1, or more had its first started high: only above.
  const again = await useOnce('ns-0').catch((err) => { fail(err.message); return 0; });
  if (!(again >= 2)) fail(`ns-0 opened again got lock ID ${again}, not above its last: its IDs went back`);
}

const growth = after - before;
const perNamespace = total > 0 ? growth / total : 0;
let rssNote = 'RSS not checked';
if (checkRss && before > 0 && after > 0) {
  rssNote = `RSS ${(before / MiB).toFixed(1)} -> ${(after / MiB).toFixed(1)} MiB (${perNamespace.toFixed(1)} B per namespace)`;
  if (growth > num('max-growth-mib') * MiB) fail(`RSS grew ${(growth / MiB).toFixed(1)} MiB, over ${opt['max-growth-mib']} MiB`);
  if (perNamespace > num('max-bytes-per-namespace')) {
    fail(`RSS grew ${perNamespace.toFixed(1)} bytes per namespace, over ${opt['max-bytes-per-namespace']}`);
  }
}

server.kill('SIGTERM');
await new Promise((resolve) => (exited ? resolve() : server.on('exit', resolve)));
const rate = total / Math.max(seconds, 0.001);
console.log(`churn: namespaces ${total} in ${seconds.toFixed(1)} s (${Math.round(rate)}/s), ${rssNote}, ` +
  `${startedHigh} started above ID 1, status page ${page.body.length} bytes; ${failures.length === 0 ? 'ok' : `FAIL (${failures.length})`}`);
process.exit(failures.length === 0 ? 0 : 1);
