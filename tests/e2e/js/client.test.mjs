// The published JavaScript client, @locktopus/client 1.1.x, unchanged against
// this server: lock, wait, release, cancel, abandonment, crossing messages.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import locktopus from '@locktopus/client';
import WebSocket from 'ws';
import {
  EARLY, TIMEOUT, sharedServer, sleep, test, uniqueNs, withTimeout,
} from './harness.mjs';

const { LocktopusClient, LOCK_TYPE, CLIENT_STATE } = locktopus;

const write = (...path) => ({ type: LOCK_TYPE.WRITE, path });
const read = (...path) => ({ type: LOCK_TYPE.READ, path });
const bounded = (promise, what) => withTimeout(promise, TIMEOUT, what);

describe('@locktopus/client', () => {
  const s = sharedServer({ before, after });
  const opened = [];
  after(() => { for (const c of opened) c.close(); });

  async function client(namespace, abandonTimeoutMs) {
    const c = new LocktopusClient(WebSocket, {
      host: s.server.host, port: s.server.port, namespace, secure: false, abandonTimeoutMs,
    });
    await bounded(c.connect(), 'connect()');
    opened.push(c);
    return c;
  }

  test('lock, wait for acquisition, release', async () => {
    const ns = uniqueNs('client');
    const a = await client(ns);
    const b = await client(ns);
    assert.equal(a.getState(), CLIENT_STATE.READY);
    assert.equal(await bounded(a.lock(write('a', 'b'), read('c')), 'a.lock()'), true);
    assert.equal(a.getLockId(), '1');
    assert.equal(a.isAcquired(), true);
    assert.equal(await bounded(b.lock(read('a')), 'b.lock()'), false);
    assert.equal(b.getLockId(), '2');
    assert.equal(b.getState(), CLIENT_STATE.ENQUEUED);
    const waiting = b.acquire();
    await bounded(a.release(), 'a.release()');
    assert.equal(a.getState(), CLIENT_STATE.READY);
    assert.equal(await bounded(waiting, 'b.acquire()'), true);
    assert.equal(b.getState(), CLIENT_STATE.ACQUIRED);
    await bounded(b.release(), 'b.release()');
    // a can lock again and gets the next ID
    assert.equal(await bounded(a.lock(write('a')), 'a.lock() again'), true);
    assert.equal(a.getLockId(), '3');
  });

  test('release while enqueued cancels: acquire() resolves false, nothing is left behind', async () => {
    const ns = uniqueNs('client');
    const a = await client(ns);
    const b = await client(ns);
    const trace = [];
    b.onMessage((m) => trace.push(`${m.direction} ${m.data}`));
    assert.equal(await bounded(a.lock(write('x')), 'a.lock()'), true);
    assert.equal(await bounded(b.lock(write('x')), 'b.lock()'), false);
    const waiting = b.acquire();
    await bounded(b.release(), 'b.release()');
    assert.equal(await bounded(waiting, 'b.acquire()'), false);
    assert.equal(b.getState(), CLIENT_STATE.READY);
    await bounded(a.release(), 'a.release()');
    const stats = await s.server.stats(ns);
    assert.deepEqual([stats.GroupsPending, stats.GroupsAcquired, stats.LastGroupID], [0, 0, 2]);
    await sleep(100);
    assert.deepEqual(trace.filter((t) => t.startsWith('in ')).map((t) => JSON.parse(t.slice(3))), [
      { id: '2', action: 'lock', state: 'enqueued' },
      { id: '2', action: 'release', state: 'ready' },
    ]);
  });

  test('a client that closes while holding abandons its lock; another acquires after the abandon timeout', async () => {
    const ns = uniqueNs('client');
    const a = await client(ns, 500);
    const b = await client(ns);
    assert.equal(await bounded(a.lock(write('held')), 'a.lock()'), true);
    assert.equal(await bounded(b.lock(write('held')), 'b.lock()'), false);
    let acquiredAt = 0;
    const waiting = b.acquire().then((v) => { acquiredAt = Date.now(); return v; });
    a.close();
    await sleep(EARLY);
    assert.equal(acquiredAt, 0, 'not acquired before the abandon timeout');
    assert.equal(await bounded(waiting, 'b.acquire()'), true);
    assert.equal(b.getLockId(), '2');
    await bounded(b.release(), 'b.release()');
  });

  test('release racing the acquisition notice is handled by the client, round after round', async () => {
    const ns = uniqueNs('client');
    const a = await client(ns);
    const b = await client(ns);
    for (let round = 0; round < 30; round += 1) {
      assert.equal(await bounded(a.lock(write('race')), 'a.lock()'), true);
      assert.equal(await bounded(b.lock(write('race')), 'b.lock()'), false);
      await bounded(Promise.all([a.release(), b.release()]), 'both releases');
      assert.equal(a.getState(), CLIENT_STATE.READY);
      assert.equal(b.getState(), CLIENT_STATE.READY);
    }
    const stats = await s.server.stats(ns);
    assert.deepEqual([stats.GroupsPending, stats.GroupsAcquired, stats.LastGroupID], [0, 0, 60]);
  });

  test('a refused handshake rejects connect()', async () => {
    const c = new LocktopusClient(WebSocket, `ws://${s.server.base}/v1?abandon-timeout-ms=1`);
    await assert.rejects(bounded(c.connect(), 'connect()'), /Handshake/);
  });
});
