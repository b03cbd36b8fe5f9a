// HAProxy in front of Locktopus groups (packaging/haproxy/), here two groups
// of one standalone server each: every spelling of a namespace lands in one
// group and one lock space; what the server would refuse as malformed the
// proxy refuses itself; a group with no ready server answers 503 and its
// namespaces never move. And the unsafe consistent-hash fixture does grant a
// held write lock twice, which the real configuration does not.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  Client, acquired, enqueued, needsOwnServer, ready, startServer, test, uniqueNs, upgradeRefusal, w,
} from './harness.mjs';
import {
  HAPROXY, INTER, encodeAll, fromProxy, groupOf, rawGet, serverReading, startProxy, startUnsafeProxy,
  waitForState,
} from './proxy.mjs';

const NAMESPACE_REQUIRED = "URL parameter 'namespace' is required";
const MALFORMED = 'Malformed request target';
const NO_SERVER = "No ready server in this namespace's group";

const skip = needsOwnServer('starts servers behind a proxy of its own')
  || (HAPROXY ? false : 'haproxy is not installed (scripts/setup.sh installs it)');

/** The flags of a server of group k of the map g0,g1 (--ha-groups). */
const inMap = (k) => ({ args: ['--ha-groups', 'g0,g1', '--ha-group', `g${k}`] });

/**
 * Two standalone servers, one per group, for the tests of a describe block.
 * Each knows the map and refuses the other group's namespaces (421), so
 * every test that a request was served also checks that the proxy and the
 * servers agree on its group.
 */
function twoServers() {
  const servers = [];
  before(async () => { servers.push(await startServer(inMap(0)), await startServer(inMap(1))); });
  after(() => { for (const s of servers) s.kill(); });
  return servers;
}

/** A raw protocol client through the proxy, the query spelled exactly as given. */
const openThrough = (proxy, query) => Client.open(`ws://${proxy.base}/v1?${query}`);

/** A namespace (from uniqueNs) that lands in group k of 2. */
function nsInGroup(k, prefix) {
  for (;;) {
    const ns = uniqueNs(prefix);
    if (groupOf(ns) === k) return ns;
  }
}

