// The conversation of docs/protocol.md, row by row, through raw WebSocket
// frames: exact answers, decimal string IDs, binary frames, the accepted
// spellings of `type`, ignored unknown fields, namespaces and their ID
// sequences.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  Client, acquired, enqueued, ready, r, sharedServer, test, uniqueNs, w,
} from './harness.mjs';

describe('conversation', () => {
  const s = sharedServer({ before, after });

  test('ready + lock on a free path: acquired at once, id "1"', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    a.send({ action: 'lock', resources: [{ type: 'write', path: ['group_x', 'entity_a'] }, { type: 'read', path: ['group_y'] }] });
    const msg = await a.next();
    assert.equal(msg.isBinary, false, 'answers are text frames');
    assert.deepEqual(JSON.parse(msg.text), { id: '1', action: 'lock', state: 'acquired' });
    await a.expectSilence();
  });

  test('acquired + release: ready with the same id, then the connection can lock again with the next id', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    assert.deepEqual(await a.release(), ready(1));
    assert.deepEqual(await a.lock(w('x')), acquired(2));
    assert.deepEqual(await a.release(), ready(2));
    assert.deepEqual(await a.lock(r('y')), acquired(3));
    await a.expectSilence();
  });

  test('ready + lock on a held path: enqueued, then exactly one acquired when the holder releases', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    const b = await s.server.connect(ns);
    assert.deepEqual(await a.lock(w('p')), acquired(1));
    assert.deepEqual(await b.lock(w('p')), enqueued(2));
    await b.expectSilence();
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    await b.expectSilence();
    await a.expectSilence();
    assert.deepEqual(await b.release(), ready(2));
  });

  test('enqueued + release cancels: ready, and no acquired ever follows', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    const b = await s.server.connect(ns);
    assert.deepEqual(await a.lock(w('p')), acquired(1));
    assert.deepEqual(await b.lock(w('p')), enqueued(2));
    assert.deepEqual(await b.release(), ready(2));
    assert.deepEqual(await a.release(), ready(1));
    await b.expectSilence();
    // b is ready again: its next lock gets the next id and the free path.
    assert.deepEqual(await b.lock(w('p')), acquired(3));
  });

  test('IDs are decimal strings that keep counting past 9', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    for (let i = 1; i <= 12; i += 1) {
      const got = await a.lock(w('n'));
      assert.deepEqual(got, acquired(i));
      assert.equal(typeof got.id, 'string');
      assert.deepEqual(await a.release(), ready(i));
    }
  });

  test('binary frames holding JSON are accepted; answers stay text frames', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    const b = await s.server.connect(ns);
    a.sendBinary({ action: 'lock', resources: [w('bin')] });
    const m1 = await a.next();
    assert.equal(m1.isBinary, false);
    assert.deepEqual(JSON.parse(m1.text), acquired(1));
    b.sendBinary({ action: 'lock', resources: [r('bin', 'x')] });
    await b.expect(enqueued(2));
    a.sendBinary({ action: 'release' });
    await a.expect(ready(1));
    await b.expect(acquired(2));
    b.sendBinary({ action: 'release' });
    await b.expect(ready(2));
  });

  test('a normal close (1000) while ready gets a normal close back', async () => {
    const a = await s.server.connect(uniqueNs());
    a.close(1000);
    const { code } = await a.waitClosed();
    assert.equal(code, 1000);
    assert.deepEqual(a.received, []);
  });

  test('several requests in one burst are answered in order', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    a.send({ action: 'lock', resources: [w('burst')] });
    a.send({ action: 'release' });
    a.send({ action: 'lock', resources: [r('burst')] });
    a.send({ action: 'release' });
    await a.expect(acquired(1));
    await a.expect(ready(1));
    await a.expect(acquired(2));
    await a.expect(ready(2));
    await a.expectSilence();
  });
});

