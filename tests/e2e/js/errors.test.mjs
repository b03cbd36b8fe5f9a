// Protocol errors (docs/protocol.md, Errors): one text frame
// `communication error: <reason>`, then close code 3000; nobody else is
// affected, and the offender's own lock is handled as if it had dropped.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  ABANDON, EARLY, TIMEOUT, acquired, enqueued, expectProtocolError, needsOwnServer, ready, sharedServer, startServer,
  test, uniqueNs, w,
} from './harness.mjs';

const bad = (resources) => JSON.stringify({ action: 'lock', resources });

/** Malformed frames that are an error in state `ready`. */
const malformed = [
  ['not JSON', 'this is not json'],
  ['truncated JSON', '{"action":"lock","resources":[{"type":"write","path":["a"]}]'],
  ['a JSON array', '[{"action":"lock","resources":[{"type":"write","path":["a"]}]}]'],
  ['a JSON number', '42'],
  ['a JSON string', '"lock"'],
  ['JSON null', 'null'],
  ['an unknown action', '{"action":"unlock"}'],
  ['no action at all', '{"resources":[{"type":"write","path":["a"]}]}'],
  ['missing resources', '{"action":"lock"}'],
  ['resources not an array (object)', '{"action":"lock","resources":{"type":"write","path":["a"]}}'],
  ['resources not an array (string)', '{"action":"lock","resources":"a"}'],
  ['empty resources', bad([])],
  ['a resource that is a string', bad(['a'])],
  ['a resource that is null', bad([null])],
  ['a resource that is an array', bad([['write', ['a']]])],
  ['one bad resource among good ones', bad([{ type: 'write', path: ['a'] }, 7])],
  ['an unknown type', bad([{ type: 'exclusive', path: ['a'] }])],
  ['an empty type', bad([{ type: '', path: ['a'] }])],
  ['a type that is not a string', bad([{ type: 1, path: ['a'] }])],
  ['a path that is a string', bad([{ type: 'write', path: 'a/b' }])],
  ['a path holding a number', bad([{ type: 'write', path: ['a', 1] }])],
  ['a path holding null', bad([{ type: 'write', path: [null] }])],
  ['a path holding an object', bad([{ type: 'read', path: [{}] }])],
  ['a path that is an object', bad([{ type: 'read', path: { 0: 'a' } }])],
];

