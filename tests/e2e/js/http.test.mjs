// The HTTP side: statistics, the status page, CORS, unknown paths and the
// refusals of bad upgrade requests.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  Client, WebSocket, acquired, enqueued, needsOwnServer, r, ready, sharedServer, test, uniqueNs, upgradeRefusal, w,
} from './harness.mjs';

const NAMESPACE_REQUIRED = "URL parameter 'namespace' is required";
const BAD_ABANDON = "URL parameter 'abandon-timeout-ms' should be integer value >= 0 representing broken connection timeout (in milliseconds)";

/** Bodies may end with a line break; nothing else may differ. */
const body = (res) => res.body.replace(/\r?\n$/, '');

const STAT_FIELDS = ['LastGroupID', 'GroupsPending', 'GroupsAcquired', 'LocksPending', 'LocksAcquired', 'PathCount'];
const pick = (stats) => Object.fromEntries(STAT_FIELDS.map((k) => [k, stats[k]]));
const zero = { LastGroupID: 0, GroupsPending: 0, GroupsAcquired: 0, LocksPending: 0, LocksAcquired: 0, PathCount: 0 };

describe('statistics', () => {
  const s = sharedServer({ before, after });

  test('a namespace has statistics from its first connection on, all zero before any lock', async () => {
    const ns = uniqueNs();
    await s.server.connect(ns);
    const res = await s.server.get(`/stats_v1?namespace=${ns}`);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /json/);
    const stats = JSON.parse(res.body);
    for (const k of STAT_FIELDS) assert.equal(typeof stats[k], 'number', `${k} is a number`);
    assert.deepEqual(pick(stats), zero);
  });

  test('the fields follow the locks: pending, acquired, resources, paths and the last ID', async () => {
    const ns = uniqueNs();
    const [a, b, c] = await s.server.connectMany(ns, 3);
    assert.deepEqual(await a.lock(w('a', 'b')), acquired(1));
    assert.deepEqual(pick(await s.server.stats(ns)), {
      LastGroupID: 1, GroupsPending: 0, GroupsAcquired: 1, LocksPending: 0, LocksAcquired: 1, PathCount: 2,
    });
    assert.deepEqual(await b.lock(w('a'), r('c', 'd', 'e')), enqueued(2));
    assert.deepEqual(pick(await s.server.stats(ns)), {
      LastGroupID: 2, GroupsPending: 1, GroupsAcquired: 1, LocksPending: 2, LocksAcquired: 1, PathCount: 5,
    });
    assert.deepEqual(await c.lock(r('x'), r('x'), r('y')), acquired(3));
    assert.deepEqual(pick(await s.server.stats(ns)), {
      LastGroupID: 3, GroupsPending: 1, GroupsAcquired: 2, LocksPending: 2, LocksAcquired: 4, PathCount: 7,
    });
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    assert.deepEqual(pick(await s.server.stats(ns)), {
      LastGroupID: 3, GroupsPending: 0, GroupsAcquired: 2, LocksPending: 0, LocksAcquired: 5, PathCount: 6,
    });
    assert.deepEqual(await b.release(), ready(2));
    assert.deepEqual(await c.release(), ready(3));
    assert.deepEqual(pick(await s.server.stats(ns)), { ...zero, LastGroupID: 3 });
  });

  test('a cancelled lock leaves the statistics at once', async () => {
    const ns = uniqueNs();
    const [a, b] = await s.server.connectMany(ns, 2);
    assert.deepEqual(await a.lock(w()), acquired(1));
    assert.deepEqual(await b.lock(w('q'), w('q', 'r')), enqueued(2));
    assert.deepEqual(await b.release(), ready(2));
    assert.deepEqual(pick(await s.server.stats(ns)), {
      LastGroupID: 2, GroupsPending: 0, GroupsAcquired: 1, LocksPending: 0, LocksAcquired: 1, PathCount: 0,
    });
  });

  test('/stats is an alias of /stats_v1', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    assert.deepEqual(await a.lock(w('p')), acquired(1));
    const res = await s.server.get(`/stats?namespace=${ns}`);
    assert.equal(res.status, 200);
    assert.deepEqual(pick(JSON.parse(res.body)), {
      LastGroupID: 1, GroupsPending: 0, GroupsAcquired: 1, LocksPending: 0, LocksAcquired: 1, PathCount: 1,
    });
  });

  test('statistics of a namespace nobody opened: 404 Namespace not found', async () => {
    for (const p of ['/stats_v1', '/stats']) {
      const res = await s.server.get(`${p}?namespace=${uniqueNs('never')}`);
      assert.equal(res.status, 404, p);
      assert.equal(body(res), 'Namespace not found', p);
    }
  });

  test('statistics without a namespace: 400', async () => {
    for (const p of ['/stats_v1', '/stats_v1?namespace=', '/stats', '/stats?other=1']) {
      const res = await s.server.get(p);
      assert.equal(res.status, 400, p);
    }
  });

  test('the namespace of /stats_v1 is URL-decoded like the one of /v1', async () => {
    const ns = `a b/c?${uniqueNs()}`;
    await s.server.connect(ns);
    const res = await s.server.get(`/stats_v1?namespace=${encodeURIComponent(ns)}`);
    assert.equal(res.status, 200);
  });
});