describe('request format', () => {
  const s = sharedServer({ before, after });

  for (const [spelling, kind] of [
    ['read', 'read'], ['READ', 'read'], ['Read', 'read'], ['rEaD', 'read'], ['r', 'read'], ['R', 'read'],
    ['write', 'write'], ['WRITE', 'write'], ['Write', 'write'], ['wRiTe', 'write'], ['w', 'write'], ['W', 'write'],
  ]) {
    test(`type "${spelling}" is a ${kind} lock`, async () => {
      const ns = uniqueNs();
      const a = await s.server.connect(ns);
      const b = await s.server.connect(ns);
      assert.deepEqual(await a.lock({ type: spelling, path: ['t'] }), acquired(1));
      // A second reader shares with a reader and waits for a writer.
      assert.deepEqual(await b.lock(r('t')), kind === 'read' ? acquired(2) : enqueued(2));
      if (kind === 'write') {
        assert.deepEqual(await a.release(), ready(1));
        await b.expect(acquired(2));
      }
    });
  }

  test('unknown fields in the request, the resources and a release are ignored', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    const b = await s.server.connect(ns);
    a.send({ action: 'lock', resources: [{ type: 'w', path: ['u'], extra: 1, ttl: { x: [null] } }], foo: 'bar', id: '999' });
    await a.expect(acquired(1));
    assert.deepEqual(await b.lock(w('u')), enqueued(2));
    a.send({ action: 'release', resources: 'ignored', id: 42 });
    await a.expect(ready(1));
    await b.expect(acquired(2));
  });

  test('path [] locks the whole namespace', async () => {
    const ns = uniqueNs();
    const [a, b, c, d] = await s.server.connectMany(ns, 4);
    assert.deepEqual(await a.lock({ type: 'write', path: [] }), acquired(1));
    assert.deepEqual(await b.lock(r('anything')), enqueued(2));
    assert.deepEqual(await c.lock(w('x', 'y', 'z')), enqueued(3));
    // another namespace is untouched
    const other = await s.server.connect(uniqueNs());
    assert.deepEqual(await other.lock(w('anything')), acquired(1));
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    await c.expect(acquired(3));
    assert.deepEqual(await d.lock(w()), enqueued(4));
  });

  test('segments are compared byte for byte: "", "/", ":" and non-ASCII are ordinary segments', async () => {
    const ns = uniqueNs();
    const [a, b, c, d, e] = await s.server.connectMany(ns, 5);
    assert.deepEqual(await a.lock(w('')), acquired(1));
    assert.deepEqual(await b.lock(w('a/b')), acquired(2));
    assert.deepEqual(await c.lock(w('a', 'b')), acquired(3)); // not the same as "a/b"
    assert.deepEqual(await d.lock(w('ключ', 'é:1')), acquired(4));
    assert.deepEqual(await e.lock(r('ключ')), enqueued(5)); // overlaps d
    assert.deepEqual(await d.release(), ready(4));
    await e.expect(acquired(5));
  });
});

describe('namespaces', () => {
  const s = sharedServer({ before, after });

  test('two namespaces never interact and each counts its own IDs from "1"', async () => {
    const ns1 = uniqueNs();
    const ns2 = uniqueNs();
    const a = await s.server.connect(ns1);
    const b = await s.server.connect(ns2);
    assert.deepEqual(await a.lock(w()), acquired(1));
    assert.deepEqual(await b.lock(w()), acquired(1));
    const a2 = await s.server.connect(ns1);
    assert.deepEqual(await a2.lock(r('q')), enqueued(2));
    const b2 = await s.server.connect(ns2);
    assert.deepEqual(await b2.lock(r('q')), enqueued(2));
  });

  test('a namespace keeps its ID sequence after every client has left', async () => {
    const ns = uniqueNs();
    const a = await s.server.connect(ns);
    assert.deepEqual(await a.lock(w('k')), acquired(1));
    assert.deepEqual(await a.release(), ready(1));
    a.close();
    await a.waitClosed();
    const b = await s.server.connect(ns);
    assert.deepEqual(await b.lock(w('k')), acquired(2));
  });

  test('the namespace query value is URL-decoded', async () => {
    const tag = uniqueNs();
    // "x y-…" written three ways: one namespace, one ID sequence.
    const a = await s.server.connect(`x y-${tag}`); // connect() encodes the space as %20
    assert.deepEqual(await a.lock(w('d')), acquired(1));
    const b = await Client.open(`ws://${s.server.base}/v1?namespace=%78%20y-${encodeURIComponent(tag)}`);
    assert.deepEqual(await b.lock(w('d')), enqueued(2));
    const stats = await s.server.stats(`x y-${tag}`);
    assert.equal(stats.LastGroupID, 2);
  });
});
