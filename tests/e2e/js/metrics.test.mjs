// /metrics, /healthz and /readyz: the exposition is well-formed (a strict
// checker, and promtool when installed), every counter, gauge and histogram
// count moves exactly as a conversation makes it, per-namespace series only
// behind --metrics-namespace-labels, the role, build and process series,
// and /readyz says "serving", turning 503 while draining.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { describe } from 'node:test';
import {
  Client, TIMEOUT, acquired, enqueued, expectProtocolError, needsOwnServer, r, ready, runServerCli, startServer,
  sleep, test, uniqueNs, w, waitFor, withTimeout,
} from './harness.mjs';
import { parseExposition, valueOf } from './exposition.mjs';

const REASONS = ['bad_json', 'bad_message', 'oversized', 'over_limit', 'wrong_state', 'shutting_down'];
const LOCK_EVENTS = ['requested', 'acquired', 'released', 'cancelled', 'abandoned'];

const FAMILIES = {
  locktopus_locks_requested_total: 'counter',
  locktopus_locks_acquired_total: 'counter',
  locktopus_locks_released_total: 'counter',
  locktopus_locks_cancelled_total: 'counter',
  locktopus_locks_abandoned_total: 'counter',
  locktopus_protocol_errors_total: 'counter',
  locktopus_locks_refused_total: 'counter',
  locktopus_locks_force_released_total: 'counter',
  locktopus_unknown_query_parameters_total: 'counter',
  locktopus_sessions_created_total: 'counter',
  locktopus_sessions_detached_total: 'counter',
  locktopus_sessions_resumed_total: 'counter',
  locktopus_sessions_expired_total: 'counter',
  locktopus_session_resume_failures_total: 'counter',
  locktopus_sessions: 'gauge',
  locktopus_sessions_detached: 'gauge',
  locktopus_tcp_connections_accepted_total: 'counter',
  locktopus_connections_accepted_total: 'counter',
  locktopus_connections_open: 'gauge',
  locktopus_namespaces: 'gauge',
  locktopus_namespaces_opened_total: 'counter',
  locktopus_pending_locks: 'gauge',
  locktopus_acquired_locks: 'gauge',
  locktopus_lock_memory_bytes: 'gauge',
  locktopus_lock_memory_limit_bytes: 'gauge',
  locktopus_oldest_enqueued_lock_seconds: 'gauge',
  locktopus_oldest_acquired_lock_seconds: 'gauge',
  locktopus_abandoned_locks: 'gauge',
  locktopus_lock_wait_seconds: 'histogram',
  locktopus_lock_hold_seconds: 'histogram',
  locktopus_ha_role: 'gauge',
  locktopus_ha_takeovers_total: 'counter',
  locktopus_ha_in_sync_standbys: 'gauge',
  locktopus_ha_standbys_dropped_total: 'counter',
  locktopus_ha_grace_remaining_seconds: 'gauge',
  locktopus_build_info: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_open_fds: 'gauge',
  process_max_fds: 'gauge',
  process_virtual_memory_bytes: 'gauge',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
};
const ROLES = ['standby', 'grace', 'serving', 'fenced', 'resigned'];
const NAMESPACE_FAMILIES = {
  locktopus_namespace_locks_requested_total: 'counter',
  locktopus_namespace_locks_acquired_total: 'counter',
  locktopus_namespace_locks_released_total: 'counter',
  locktopus_namespace_locks_cancelled_total: 'counter',
  locktopus_namespace_locks_abandoned_total: 'counter',
  locktopus_namespace_pending_locks: 'gauge',
  locktopus_namespace_acquired_locks: 'gauge',
  locktopus_namespace_oldest_enqueued_lock_seconds: 'gauge',
  locktopus_namespace_oldest_acquired_lock_seconds: 'gauge',
};

/** GET through `agent` (false: a new connection); the body as a Buffer. */
function get(server, path, agent = false) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.get({ host: server.host, port: server.port, path, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, raw: Buffer.concat(chunks), reused: req.reusedSocket,
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), TIMEOUT, `GET ${path}`);
}

/** Scrapes /metrics and checks the exposition; returns the families. */
async function scrape(server, agent = false) {
  const res = await get(server, '/metrics', agent);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const families = parseExposition(res.raw);
  return { families, raw: res.raw };
}