describe('routing by the namespace the server decodes', { skip }, () => {
  const servers = twoServers();
  let proxy;
  before(async () => { proxy = await startProxy([[servers[0]], [servers[1]]]); });
  after(() => proxy?.stop());

  // Each case, given a unique prefix u: the namespace as the server decodes
  // it, and spellings of it.
  const CASES = [
    {
      what: "'+', %20 and an escaped letter; an encoded parameter name; the first of repeated parameters",
      ns: (u) => `${u} a b`,
      spell: (u) => [
        `namespace=${u}+a+b`, `namespace=${u}%20a%20b`, `namespace=${u}%20a%20%62`, `namespace=${u}+a%20%62`,
        `n%61mespace=${u}%20a%20b`, `%6E%61%6D%65%73%70%61%63%65=${u}+a+b`,
        `namespace=${u}%20a%20b&namespace=zzz`, `x=1&namespace=${u}+a+b&n%61mespace=zzz`,
        `NAMESPACE=zzz&Namespace=zzz&namespace=${u}+a+b`, `namespace=${encodeAll(`${u} a b`)}`,
      ],
    },
    {
      what: 'upper- and lower-case hex',
      ns: (u) => `${u}/x:y`,
      spell: (u) => [`namespace=${u}%2Fx%3Ay`, `namespace=${u}%2fx%3ay`, `namespace=${u}/x:y`, `namespace=${u}%2Fx%3ay`],
    },
    { what: "%2B, a literal '+'", ns: (u) => `${u}+c`, spell: (u) => [`namespace=${u}%2Bc`, `namespace=${u}%2bc`] },
    {
      what: 'non-ASCII UTF-8',
      ns: (u) => `${u}é🔒`,
      spell: (u) => [`namespace=${u}%C3%A9%F0%9F%94%92`, `namespace=${u}%c3%a9%f0%9f%94%92`,
        `namespace=${encodeAll(`${u}é🔒`)}`],
    },
    {
      what: "'=', '&', '%' and '?' in the value",
      ns: (u) => `${u}=&%?`,
      spell: (u) => [`namespace=${u}=%26%25?`, `namespace=${u}%3D%26%25%3F`, `namespace=${u}%3d%26%25%3f&namespace=x`],
    },
    { what: 'a NUL byte', ns: (u) => `${u}\0z`, spell: (u) => [`namespace=${u}%00z`, `namespace=${u}%00%7A`] },
  ];

  for (const c of CASES) {
    test(`one namespace, many spellings: ${c.what}`, async () => {
      const u = uniqueNs('sp');
      const [ns, queries] = [c.ns(u), c.spell(u)];
      const k = groupOf(ns);
      // The first spelling takes a write lock; every other one finds that
      // namespace (statistics), in the same group, and queues behind it.
      const holder = await openThrough(proxy, queries[0]);
      assert.deepEqual(await holder.lock(w('k')), acquired(1));
      let id = 1;
      for (const query of queries.slice(1)) {
        const res = await proxy.get(`/stats_v1?${query}`);
        assert.equal(res.status, 200, `${query}: ${res.status} ${res.body}`);
        assert.equal(res.headers['x-locktopus-group'], String(k), query);
        assert.equal(JSON.parse(res.body).LastGroupID, id, query);
        const c = await openThrough(proxy, query);
        id += 1;
        assert.deepEqual(await c.lock(w('k')), enqueued(id), query);
      }
      // The predicted group's server holds it all; the other refuses it.
      const stats = await servers[k].stats(ns);
      assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending], [1, queries.length - 1]);
      const other = await servers[1 - k].get(`/stats_v1?namespace=${encodeURIComponent(ns)}`);
      assert.equal(other.status, 421);
    });
  }

  test("'+' and %2B are two namespaces, each in its own group's lock space", async () => {
    const u = uniqueNs('plus');
    const a = await openThrough(proxy, `namespace=${u}+x`);
    const b = await openThrough(proxy, `namespace=${u}%2Bx`);
    assert.deepEqual(await a.lock(w('k')), acquired(1));
    assert.deepEqual(await b.lock(w('k')), acquired(1));
    assert.equal((await servers[groupOf(`${u} x`)].stats(`${u} x`)).GroupsAcquired, 1);
    assert.equal((await servers[groupOf(`${u}+x`)].stats(`${u}+x`)).GroupsAcquired, 1);
  });

  test('a target the server refuses as malformed is refused by the proxy itself, with the same answer', async () => {
    const targets = [
      '/v1?namespace=%zz', '/v1?namespace=%4', '/v1?namespace=%', '/v1?namespace=ab%', '/v1?namespace=%G0',
      '/v1?namespace=ok&x=%zz', '/v1?x=%4&namespace=ok', '/v1?namespace=ok&%', '/v%zz?namespace=ok', '/%?namespace=ok',
      '/v1?namespace=a[b', '/v1?namespace=a]b', '/v1?namespace=a"b', '/v1?namespace=a{b', '/v1?namespace=a|b',
      '/v1?namespace=a\\b', '/v1?namespace=a^b', '/v1?namespace=a`b', '/v1?namespace=a<b', '/v1[?namespace=ok',
      '/stats_v1?namespace=%zz', '/?x=%zz', '/metrics?%',
    ];
    for (const target of targets) {
      assert.equal(serverReading(target).malformed, true, `the reference reads ${target} as malformed`);
      const direct = await rawGet(servers[0].port, target);
      assert.deepEqual([direct.status, direct.body], [400, MALFORMED], `${target} straight to the server`);
      for (const upgrade of [false, true]) {
        const res = await rawGet(proxy.port, target, { upgrade });
        assert.deepEqual([res.status, res.body], [400, MALFORMED], `${target} through the proxy (upgrade: ${upgrade})`);
        assert.ok(fromProxy(res), `${target}: answered by the proxy, not by a server`);
        assert.equal(res.headers['access-control-allow-origin'], '*', target);
      }
    }
  });

  test("no namespace, or an empty one: the server's 400", async () => {
    for (const query of ['', '?', '?namespace=', '?namespace', '?namespace=&namespace=x', '?n%61mespace&namespace=x',
      '?x=1', '?NAMESPACE=x', '?namespace%20=x', '?namespace+=x', '?%20namespace=x']) {
      const res = await upgradeRefusal(`ws://${proxy.base}/v1${query}`);
      assert.deepEqual([res.status, res.body.trim()], [400, NAMESPACE_REQUIRED], query);
      assert.ok(!fromProxy(res), `${query}: answered by a server`);
    }
  });

  test('requests without a namespace (status page, metrics, probes) go to group 0', async () => {
    for (const target of ['/', '/metrics', '/healthz', '/readyz', '/?x=1']) {
      const res = await proxy.get(target);
      assert.equal(res.status, 200, target);
      assert.equal(res.headers['x-locktopus-group'], '0', target);
    }
  });

  test('every byte, in the query and in the path: the proxy refuses what the server refuses and routes the rest alike', async () => {
    const u = uniqueNs('byte');
    for (let b = 0; b < 256; b += 1) {
      const c = String.fromCharCode(b);
      for (const target of [`/stats_v1?namespace=${u}x${c}y`, `/stats_v1${c}x?namespace=${u}`]) {
        const reading = serverReading(target);
        const direct = await rawGet(servers[0].port, target);
        const proxied = await rawGet(proxy.port, target);
        const what = `byte 0x${b.toString(16)} in ${JSON.stringify(target)}`;
        if (reading.malformed) {
          // Beast closes the connection on bytes that break the request
          // line; HAProxy says 400: both refuse.
          assert.ok([0, 400].includes(direct.status), `${what}: the server answered ${direct.status}`);
          assert.equal(proxied.status, 400, what);
          assert.ok(fromProxy(proxied), `${what}: the proxy refuses it itself`);
        } else if (!reading.ns?.length) {
          assert.deepEqual([direct.status, proxied.status], [400, 400], what);
        } else {
          // A namespace nobody opened: 404 from the server of its group
          // (group 0's server, asked directly, refuses group 1's with 421);
          // a path that is no route: 404 from either.
          const refused = target.startsWith('/stats_v1?') && groupOf(reading.ns) !== 0;
          assert.deepEqual([direct.status, proxied.status], [refused ? 421 : 404, 404], what);
          assert.equal(proxied.headers['x-locktopus-group'], String(groupOf(reading.ns)), what);
        }
      }
    }
  });

  test('random targets: each reaches the group of the namespace the server decodes from it', async (t) => {
    const seed = Number(process.env.LOCKTOPUS_TEST_SEED || Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`seed ${seed} (replay with LOCKTOPUS_TEST_SEED=${seed})`);
    let state = seed;
    // mulberry32: small, seeded, good enough to pick pieces.
    const random = () => {
      state = (state + 0x6D2B79F5) | 0;
      let x = Math.imul(state ^ (state >>> 15), 1 | state);
      x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
      return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    };
    const pick = (list) => list[Math.floor(random() * list.length)];
    const NAMES = ['namespace', 'namespace', 'n%61mespace', '%6Eamespace', 'namespac%65', 'NAMESPACE', 'namespace+',
      'name%20space', 'x', ''];
    const PIECES = ['a', 'Z', '0', '+', '%20', '%2B', '%2b', '%2F', '/', '?', '=', '%3D', '%26', '%25', '%2541', ':', '@',
      '!', '$', "'", '(', ')', '*', ',', ';', '~', '-', '.', '_', '%C3%A9', '%c3%a9', '%00', '%FF', '%7f'];
    // No space: at the end of the target it only widens the gap before
    // HTTP/1.1, which HAProxy accepts and forwards without it (the byte
    // test covers a space inside the target).
    const BAD = ['%', '%4', '%zz', '%G0', '#', '[', ']', '"', '{', '|', '\\', '^', '`', '<', '>', '\x7f', '\xe9'];
    const u = uniqueNs('rnd');
    for (let i = 0; i < 300; i += 1) {
      const params = [];
      for (let p = Math.floor(random() * 3) + 1; p > 0; p -= 1) {
        let value = `${u}.${i}`;
        for (let n = Math.floor(random() * 6); n > 0; n -= 1) value += pick(PIECES);
        params.push(random() < 0.9 ? `${pick(NAMES)}=${value}` : pick(NAMES));
      }
      let query = params.join('&');
      if (random() < 0.1) {
        const at = Math.floor(random() * (query.length + 1));
        query = query.slice(0, at) + pick(BAD) + query.slice(at);
      }
      const target = `/v1?${query}`;
      const what = `${JSON.stringify(target)} (seed ${seed})`;
      const reading = serverReading(target);
      const res = await rawGet(proxy.port, target, { upgrade: true });
      try {
        if (reading.malformed) {
          assert.equal(res.status, 400, what);
          assert.ok(fromProxy(res), `${what}: refused by the proxy itself`);
        } else if (!reading.ns?.length) {
          assert.deepEqual([res.status, res.body.trim()], [400, NAMESPACE_REQUIRED], what);
        } else {
          assert.equal(res.status, 101, `${what}: ${res.status} ${res.body}`);
          const k = groupOf(reading.ns);
          assert.equal(res.headers['x-locktopus-group'], String(k), what);
          // While the connection holds it open, the namespace exists on
          // that group's server, under the name the reference decoded.
          const stats = await servers[k].get(`/stats_v1?namespace=${encodeAll(reading.ns)}`);
          assert.equal(stats.status, 200, `${what}: not open on the server of group ${k}`);
        }
      } finally {
        res.socket?.destroy();
      }
    }
  });

  test('many namespaces spread over both groups, each where its CRC-32 says', async () => {
    const count = [0, 0];
    for (let i = 0; i < 200; i += 1) {
      const ns = uniqueNs('spread');
      const res = await proxy.get(`/stats_v1?namespace=${ns}`);
      assert.equal(res.status, 404, ns);
      const k = Number(res.headers['x-locktopus-group']);
      assert.equal(k, groupOf(ns), ns);
      count[k] += 1;
    }
    assert.ok(count[0] >= 60 && count[1] >= 60, `uneven: ${count}`);
  });
});

