// The configurable limits, each set small on the command line: the last
// allowed value works, one more is refused with a reason naming the flag.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  TIMEOUT, Client, acquired, enqueued, expectProtocolError, ready, sharedServer, test, uniqueNs,
  upgradeRefusal, w, waitFor,
} from './harness.mjs';

describe('limits of one lock request', () => {
  const s = sharedServer({ before, after }, {
    args: ['--max-message-bytes', '300', '--max-resources', '3', '--max-path-depth', '3', '--max-segment-bytes', '8',
      '--max-lock-segments', '5'],
  });

  /** A holder in the namespace proves a protocol error leaves others alone. */
  async function withHolder(fn) {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('held')), acquired(1));
    await fn(ns);
    const waiter = await s.server.connect(ns);
    const answer = await waiter.lock(w('held'));
    assert.equal(answer.state, 'enqueued');
    assert.deepEqual(await holder.release(), ready(1));
    await waiter.expect({ ...answer, state: 'acquired' });
  }

  /** A lock request padded with an ignored field to exactly `bytes` bytes. */
  function paddedLock(bytes) {
    const base = JSON.stringify({ action: 'lock', resources: [w('m')], pad: '' });
    assert.ok(bytes >= base.length);
    const text = JSON.stringify({ action: 'lock', resources: [w('m')], pad: 'x'.repeat(bytes - base.length) });
    assert.equal(Buffer.byteLength(text), bytes);
    return text;
  }

  test('max-message-bytes: a message of exactly the limit is accepted', async () => {
    const a = await s.server.connect(uniqueNs());
    a.send(paddedLock(300));
    await a.expect(acquired(1));
  });

  test('max-message-bytes: one byte more is a protocol error naming the flag', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send(paddedLock(301));
      await expectProtocolError(a, 'max-message-bytes');
    });
  });

  test('max-message-bytes: a much larger message is refused the same way', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send(paddedLock(200_000));
      await expectProtocolError(a, 'max-message-bytes');
    });
  });

  test('max-message-bytes applies to binary frames too', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.sendBinary(paddedLock(301));
      await expectProtocolError(a, 'max-message-bytes');
    });
  });

  test('max-resources: 3 resources are accepted', async () => {
    const a = await s.server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('a'), w('b'), w('c')), acquired(1));
  });

  test('max-resources: 4 resources are a protocol error naming the flag', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send({ action: 'lock', resources: [w('a'), w('b'), w('c'), w('d')] });
      await expectProtocolError(a, 'max-resources');
    });
  });

  test('max-path-depth: a path of 3 segments is accepted', async () => {
    const a = await s.server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('a', 'b', 'c')), acquired(1));
  });

  test('max-path-depth: 4 segments are a protocol error naming the flag', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send({ action: 'lock', resources: [w('a'), w('a', 'b', 'c', 'd')] });
      await expectProtocolError(a, 'max-path-depth');
    });
  });

  test('max-lock-segments: 5 path segments in all are accepted', async () => {
    const a = await s.server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('a', 'b', 'c'), w('d'), w('e')), acquired(1));
  });

  test('max-lock-segments: 6 are a protocol error naming the flag', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send({ action: 'lock', resources: [w('a', 'b', 'c'), w('d', 'e'), w('f')] });
      await expectProtocolError(a, 'max-lock-segments');
    });
  });

  test('max-segment-bytes: a segment of 8 bytes (4 two-byte characters) is accepted', async () => {
    const a = await s.server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('ok', 'éééé'), w('12345678')), acquired(1));
  });

  test('max-segment-bytes: 9 bytes (5 characters) are a protocol error naming the flag', async () => {
    await withHolder(async (ns) => {
      const a = await s.server.connect(ns);
      a.send({ action: 'lock', resources: [w('ok', 'ééééa')] });
      await expectProtocolError(a, 'max-segment-bytes');
    });
  });
});

describe('limits of the upgrade request', () => {
  const s = sharedServer({ before, after }, {
    // the default abandon timeout may not exceed the maximum
    args: ['--max-namespace-bytes', '8', '--max-abandon-timeout', '1000', '--default-abandon-timeout', '500'],
  });

  test('max-namespace-bytes: a namespace of 8 bytes is accepted', async () => {
    const a = await s.server.connect('nsé12ab'); // 8 bytes, 7 characters
    assert.deepEqual(await a.lock(w('x')), acquired(1));
  });

  test('max-namespace-bytes: 9 bytes are refused with 400 naming the flag', async () => {
    const res = await upgradeRefusal(s.server.wsUrl('nsé12abc'));
    assert.equal(res.status, 400);
    assert.ok(res.body.includes('max-namespace-bytes'), res.body);
  });

  test('max-abandon-timeout: abandon-timeout-ms equal to the maximum is accepted', async () => {
    const a = await s.server.connect('atmax', 'abandon-timeout-ms=1000');
    assert.deepEqual(await a.lock(w('x')), acquired(1));
  });

  test('max-abandon-timeout: above the maximum is refused with 400 naming the flag', async () => {
    const res = await upgradeRefusal(s.server.wsUrl('n', 'abandon-timeout-ms=1001'));
    assert.equal(res.status, 400);
    assert.ok(res.body.includes('max-abandon-timeout'), res.body);
  });
});

describe('max-connections', () => {
  const s = sharedServer({ before, after }, { args: ['--max-connections', '3'] });

  test('the connection over the limit gets 503; a freed place can be taken again', async () => {
    const ns = uniqueNs();
    const cs = await s.server.connectMany(ns, 3);
    assert.deepEqual(await cs[0].lock(w('c')), acquired(1));
    const refused = await upgradeRefusal(s.server.wsUrl(ns));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['access-control-allow-origin'], '*');
    // the open connections keep working
    assert.deepEqual(await cs[1].lock(w('c')), enqueued(2));
    assert.deepEqual(await cs[0].release(), ready(1));
    await cs[1].expect(acquired(2));
    // HTTP requests that are not upgrades are still served
    const res = await s.server.get(`/stats_v1?namespace=${ns}`);
    assert.equal(res.status, 200);
    // close one; the server notices in its own time, then accepts again
    cs[2].close();
    await cs[2].waitClosed();
    const again = await waitFor(async () => {
      try {
        return await Client.open(s.server.wsUrl(ns));
      } catch (err) {
        if (!/HTTP 503/.test(err.message)) throw err;
        return undefined;
      }
    }, 'a connection to be accepted after one closed', { timeout: TIMEOUT, interval: 50 });
    assert.deepEqual(await again.lock(w('d')), acquired(3));
  });
});