/** The server-wide series as one flat object. */
function read(families) {
  const v = (name, labels) => valueOf(families, name, labels);
  const out = {};
  for (const e of LOCK_EVENTS) out[e] = v(`locktopus_locks_${e}_total`);
  for (const reason of REASONS) out[reason] = v('locktopus_protocol_errors_total', { reason });
  out.tcp_accepted = v('locktopus_tcp_connections_accepted_total');
  out.ws_accepted = v('locktopus_connections_accepted_total');
  out.open = v('locktopus_connections_open');
  out.namespaces = v('locktopus_namespaces');
  out.opened = v('locktopus_namespaces_opened_total');
  out.pending = v('locktopus_pending_locks');
  out.held = v('locktopus_acquired_locks');
  out.abandoned_now = v('locktopus_abandoned_locks');
  out.wait_count = v('locktopus_lock_wait_seconds_count');
  out.hold_count = v('locktopus_lock_hold_seconds_count');
  return out;
}

/** One namespace's labelled series. */
function readNamespace(families, namespace) {
  const out = {};
  for (const e of LOCK_EVENTS) out[e] = valueOf(families, `locktopus_namespace_locks_${e}_total`, { namespace });
  out.pending = valueOf(families, 'locktopus_namespace_pending_locks', { namespace });
  out.held = valueOf(families, 'locktopus_namespace_acquired_locks', { namespace });
  return out;
}

const ZERO = {
  requested: 0, acquired: 0, released: 0, cancelled: 0, abandoned: 0,
  ...Object.fromEntries(REASONS.map((k) => [k, 0])),
  tcp_accepted: 0, ws_accepted: 0, open: 0, namespaces: 0, opened: 0, pending: 0, held: 0, abandoned_now: 0,
  wait_count: 0, hold_count: 0,
};

/** Runs promtool check metrics on the text; null if promtool is absent. */
function promtool(raw) {
  const res = spawnSync('promtool', ['check', 'metrics'], { input: raw, encoding: 'utf8' });
  if (res.error && res.error.code === 'ENOENT') return null;
  return res;
}
const HAVE_PROMTOOL = promtool(Buffer.from('')) !== null;

describe('the exposition checker', () => {
  const ok = [
    '# HELP a_total A.', '# TYPE a_total counter', 'a_total 1',
    '# HELP h H.', '# TYPE h histogram',
    'h_bucket{le="0.1"} 1', 'h_bucket{le="1"} 2', 'h_bucket{le="+Inf"} 3', 'h_sum 4.5', 'h_count 3', '',
  ].join('\n');

  test('accepts a small well-formed exposition', () => {
    const families = parseExposition(ok);
    assert.deepEqual([...families.keys()], ['a_total', 'h']);
    assert.equal(valueOf(families, 'h_bucket', { le: '1' }), 2);
  });

  // Each breaks one rule; a checker that let one through would be useless.
  const bad = {
    'no final line feed': ok.slice(0, -1),
    'a sample before its TYPE': 'x_total 1\n',
    'no HELP': '# TYPE a_total counter\na_total 1\n',
    'a bad metric name': ok.replace('a_total 1', '1a_total 1').replace(/# (HELP|TYPE) a_total/g, '# $1 1a_total'),
    'a bad label name': ok.replace('le="0.1"', 'l-e="0.1"'),
    'a reserved label name': ok.replace('a_total 1', 'a_total{__x="y"} 1'),
    'a bad escape': ok.replace('a_total 1', 'a_total{x="\\t"} 1'),
    'an unquoted label value': ok.replace('a_total 1', 'a_total{x=y} 1'),
    'a bad value': ok.replace('a_total 1', 'a_total one'),
    'a series twice': ok.replace('a_total 1', 'a_total 1\na_total 2'),
    'a counter not named _total': ok.replace(/a_total/g, 'a'),
    'a negative counter': ok.replace('a_total 1', 'a_total -1'),
    'interleaved families': ok.replace('h_count 3', 'h_count 3\na_total{x="1"} 1'),
    'decreasing buckets': ok.replace('h_bucket{le="1"} 2', 'h_bucket{le="1"} 0'),
    'le out of order': ok.replace('le="1"', 'le="0.01"'),
    'no +Inf bucket': ok.replace('h_bucket{le="+Inf"} 3\n', ''),
    '+Inf bucket other than _count': ok.replace('h_count 3', 'h_count 4'),
    'no _sum': ok.replace('h_sum 4.5\n', ''),
    'another comment': `# a comment\n${ok}`,
    'an empty line': ok.replace('a_total 1\n', 'a_total 1\n\n'),
    'not UTF-8': Buffer.concat([Buffer.from(ok.replace('a_total 1', 'a_total{x="')), Buffer.from([0xff]),
      Buffer.from('"} 1\n')]),
  };
  for (const [what, text] of Object.entries(bad)) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parseExposition(text));
    });
  }
});