describe('protocol errors', () => {
  const s = sharedServer({ before, after });

  /**
   * Another client holds a lock in the namespace; `provoke` makes the
   * offender commit an error; afterwards the other lock still holds (a new
   * request on its path waits) and is handed over normally on release.
   */
  async function othersUnaffected(provoke, reason, { abandoned = 0 } = {}) {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('held')), acquired(1));
    const offender = await s.server.connect(ns);
    const nextId = await provoke(offender, 2);
    await expectProtocolError(offender, reason);
    await holder.expectSilence(50);
    const waiter = await s.server.connect(ns);
    assert.deepEqual(await waiter.lock(w('held')), enqueued(nextId));
    assert.deepEqual(await holder.release(), ready(1));
    await waiter.expect(acquired(nextId));
    const stats = await s.server.stats(ns);
    assert.equal(stats.LastGroupID, nextId);
    assert.equal(stats.GroupsAcquired, 1 + abandoned);
    assert.equal(stats.GroupsPending, 0);
  }

  for (const [what, frame] of malformed) {
    test(`${what}: error frame, close 3000, other locks unaffected`, async () => {
      await othersUnaffected(async (offender, nextId) => {
        offender.send(frame);
        return nextId;
      });
    });
  }

  test('a malformed binary frame is an error too', async () => {
    await othersUnaffected(async (offender, nextId) => {
      offender.sendBinary('{"action":');
      return nextId;
    });
  });

  test('lock while acquired: invalid action [lock] in state [acquired]', async () => {
    await othersUnaffected(async (offender, nextId) => {
      assert.deepEqual(await offender.lock(w('mine')), acquired(nextId));
      offender.send({ action: 'lock', resources: [w('other')] });
      return nextId + 1; // the failed request took no ID
    }, 'invalid action [lock] in state [acquired]', { abandoned: 1 }); // default abandon timeout: 60 s
  });

  test('release while ready: invalid action [release] in state [ready]', async () => {
    await othersUnaffected(async (offender, nextId) => {
      offender.send({ action: 'release' });
      return nextId;
    }, 'invalid action [release] in state [ready]');
  });

  test('release after release: invalid action [release] in state [ready]', async () => {
    await othersUnaffected(async (offender, nextId) => {
      assert.deepEqual(await offender.lock(w('mine')), acquired(nextId));
      assert.deepEqual(await offender.release(), ready(nextId));
      offender.send({ action: 'release' });
      return nextId + 1;
    }, 'invalid action [release] in state [ready]');
  });

  test('lock while enqueued: invalid action [lock] in state [enqueued]', async () => {
    await othersUnaffected(async (offender, nextId) => {
      assert.deepEqual(await offender.lock(w('held', 'below')), enqueued(nextId));
      offender.send({ action: 'lock', resources: [w('other')] });
      return nextId + 1;
    }, 'invalid action [lock] in state [enqueued]');
  });

  test('an error while enqueued cancels the lock at once: whoever waited only for it is acquired', async () => {
    const ns = uniqueNs();
    const [holder, offender, waiter] = await s.server.connectMany(ns, 3);
    assert.deepEqual(await holder.lock(w('a')), acquired(1));
    assert.deepEqual(await offender.lock(w()), enqueued(2)); // waits for the holder
    assert.deepEqual(await waiter.lock(w('b')), enqueued(3)); // waits only for the offender
    offender.send('{"action":"dance"}');
    await expectProtocolError(offender);
    await waiter.expect(acquired(3)); // while the holder still holds "a"
    const stats = await s.server.stats(ns);
    assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending], [2, 0]);
    assert.deepEqual(await holder.release(), ready(1));
    await waiter.expectSilence(50);
  });

  test('an error while acquired abandons the lock: released after its abandon timeout', async () => {
    const ns = uniqueNs();
    const offender = await s.server.connect(ns, `abandon-timeout-ms=${ABANDON}`);
    const waiter = await s.server.connect(ns);
    assert.deepEqual(await offender.lock(w('x')), acquired(1));
    assert.deepEqual(await waiter.lock(w('x')), enqueued(2));
    offender.send({ action: 'lock', resources: [w('y')] });
    await expectProtocolError(offender, 'invalid action [lock] in state [acquired]');
    await waiter.expectSilence(EARLY); // still held for the abandon timeout
    const stats = await s.server.stats(ns);
    assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending], [1, 1]);
    await waiter.expect(acquired(2), TIMEOUT);
  });

  test('the error frame comes at once, not after the abandon timeout', async () => {
    const ns = uniqueNs();
    const offender = await s.server.connect(ns, 'abandon-timeout-ms=60000');
    assert.deepEqual(await offender.lock(w('x')), acquired(1));
    offender.send({ action: 'lock', resources: [w('y')] });
    // The original server held the error back until the abandon timeout (60 s).
    const start = Date.now();
    await expectProtocolError(offender, 'invalid action [lock] in state [acquired]');
    assert.ok(Date.now() - start < 30_000, `error took ${Date.now() - start} ms`);
  });
});

describe('the server log', () => {
  test('names the client, its peer and the reason it was sent, at warning level, on one line', {
    skip: needsOwnServer('reads the server log'),
  }, async () => {
    const server = await startServer(); // without --log-clients
    const offender = await server.connect(uniqueNs(), 'client=job-7');
    // A reason quoting what the client sent, a line feed included.
    offender.send('{"action":"un\\nlock"}');
    const text = await expectProtocolError(offender, 'unknown action [un\nlock]');
    assert.equal(text, 'communication error: unknown action [un\nlock]');
    // The whole line, up to its line feed.
    const [line] = await server.waitForStderr(/^.* WARN client \d+ .*\n/m);
    assert.match(line, /^\S+ WARN client \d+ \(client name "job-7"\) from 127\.0\.0\.1:\d+: protocol error \[bad_message\], closing it with 3000: communication error: unknown action \[un\\x0alock\]\n$/);
  });
});
