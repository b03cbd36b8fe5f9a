// Connections that end while holding or waiting for a lock (docs/semantics.md,
// Connections and abandonment): an enqueued lock is cancelled at once; an
// acquired one stays live for the abandon timeout, then is released.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  ABANDON, abandonScenario, acquired, enqueued, r, ready, sharedServer, startServer, test, uniqueNs, w, waitFor,
} from './harness.mjs';

describe('disconnects with the default abandon timeout set by flag', () => {
  const s = sharedServer({ before, after }, { args: ['--default-abandon-timeout', String(ABANDON)] });

  test('dropping an acquired connection keeps its lock for the default abandon timeout', async () => {
    await abandonScenario(s.server);
  });

  test('a normal close (1000) while acquired is an abandonment too', async () => {
    await abandonScenario(s.server, { end: (c) => c.close(1000) });
  });

  test('abandon-timeout-ms=0 releases at once when the connection drops', async () => {
    await abandonScenario(s.server, { params: 'abandon-timeout-ms=0', notBefore: 0 });
  });

  test('dropping an enqueued connection cancels its lock at once', async () => {
    const ns = uniqueNs();
    const [holder, dropper, waiter] = await s.server.connectMany(ns, 3);
    assert.deepEqual(await holder.lock(w('a')), acquired(1));
    assert.deepEqual(await dropper.lock(w()), enqueued(2)); // waits for the holder
    assert.deepEqual(await waiter.lock(w('b')), enqueued(3)); // waits only for the dropper
    dropper.terminate();
    await waiter.expect(acquired(3)); // the holder still holds "a"
    const stats = await s.server.stats(ns);
    assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending], [2, 0]);
    assert.deepEqual(await holder.release(), ready(1));
    await waiter.expectSilence(50);
  });

  test('the stats of an abandoned lock fall to zero once the abandon timeout expires', async () => {
    const ns = uniqueNs();
    // keeps the namespace open (one nobody holds is freed) so its stats stay
    const watcher = await s.server.connect(ns);
    const holder = await s.server.connect(ns, 'abandon-timeout-ms=1500');
    assert.deepEqual(await holder.lock(w('s', 't'), w('u')), acquired(1));
    holder.terminate();
    await holder.waitClosed();
    const during = await s.server.stats(ns);
    assert.deepEqual(
      [during.GroupsAcquired, during.LocksAcquired, during.PathCount],
      [1, 2, 3],
      'still held right after the drop',
    );
    const afterwards = await waitFor(async () => {
      const st = await s.server.stats(ns);
      return st.GroupsAcquired === 0 ? st : undefined;
    }, 'the abandoned lock to be released');
    assert.deepEqual(
      [afterwards.LastGroupID, afterwards.GroupsPending, afterwards.GroupsAcquired,
        afterwards.LocksPending, afterwards.LocksAcquired, afterwards.PathCount],
      [1, 0, 0, 0, 0, 0],
    );
    watcher.close();
  });

  test('a released lock is not abandoned: dropping a ready connection leaves nothing behind', async () => {
    const ns = uniqueNs();
    const [a, b] = await s.server.connectMany(ns, 2);
    assert.deepEqual(await a.lock(w('z')), acquired(1));
    assert.deepEqual(await a.release(), ready(1));
    a.terminate();
    await a.waitClosed();
    assert.deepEqual(await b.lock(w('z')), acquired(2));
  });

  test('an abandoned lock keeps blocking conflicting newcomers, not unrelated ones', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns, 'abandon-timeout-ms=60000');
    assert.deepEqual(await holder.lock(w('k', 'l')), acquired(1));
    holder.terminate();
    await holder.waitClosed();
    const [c1, c2] = await s.server.connectMany(ns, 2);
    assert.deepEqual(await c1.lock(w('k', 'm')), acquired(2)); // a sibling
    assert.deepEqual(await c2.lock(r('k')), enqueued(3)); // an ancestor
    await c2.expectSilence();
  });
});

describe('abandon timeout by query parameter', () => {
  // default 60 s, so only the query parameter can explain a quick release
  const s = sharedServer({ before, after });

  test('abandon-timeout-ms overrides the default for its connection', async () => {
    await abandonScenario(s.server, { params: `abandon-timeout-ms=${ABANDON}` });
  });

  test('abandon-timeout-ms=0 overrides a long default: released at once', async () => {
    await abandonScenario(s.server, { params: 'abandon-timeout-ms=0', notBefore: 0 });
  });

  test('without the parameter the 60 s default applies: still held well after a short timeout would have expired', async () => {
    await abandonScenario(s.server, { notBefore: 1500, released: false });
  });
});

describe('abandon timeout 0 as the server default', () => {
  test('--default-abandon-timeout 0 releases a dropped lock at once', async () => {
    const server = await startServer({ args: ['--default-abandon-timeout', '0'] });
    await abandonScenario(server, { notBefore: 0 });
  });
});
