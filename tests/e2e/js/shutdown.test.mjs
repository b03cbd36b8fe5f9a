// Shutdown on SIGTERM/SIGINT: prompt with no live locks; otherwise the server
// says it is waiting, keeps serving its connections and exits 0 once the last
// live lock is gone; a second signal exits 1 at once.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  Client, QUIET, acquired, enqueued, expectProtocolError, needsOwnServer, ready, startServer,
  test, uniqueNs, w,
} from './harness.mjs';

/** Asserts the server is still running after ms. */
async function stillRunning(server, ms = QUIET) {
  const status = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve(null), ms))]);
  assert.equal(status, null, `the server exited early: ${JSON.stringify(status)}`);
}

/** Asserts that a new WebSocket connection is not served. */
async function refusesNewConnections(server, ns) {
  let opened;
  try {
    opened = await Client.open(server.wsUrl(ns));
  } catch {
    return; // refused, reset or answered with an HTTP error: all fine
  }
  // An upgrade that completes must not lead to a served lock.
  opened.send({ action: 'lock', resources: [w('newcomer')] });
  const status = await Promise.race([
    opened.next().then((m) => `answered ${m.text}`, () => 'closed'),
    opened.waitClosed().then(() => 'closed'),
  ]);
  assert.equal(status, 'closed', 'a connection opened during shutdown must not be served');
}

describe('shutdown', { skip: needsOwnServer('signals the server') }, () => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    test(`${sig} without live locks: exit 0 promptly, even with idle connections open`, async () => {
      const server = await startServer();
      const ns = uniqueNs();
      const [idle, done] = await server.connectMany(ns, 2);
      assert.deepEqual(await done.lock(w('x')), acquired(1));
      assert.deepEqual(await done.release(), ready(1));
      server.signal(sig);
      const { code, signal } = await server.waitExit();
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
      await idle.waitClosed();
    });
  }

  test('with an acquired lock: logs waiting, refuses new locks, exits 0 when the lock is released', async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const [holder, other] = await server.connectMany(ns, 2);
    assert.deepEqual(await holder.lock(w('x')), acquired(1));
    server.signal('SIGTERM');
    await server.waitForStderr(/waiting/);
    await stillRunning(server);
    await refusesNewConnections(server, ns);
    // an existing connection gets no new lock: it would hold the shutdown open
    other.send({ action: 'lock', resources: [w('y')] });
    await expectProtocolError(other, 'server is shutting down: no new locks');
    await stillRunning(server, 50);
    assert.deepEqual(await holder.release(), ready(1));
    const { code } = await server.waitExit();
    assert.equal(code, 0);
  });

  test('an enqueued lock is live too: it is granted during shutdown, and the exit waits for its release', async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const [holder, waiter] = await server.connectMany(ns, 2);
    assert.deepEqual(await holder.lock(w('x')), acquired(1));
    assert.deepEqual(await waiter.lock(w('x')), enqueued(2));
    server.signal('SIGINT');
    await server.waitForStderr(/waiting/);
    assert.deepEqual(await holder.release(), ready(1));
    await waiter.expect(acquired(2));
    await stillRunning(server);
    assert.deepEqual(await waiter.release(), ready(2));
    const { code } = await server.waitExit();
    assert.equal(code, 0);
  });

  test('an abandoned lock is live: the exit waits for its abandon timeout', async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const holder = await server.connect(ns, 'abandon-timeout-ms=800');
    assert.deepEqual(await holder.lock(w('x')), acquired(1));
    holder.terminate();
    await holder.waitClosed();
    server.signal('SIGTERM');
    await server.waitForStderr(/waiting/);
    await stillRunning(server, 200);
    const { code } = await server.waitExit();
    assert.equal(code, 0);
  });

  for (const [first, second] of [['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGINT']]) {
    test(`a second signal (${first}, then ${second}) while waiting exits 1 at once`, async () => {
      const server = await startServer();
      const holder = await server.connect(uniqueNs());
      assert.deepEqual(await holder.lock(w('x')), acquired(1));
      server.signal(first);
      await server.waitForStderr(/waiting/);
      await stillRunning(server, 100);
      server.signal(second);
      const { code, signal } = await server.waitExit();
      assert.deepEqual({ code, signal }, { code: 1, signal: null });
    });
  }
});