describe('a namespace of another group', { skip }, () => {
  const servers = twoServers();

  test('a client straight to the wrong server gets 421 and no lock', async () => {
    const ns = nsInGroup(0, 'straight');
    const refused = await upgradeRefusal(servers[1].wsUrl(ns));
    assert.equal(refused.status, 421);
    assert.equal(refused.body.trim(), `Misdirected Request: namespace [${ns}] belongs to group [g0] (0 of 2); `
      + 'this server serves group [g1]');
    assert.equal((await servers[1].get(`/stats_v1?namespace=${ns}`)).status, 421);
    assert.equal((await servers[1].get(`/locks_v1?namespace=${ns}`)).status, 421);
    const c = await servers[0].connect(ns);
    assert.deepEqual(await c.lock(w('k')), acquired(1));
    c.close();
  });

  test('a stale proxy configuration (the groups swapped) is refused by every server', async () => {
    const proxy = await startProxy([[servers[1]], [servers[0]]]);
    try {
      for (const k of [0, 1]) {
        const refused = await upgradeRefusal(proxy.wsUrl(nsInGroup(k, 'stale')));
        assert.equal(refused.status, 421);
        assert.ok(!fromProxy(refused));
      }
    } finally {
      await proxy.stop();
    }
  });

  test('a proxy whose namespace decoding fails routes nothing (503), never to a default group', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-lua-'));
    const lua = path.join(dir, 'broken.lua');
    fs.writeFileSync(lua, 'core.register_action("locktopus_namespace", { "http-req" }, '
      + 'function(txn) error("broken on purpose") end)\n');
    const proxy = await startProxy([[servers[0]], [servers[1]]], { lua });
    try {
      for (const k of [0, 1]) {
        const refused = await upgradeRefusal(proxy.wsUrl(nsInGroup(k, 'broken')));
        assert.equal(refused.status, 503);
        assert.ok(fromProxy(refused));
      }
    } finally {
      await proxy.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a group with no ready server', { skip }, () => {
  test("fails closed: the other group's namespaces are served, its own get 503 and never move", async () => {
    const servers = [await startServer(), await startServer()];
    const proxy = await startProxy([[servers[0]], [servers[1]]]);
    try {
      const ns0 = nsInGroup(0, 'up');
      const ns1 = nsInGroup(1, 'down');
      const a0 = await proxy.connect(ns0);
      const a1 = await proxy.connect(ns1);
      assert.deepEqual(await a0.lock(w('k')), acquired(1));
      assert.deepEqual(await a1.lock(w('k')), acquired(1));

      servers[1].kill();
      await waitForState(proxy, 'locktopus_g1/g1s0', 'DOWN');
      await a1.waitClosed();

      // For many health-check intervals: group 1's namespace gets the
      // proxy's 503; group 0's is served as before, from its lock space.
      const until = Date.now() + 10 * INTER;
      let id = 1;
      while (Date.now() < until) {
        const refused = await upgradeRefusal(proxy.wsUrl(ns1));
        assert.deepEqual([refused.status, refused.body], [503, NO_SERVER]);
        assert.ok(fromProxy(refused));
        const stats = await proxy.get(`/stats_v1?namespace=${ns1}`);
        assert.equal(stats.status, 503);
        const c = await proxy.connect(ns0);
        id += 1;
        assert.deepEqual(await c.lock(w('k')), enqueued(id));
        c.close();
      }
      // Group 0's server never opened group 1's namespace.
      assert.equal((await servers[0].get(`/stats_v1?namespace=${ns1}`)).status, 404);
      assert.deepEqual(await a0.release(), ready(1));
    } finally {
      await proxy.stop();
    }
  });
});

/**
 * A client holds write users/42 through `proxy`; the server holding it gets
 * SIGTERM and drains (the lock still held, its /readyz failing) until the
 * proxy has taken it out. Returns {holder, server, other}: the holder's
 * connection and server, and the other server.
 */
async function drainTheHolder(proxy, servers, ns, names) {
  const holder = await proxy.connect(ns);
  assert.deepEqual(await holder.lock(w('users', '42')), acquired(1));
  const at = [];
  for (const s of servers) at.push((await s.get(`/stats_v1?namespace=${ns}`)).status === 200);
  assert.equal(at.filter(Boolean).length, 1, 'one server holds the namespace');
  const k = at.indexOf(true);
  servers[k].signal('SIGTERM');
  await servers[k].waitForStderr(/waiting for 1 live locks/);
  await waitForState(proxy, names[k], 'DOWN');
  return { holder, server: servers[k], other: servers[1 - k] };
}

describe('a held write lock while its server drains', { skip }, () => {
  test('unsafe-consistent-hash.cfg moves the namespace and grants the same write lock twice', async () => {
    const servers = [await startServer(), await startServer()];
    const proxy = await startUnsafeProxy(servers);
    try {
      const ns = uniqueNs('unsafe');
      const { holder, server, other } = await drainTheHolder(proxy, servers, ns, ['servers/s0', 'servers/s1']);
      // The proxy now hashes the namespace onto the other server, which has
      // never heard of the lock.
      const second = await proxy.connect(ns);
      assert.deepEqual(await second.lock(w('users', '42')), acquired(1),
        'this configuration is expected to grant the lock a second time');
      // Both hold it at once: the first holder is still connected and its
      // server still runs, waiting for the release.
      assert.equal(server.exitStatus, undefined);
      await holder.expectSilence();
      assert.equal((await other.stats(ns)).GroupsAcquired, 1);
      assert.deepEqual(await holder.release(), ready(1));
      assert.equal((await server.waitExit()).code, 0);
    } finally {
      await proxy.stop();
    }
  });

  test('locktopus.cfg.in, one server per group: the group answers 503 and nobody else grants the lock', async () => {
    const servers = [await startServer(), await startServer()];
    const proxy = await startProxy([[servers[0]], [servers[1]]]);
    try {
      const ns = uniqueNs('safe');
      const { holder, server, other } = await drainTheHolder(
        proxy, servers, ns, ['locktopus_g0/g0s0', 'locktopus_g1/g1s0'],
      );
      const until = Date.now() + 10 * INTER;
      while (Date.now() < until) {
        const res = await upgradeRefusal(proxy.wsUrl(ns));
        assert.deepEqual([res.status, res.body], [503, NO_SERVER]);
      }
      assert.equal((await other.get(`/stats_v1?namespace=${ns}`)).status, 404, 'the other group never saw it');
      // The holder's connection still runs through the proxy: it releases,
      // and the drain ends.
      assert.deepEqual(await holder.release(), ready(1));
      assert.equal((await server.waitExit()).code, 0);
    } finally {
      await proxy.stop();
    }
  });
});