describe('/metrics', () => {
  test('a fresh server: every family with HELP and TYPE, all zero but the scrape itself', {
    skip: needsOwnServer('counts from zero'),
  }, async () => {
    const server = await startServer();
    const { families, raw } = await scrape(server);
    assert.deepEqual(Object.fromEntries([...families.values()].map((f) => [f.name, f.type])), FAMILIES);
    // the scrape's own TCP connection is the only one accepted
    assert.deepEqual(read(families), { ...ZERO, tcp_accepted: 1 });
    for (const name of ['locktopus_lock_wait_seconds', 'locktopus_lock_hold_seconds']) {
      const buckets = families.get(name).samples.filter((s) => s.name.endsWith('_bucket'));
      assert.deepEqual(buckets.map((s) => s.labels.le), [
        '0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1',
        '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
      assert.equal(valueOf(families, `${name}_sum`), 0);
    }
    assert.ok(!raw.toString().includes('{namespace='), 'no per-namespace series without the flag');
  });

  test('a server without HA: its role, no grace, its build and its process', {
    skip: needsOwnServer('reads its role and runs its binary'),
  }, async () => {
    const server = await startServer();
    const { families } = await scrape(server);
    for (const role of ROLES) {
      assert.equal(valueOf(families, 'locktopus_ha_role', { role }), role === 'serving' ? 1 : 0, role);
    }
    assert.equal(families.get('locktopus_ha_role').samples.length, ROLES.length);
    assert.equal(valueOf(families, 'locktopus_ha_grace_remaining_seconds'), 0);
    for (const kind of ['clean', 'in_sync', 'degraded']) {
      assert.equal(valueOf(families, 'locktopus_ha_takeovers_total', { kind }), 0, kind);
    }
    // The version is the one --version prints, from the same CMake project version.
    const [info] = families.get('locktopus_build_info').samples;
    assert.equal(info.value, 1);
    assert.deepEqual(Object.keys(info.labels), ['version', 'compiler', 'build_type']);
    const version = await runServerCli(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^locktopus \d+\.\d+\.\d+\n$/);
    assert.equal(version.stdout, `locktopus ${info.labels.version}\n`);
    // The process, as /proc/self shows it.
    const v = (name) => valueOf(families, name);
    assert.ok(v('process_resident_memory_bytes') > 1 << 20, 'resident memory');
    assert.ok(v('process_virtual_memory_bytes') >= v('process_resident_memory_bytes'), 'virtual memory');
    assert.ok(v('process_open_fds') >= 4, 'stdio and the listening socket at least');
    assert.ok(v('process_max_fds') >= v('process_open_fds'), 'max fds');
    assert.ok(v('process_cpu_seconds_total') >= 0);
    const started = v('process_start_time_seconds') * 1000;
    assert.ok(started <= Date.now() + 2000 && started > Date.now() - 10 * 60 * 1000, `start time ${started}`);
  });

  test('an unknown URL parameter on /v1 is ignored, counted and logged once by name', {
    skip: needsOwnServer('counts from zero and reads the log'),
  }, async () => {
    const server = await startServer();
    const ns = uniqueNs();
    for (let i = 0; i < 2; i += 1) {
      // A typo of abandon-timeout-ms: the lock still works, with the default.
      const c = await server.connect(ns, 'abandonTimeout=5');
      assert.deepEqual(await c.lock(w('a')), acquired(i + 1));
      assert.deepEqual(await c.release(), ready(i + 1));
      c.close();
    }
    const { families } = await scrape(server);
    assert.equal(valueOf(families, 'locktopus_unknown_query_parameters_total'), 2);
    await server.waitForStderr(/unknown URL parameter 'abandonTimeout'/);
    const mentions = server.stderr.match(/unknown URL parameter 'abandonTimeout'/g) ?? [];
    assert.equal(mentions.length, 1, 'logged once');
  });

  test('every counter, gauge and histogram count follows a conversation exactly', async () => {
    const server = await startServer({
      args: ['--metrics-namespace-labels', 'true', '--max-resources', '2', '--max-message-bytes', '1000'],
    });
    let http = 0; // HTTP requests made, each on its own TCP connection
    const snap = async () => {
      http += 1;
      const { families } = await scrape(server);
      return families;
    };
    const ns = uniqueNs();
    let ws = 0;
    const connect = async (params) => {
      ws += 1;
      return server.connect(ns, params);
    };
    const expectNow = async (want) => {
      const families = await snap();
      assert.deepEqual(read(families), { ...want, tcp_accepted: ws + http });
      return families;
    };
    const until = async (want, what) => {
      await waitFor(async () => {
        const got = read(await snap());
        return got.open === want.open && got.cancelled === want.cancelled && got.abandoned === want.abandoned;
      }, what);
      return expectNow(want);
    };

    let want = { ...ZERO };
    await expectNow(want);

    const [a, b, c] = [await connect(), await connect(), await connect()];
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    assert.deepEqual(await b.lock(w('x')), enqueued(2));
    assert.deepEqual(await c.lock(w('x'), r('z')), enqueued(3));
    want = {
      ...want, requested: 3, acquired: 1, ws_accepted: 3, open: 3, namespaces: 1, opened: 1, pending: 2, held: 1,
      wait_count: 1,
    };
    let families = await expectNow(want);
    assert.deepEqual(readNamespace(families, ns), {
      requested: 3, acquired: 1, released: 0, cancelled: 0, abandoned: 0, pending: 2, held: 1,
    });

    // a release while enqueued is a cancel
    assert.deepEqual(await c.release(), ready(3));
    want = { ...want, cancelled: 1, pending: 1 };
    await expectNow(want);

    // a release of an acquired lock, and the queued lock it lets through
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    want = { ...want, acquired: 2, released: 1, pending: 0, held: 1, wait_count: 2, hold_count: 1 };
    await expectNow(want);

    // a protocol error while acquired abandons the lock, which stays live
    // (and counted as acquired) for its abandon timeout
    b.send('not json');
    await expectProtocolError(b, 'invalid JSON');
    want = { ...want, bad_json: 1, abandoned: 1, abandoned_now: 1, open: 2 };
    await until(want, 'the abandonment after the protocol error');

    // a dropped connection abandons its acquired lock ...
    const d = await connect('abandon-timeout-ms=0');
    assert.deepEqual(await d.lock(w('y')), acquired(4));
    d.terminate();
    want = { ...want, requested: 4, acquired: 3, abandoned: 2, ws_accepted: 4, wait_count: 3 };
    await until(want, 'the abandonment of the dropped connection');

    // ... and cancels its enqueued one (x is still held by the abandoned 2)
    const e = await connect();
    assert.deepEqual(await e.lock(w('x')), enqueued(5));
    e.terminate();
    want = { ...want, requested: 5, cancelled: 2, ws_accepted: 5 };
    await until(want, 'the cancel of the dropped connection');

    // protocol errors by kind
    const f = await connect();
    f.send({ action: 'release' });
    await expectProtocolError(f, 'invalid action [release] in state [ready]');
    const g = await connect();
    g.send({ action: 'unlock' });
    await expectProtocolError(g, 'unknown action');
    const h = await connect();
    h.send({ action: 'lock', resources: [w('a'), w('b'), w('c')] });
    await expectProtocolError(h, 'max-resources');
    const i = await connect();
    i.send(JSON.stringify({ action: 'lock', resources: [w('p'.repeat(2000))] }));
    await expectProtocolError(i, 'max-message-bytes');
    want = {
      ...want, wrong_state: 1, bad_message: 1, over_limit: 1, oversized: 1, ws_accepted: 9,
    };
    await until(want, 'the connections closed by protocol errors');

    // nothing is left over: every lock ended one way
    assert.equal(want.requested, want.acquired + want.cancelled);
    assert.equal(want.acquired, want.released + want.abandoned);
    families = await expectNow(want);
    assert.deepEqual(readNamespace(families, ns), {
      requested: 5, acquired: 3, released: 1, cancelled: 2, abandoned: 2, pending: 0, held: 1,
    });
    assert.ok(valueOf(families, 'locktopus_lock_wait_seconds_sum') >= 0);
    assert.ok(valueOf(families, 'locktopus_lock_hold_seconds_sum') >= 0);
  });

  test('a namespace nobody holds is freed: its series go, and opening it again counts again', async () => {
    const server = await startServer({ args: ['--metrics-namespace-labels', 'true'] });
    const ns = uniqueNs();
    const a = await server.connect(ns, 'abandon-timeout-ms=300');
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    let families = (await scrape(server)).families;
    assert.deepEqual([read(families).namespaces, read(families).opened], [1, 1]);
    assert.equal(readNamespace(families, ns).held, 1);
    // dropped while acquired: the abandoned lock holds the namespace open
    a.terminate();
    await a.waitClosed();
    await waitFor(async () => read((await scrape(server)).families).abandoned_now === 1, 'the abandonment');
    families = (await scrape(server)).families;
    assert.deepEqual([read(families).namespaces, readNamespace(families, ns).held], [1, 1]);
    // until its abandon timeout has released it
    await waitFor(async () => read((await scrape(server)).families).namespaces === 0, 'the namespace to be freed');
    assert.equal(read((await scrape(server)).families).abandoned_now, 0, 'no lock abandoned any more');
    const { raw } = await scrape(server);
    assert.ok(!raw.toString().includes(`namespace="${ns}"`), 'no series of the freed namespace');
    assert.equal((await get(server, `/stats_v1?namespace=${ns}`)).status, 404);
    // opened again: its IDs go on where they were, and it counts as opened
    const b = await server.connect(ns);
    assert.deepEqual(await b.lock(w('x')), acquired(2));
    families = (await scrape(server)).families;
    assert.deepEqual([read(families).namespaces, read(families).opened], [1, 2]);
    assert.deepEqual(readNamespace(families, ns), {
      requested: 1, acquired: 1, released: 0, cancelled: 0, abandoned: 0, pending: 0, held: 1,
    });
  });

  test('the oldest waiting and held locks have ages, server-wide and by namespace', async () => {
    const server = await startServer({ args: ['--metrics-namespace-labels=true'] });
    const [quiet, busy] = [uniqueNs(), uniqueNs()];
    const ages = async () => {
      const { families } = await scrape(server);
      // A series of a namespace not open yet reads as absent.
      const v = (name, labels) => {
        try {
          return valueOf(families, name, labels);
        } catch {
          return undefined;
        }
      };
      return {
        waiting: v('locktopus_oldest_enqueued_lock_seconds'),
        held: v('locktopus_oldest_acquired_lock_seconds'),
        busyWaiting: v('locktopus_namespace_oldest_enqueued_lock_seconds', { namespace: busy }),
        busyHeld: v('locktopus_namespace_oldest_acquired_lock_seconds', { namespace: busy }),
        quietHeld: v('locktopus_namespace_oldest_acquired_lock_seconds', { namespace: quiet }),
      };
    };
    const q = await server.connect(quiet);
    assert.deepEqual(await q.lock(w('x')), acquired(1));
    let a = await ages();
    assert.equal(a.waiting, 0, 'nothing waits');
    assert.ok(a.held >= 0 && a.held < 5, `${a.held}`);
    assert.equal(a.busyHeld, undefined);
    const [h, x] = [await server.connect(busy), await server.connect(busy)];
    assert.deepEqual(await h.lock(w('x')), acquired(1));
    assert.deepEqual(await x.lock(w('x')), enqueued(2));
    await sleep(600);
    a = await ages();
    assert.ok(a.busyWaiting >= 0.5, `waiting ${a.busyWaiting}`);
    assert.ok(a.busyHeld >= 0.5, `held ${a.busyHeld}`);
    assert.ok(a.quietHeld > a.busyHeld, 'the quiet namespace\'s lock is older');
    assert.equal(a.held, a.quietHeld, 'server-wide: the largest');
    assert.equal(a.waiting, a.busyWaiting);
    // Released: the waiter is acquired now, and held for a moment only.
    await h.release();
    await x.expect(acquired(2));
    a = await ages();
    assert.equal(a.busyWaiting, 0);
    assert.ok(a.busyHeld < 0.5, `held ${a.busyHeld}`);
  });

  test('odd namespace names give a valid exposition with one distinct label each', async () => {
    const server = await startServer({ env: { LOCKTOPUS_METRICS_NAMESPACE_LABELS: 'true' } });
    // a quote and a backslash, a line feed, '%', accents, a byte that is not
    // UTF-8, and the percent-encoded spelling of that byte
    const queries = ['q%22%5C', 'line%0Afeed', '100%25', '%C3%A9t%C3%A9', 'a%FF', 'a%25FF'];
    for (const q of queries) {
      const c = await Client.open(`ws://${server.base}/v1?namespace=${q}`);
      assert.deepEqual(await c.lock(w('k')), acquired(1));
    }
    const { families, raw } = await scrape(server);
    const labels = families.get('locktopus_namespace_locks_requested_total').samples.map((s) => s.labels.namespace);
    assert.deepEqual(labels.sort(), ['100%25', 'a%25FF', 'a%FF', 'line%0Afeed', 'q"\\', '\u00e9t\u00e9'].sort());
    for (const label of labels) {
      assert.equal(valueOf(families, 'locktopus_namespace_acquired_locks', { namespace: label }), 1);
    }
    assert.equal(valueOf(families, 'locktopus_namespaces'), queries.length);
    assert.equal(valueOf(families, 'locktopus_acquired_locks'), queries.length);
    if (HAVE_PROMTOOL) {
      const res = promtool(raw);
      assert.equal(res.status, 0, `promtool check metrics: ${res.stdout}${res.stderr}`);
    }
  });

  test('promtool check metrics accepts a scrape after traffic', { skip: !HAVE_PROMTOOL && 'promtool is not installed' }, async () => {
    const server = await startServer({ args: ['--metrics-namespace-labels=true'] });
    const ns = uniqueNs();
    const [a, b] = [await server.connect(ns), await server.connect(ns)];
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    assert.deepEqual(await b.lock(r('x')), enqueued(2));
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    b.send('{');
    await expectProtocolError(b);
    const { raw } = await scrape(server);
    const res = promtool(raw);
    assert.equal(res.status, 0, `promtool check metrics: ${res.stdout}${res.stderr}`);
    // and promtool does fail on a broken exposition
    const broken = promtool(Buffer.from(raw.toString().replace('locktopus_namespaces 1', 'locktopus_namespaces one')));
    assert.notEqual(broken.status, 0);
  });

  test('--metrics-namespace-labels: off by default, a bad value exits 2', async () => {
    const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--metrics-namespace-labels', 'maybe']);
    assert.equal(res.code, 2, res.stderr);
    const help = await runServerCli(['--help']);
    assert.ok(help.stdout.includes('--metrics-namespace-labels'), 'named in --help');
    const server = await startServer({ env: { LOCKTOPUS_METRICS_NAMESPACE_LABELS: 'false' } });
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    const { families, raw } = await scrape(server);
    assert.equal(valueOf(families, 'locktopus_locks_acquired_total'), 1);
    assert.ok(!raw.toString().includes('namespace_locks'), 'no per-namespace families');
  });
});

describe('/healthz and /readyz', () => {
  test('both answer 200 while serving, with any query', async () => {
    const server = await startServer();
    for (const [path, text] of [['/healthz', 'ok'], ['/readyz', 'serving'], ['/readyz?verbose', 'serving']]) {
      const res = await get(server, path);
      assert.equal(res.status, 200, path);
      assert.equal(res.raw.toString().trim(), text, path);
      assert.equal(res.headers['access-control-allow-origin'], '*', path);
    }
    for (const path of ['/healthz/', '/ready', '/metrics/x']) {
      assert.equal((await get(server, path)).status, 404, path);
    }
  });

  test('while draining: /readyz 503, /healthz and /metrics still 200, over a connection opened before the signal', {
    skip: needsOwnServer('signals the server'),
  }, async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const [holder, other] = [await server.connect(ns), await server.connect(ns)];
    assert.deepEqual(await holder.lock(w('x')), acquired(1));
    // The acceptor closes on the signal: only a kept-alive connection can ask.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(server, '/readyz', agent);
      assert.equal(before.status, 200);
      assert.equal(before.raw.toString(), 'serving');

      server.signal('SIGTERM');
      await server.waitForStderr(/waiting/);
      const during = await get(server, '/readyz', agent);
      assert.equal(during.reused, true, 'the kept-alive connection was used');
      assert.equal(during.status, 503);
      assert.equal(during.raw.toString(), 'draining');
      const health = await get(server, '/healthz', agent);
      assert.equal(health.status, 200);

      // a new lock is refused, and counted as such
      other.send({ action: 'lock', resources: [w('y')] });
      await expectProtocolError(other, 'server is shutting down');
      const { families } = await scrape(server, agent);
      assert.equal(valueOf(families, 'locktopus_protocol_errors_total', { reason: 'shutting_down' }), 1);
      assert.equal(valueOf(families, 'locktopus_acquired_locks'), 1);

      assert.deepEqual(await holder.release(), ready(1));
      const { code } = await server.waitExit();
      assert.equal(code, 0);
    } finally {
      agent.destroy();
    }
  });
});
