// The lock inspector over HTTP: GET /locks_v1 (who holds, who waits for
// whom), the `client` parameter of /v1 that names a client, and the auth
// rule that covers both.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  Client, acquired, enqueued, needsOwnServer, r, ready, sharedServer, startServer, test, uniqueNs, upgradeRefusal,
  w, waitFor,
} from './harness.mjs';

const locksOf = async (server, ns, query = '') => {
  const res = await server.get(`/locks_v1?namespace=${encodeURIComponent(ns)}${query}`);
  assert.equal(res.status, 200, `${res.status} ${res.body}`);
  assert.match(res.headers['content-type'] ?? '', /json/);
  return JSON.parse(res.body);
};

/** What a listing says of each lock, without times, peers and connections. */
const shape = (listing) => listing.locks.map((l) => ({
  id: l.id, state: l.state, resources: l.resources, client_name: l.client_name, waits_for: l.waits_for,
}));

describe('the lock inspector', () => {
  const s = sharedServer({ before, after });

  test('holder write a/b (job-1), waiters read a and write a/b/c: who waits for whom', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns, 'client=job-1');
    const reader = await s.server.connect(ns, 'client=job-2');
    const writer = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('a', 'b')), acquired(1));
    assert.deepEqual(await reader.lock(r('a')), enqueued(2));
    assert.deepEqual(await writer.lock(w('a', 'b', 'c')), enqueued(3));

    const listing = await locksOf(s.server, ns);
    assert.equal(listing.namespace, ns);
    assert.equal(listing.live, 3);
    assert.equal(listing.more, false);
    assert.deepEqual(shape(listing), [
      { id: '1', state: 'acquired', resources: [w('a', 'b')], client_name: 'job-1', waits_for: [] },
      { id: '2', state: 'enqueued', resources: [r('a')], client_name: 'job-2', waits_for: ['1'] },
      { id: '3', state: 'enqueued', resources: [w('a', 'b', 'c')], client_name: undefined, waits_for: ['1', '2'] },
    ]);
    for (const lock of listing.locks) {
      assert.match(lock.peer, /^127\.0\.0\.1:\d+$/);
      assert.equal(typeof lock.connection, 'number');
      assert.equal(typeof lock.since_ms, 'number');
      assert.ok(lock.since_ms >= 0);
      assert.equal(lock.waits_for_more, false);
      assert.equal(lock.abandoned, undefined);
    }
    assert.equal(new Set(listing.locks.map((l) => l.connection)).size, 3, 'one connection number each');

    assert.deepEqual(await holder.release(), ready(1));
    await reader.expect(acquired(2));
    const after1 = await locksOf(s.server, ns);
    assert.deepEqual(shape(after1).map((l) => [l.id, l.state, l.waits_for]), [
      ['2', 'acquired', []], ['3', 'enqueued', ['2']],
    ]);
  });

  test('path narrows to the locks whose resources overlap it, written as locktopusctl writes paths', async () => {
    const ns = uniqueNs();
    const clients = await s.server.connectMany(ns, 5);
    await clients[0].lock(r('a'));
    await clients[1].lock(r('a', 'b'));
    await clients[2].lock(r('a', 'b/c'));
    await clients[3].lock(r('x'));
    await clients[4].lock(r());
    const ids = async (p) => (await locksOf(s.server, ns, `&path=${encodeURIComponent(p)}`)).locks.map((l) => l.id);
    assert.deepEqual(await ids('/'), ['1', '2', '3', '4', '5']);
    assert.deepEqual(await ids('a'), ['1', '2', '3', '5']);
    assert.deepEqual(await ids('a/b'), ['1', '2', '5']);
    assert.deepEqual(await ids('a/b%2Fc'), ['1', '3', '5']);
    assert.deepEqual(await ids('a/b%2Fc/d'), ['1', '3', '5']);
    assert.deepEqual(await ids('x/y'), ['4', '5']);
    assert.deepEqual(await ids('nowhere'), ['5']);
    const filtered = await locksOf(s.server, ns, '&path=x');
    assert.equal(filtered.live, 5, 'live counts every lock of the namespace');
  });

  test('limit and blockers cut the listing, and say when more exist', async () => {
    const ns = uniqueNs();
    const readers = await s.server.connectMany(ns, 4);
    for (const [i, c] of readers.entries()) assert.deepEqual(await c.lock(r('a')), acquired(i + 1));
    const writer = await s.server.connect(ns);
    assert.deepEqual(await writer.lock(w('a')), enqueued(5));

    const cut = await locksOf(s.server, ns, '&limit=2');
    assert.deepEqual(cut.locks.map((l) => l.id), ['1', '2']);
    assert.equal(cut.more, true);
    assert.equal(cut.live, 5);

    const all = await locksOf(s.server, ns, '&limit=5&blockers=3');
    assert.equal(all.more, false);
    assert.deepEqual(all.locks[4].waits_for, ['1', '2', '3']);
    assert.equal(all.locks[4].waits_for_more, true);
    const none = await locksOf(s.server, ns, '&blockers=0');
    assert.deepEqual(none.locks[4].waits_for, []);
    assert.equal(none.locks[4].waits_for_more, true);
    const exact = await locksOf(s.server, ns, '&blockers=4');
    assert.deepEqual(exact.locks[4].waits_for, ['1', '2', '3', '4']);
    assert.equal(exact.locks[4].waits_for_more, false);
  });

  test('an abandoned lock says so, and when it will be released; its connection is gone', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns, 'abandon-timeout-ms=60000&client=gone');
    await holder.lock(w('a'));
    holder.terminate();
    const listing = await waitFor(async () => {
      const l = await locksOf(s.server, ns);
      return l.locks[0]?.abandoned ? l : undefined;
    }, 'the lock abandoned');
    const [lock] = listing.locks;
    assert.equal(lock.client_name, 'gone');
    assert.equal(lock.connection, undefined);
    assert.ok(lock.release_in_ms > 50_000 && lock.release_in_ms <= 60_000, `${lock.release_in_ms}`);
  });

  test('a namespace not open is 404, and the inspector does not open it', async () => {
    const ns = uniqueNs();
    const res = await s.server.get(`/locks_v1?namespace=${ns}`);
    assert.equal(res.status, 404);
    assert.match(res.body, /Namespace not found/);
    assert.equal((await s.server.get(`/stats_v1?namespace=${ns}`)).status, 404);
  });

  test('bad parameters are 400, naming the parameter', async () => {
    const ns = uniqueNs();
    await s.server.connect(ns);
    const status = async (q) => {
      const res = await s.server.get(`/locks_v1${q}`);
      return [res.status, res.body];
    };
    assert.deepEqual((await status(''))[0], 400);
    for (const [query, name] of [
      [`?namespace=${ns}&limit=0`, 'limit'], [`?namespace=${ns}&limit=1001`, 'limit'],
      [`?namespace=${ns}&limit=x`, 'limit'], [`?namespace=${ns}&blockers=101`, 'blockers'],
      [`?namespace=${ns}&blockers=-1`, 'blockers'], [`?namespace=${ns}&path=`, 'path'],
      [`?namespace=${ns}&path=a%25zz`, 'path'],
    ]) {
      const [code, body] = await status(query);
      assert.equal(code, 400, query);
      assert.match(body, new RegExp(`'${name}'`), query);
    }
  });

  test('a client name of control characters, bad UTF-8 or over 128 bytes is refused with 400', async () => {
    const ns = uniqueNs();
    for (const bad of ['a%0Ab', 'a%7F', '%C2%85', '%FF', '%C0%AF', 'x'.repeat(129), 'é'.repeat(65)]) {
      const res = await upgradeRefusal(s.server.wsUrl(ns, `client=${bad}`));
      assert.equal(res.status, 400, bad);
      assert.match(res.body, /'client'/, bad);
    }
    const ok = await s.server.connect(ns, `client=${encodeURIComponent('é'.repeat(64))}`);
    assert.deepEqual(await ok.lock(w('a')), acquired(1));
    assert.equal((await locksOf(s.server, ns)).locks[0].client_name, 'é'.repeat(64));
  });
});

describe('the lock inspector behind a token', { skip: needsOwnServer('starts it with a token file') }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-inspect-'));
  const file = path.join(dir, 'tokens');
  const TOKEN = 'tok-inspect-7';
  let server;
  before(async () => {
    fs.writeFileSync(file, `${TOKEN}\n`);
    server = await startServer({ args: ['--auth-token-file', file, '--log-clients', 'true'] });
  });
  after(() => {
    server?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('/locks_v1 needs the token; the client name is in the log beside the connection number', async () => {
    const ns = uniqueNs();
    const a = await Client.open(server.wsUrl(ns, `token=${TOKEN}&client=job-9`));
    assert.deepEqual(await a.lock(w('a')), acquired(1));
    assert.equal((await server.get(`/locks_v1?namespace=${ns}`)).status, 401);
    const res = await server.get(`/locks_v1?namespace=${ns}`, { authorization: `Bearer ${TOKEN}` });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).locks[0].client_name, 'job-9');
    await server.waitForStderr(/client \d+ \(client name "job-9"\) connected from 127\.0\.0\.1:\d+/);
  });
});