describe('pages and headers', () => {
  const s = sharedServer({ before, after });

  test('/ is a status page naming the endpoints and the open namespaces', {
    skip: needsOwnServer('lists every open namespace: a shared one may hold too many for the page'),
  }, async () => {
    const ns = uniqueNs('visible');
    await s.server.connect(ns);
    const res = await s.server.get('/');
    assert.equal(res.status, 200);
    for (const endpoint of ['/v1', '/stats_v1', '/metrics', '/healthz', '/readyz']) {
      assert.ok(res.body.includes(endpoint), `mentions ${endpoint}`);
    }
    assert.ok(res.body.includes(ns), `mentions the namespace ${ns}`);
  });

  test('an unknown path: 404', async () => {
    for (const p of ['/nope', '/v2?namespace=x', '/v1/extra?namespace=x', '/stats_v2?namespace=x']) {
      const res = await s.server.get(p);
      assert.equal(res.status, 404, p);
    }
  });

  test('every response carries Access-Control-Allow-Origin: *', async () => {
    const ns = uniqueNs();
    await s.server.connect(ns);
    const cases = [
      ['/', 200], ['/nope', 404], [`/stats_v1?namespace=${ns}`, 200], [`/stats?namespace=${ns}`, 200],
      [`/stats_v1?namespace=${uniqueNs('never')}`, 404], ['/stats_v1', 400], ['/v1?namespace=x', 426],
    ];
    for (const [p, status] of cases) {
      const res = await s.server.get(p);
      assert.equal(res.status, status, p);
      assert.equal(res.headers['access-control-allow-origin'], '*', `CORS header on ${p}`);
    }
    for (const q of ['', 'namespace=x&abandon-timeout-ms=abc']) {
      const res = await upgradeRefusal(`ws://${s.server.base}/v1?${q}`);
      assert.equal(res.status, 400);
      assert.equal(res.headers['access-control-allow-origin'], '*', `CORS header on the refused upgrade ?${q}`);
    }
  });

  test('a plain GET of /v1 without upgrade headers: 426', async () => {
    const res = await s.server.get('/v1?namespace=x');
    assert.equal(res.status, 426);
  });

  test('the upgrade accepts any Origin', async () => {
    const url = s.server.wsUrl(uniqueNs());
    const ws = new WebSocket(url, { origin: 'https://elsewhere.example' });
    const c = await new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws, url)));
      ws.once('unexpected-response', (_, res) => reject(new Error(`refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    assert.deepEqual(await c.lock(w('o')), acquired(1));
  });
});

describe('refused upgrades', () => {
  const s = sharedServer({ before, after });

  test('/v1 without a namespace: 400 and the documented body', async () => {
    for (const q of ['', '?', '?namespace=', '?abandon-timeout-ms=5', '?namespace=&abandon-timeout-ms=5']) {
      const res = await upgradeRefusal(`ws://${s.server.base}/v1${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(body(res), NAMESPACE_REQUIRED, q);
    }
  });

  for (const value of ['abc', '-1', '1.5', '', '12abc']) {
    test(`abandon-timeout-ms=${JSON.stringify(value)}: 400 and the documented body`, async () => {
      const res = await upgradeRefusal(`ws://${s.server.base}/v1?namespace=x&abandon-timeout-ms=${encodeURIComponent(value)}`);
      assert.equal(res.status, 400);
      assert.equal(body(res), BAD_ABANDON);
    });
  }

  test('a refused upgrade does not create the namespace', async () => {
    const ns = uniqueNs();
    await upgradeRefusal(`ws://${s.server.base}/v1?namespace=${ns}&abandon-timeout-ms=-1`);
    const res = await s.server.get(`/stats_v1?namespace=${ns}`);
    assert.equal(res.status, 404);
  });
});
