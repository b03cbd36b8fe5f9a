// A crowd on one path: 200 writers connect and request one after another
// (IDs 1..200) while the first holds the lock; then each is acquired alone,
// strictly in ID order, and releases right after.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { acquired, enqueued, ready, sleep, startServer, test, uniqueNs, w } from './harness.mjs';

const CROWD = 200;

describe('crowd', () => {
  test(`${CROWD} writers on one path are acquired one at a time, in ID order`, async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const order = [];
    const overlaps = [];
    let holding = null;

    /** Holds the lock for a moment (so a second holder would show), then releases. */
    async function hold(client, id) {
      if (holding !== null) overlaps.push(`${id} acquired while ${holding} held the lock`);
      holding = id;
      order.push(id);
      await sleep(1);
      holding = null;
      client.send({ action: 'release' });
      await client.expect(ready(id));
    }

    const first = await server.connect(ns);
    assert.deepEqual(await first.lock(w('crowd')), acquired(1));
    holding = 1;
    order.push(1);
    const done = [];
    for (let id = 2; id <= CROWD; id += 1) {
      const client = await server.connect(ns);
      assert.deepEqual(await client.lock(w('crowd')), enqueued(id));
      done.push(client.expect(acquired(id)).then(() => hold(client, id)));
    }
    const queued = await server.stats(ns);
    assert.deepEqual([queued.LastGroupID, queued.GroupsPending, queued.GroupsAcquired], [CROWD, CROWD - 1, 1]);
    holding = null;
    assert.deepEqual(await first.release(), ready(1));
    await Promise.all(done);
    assert.deepEqual(overlaps, []);
    assert.deepEqual(order, Array.from({ length: CROWD }, (_, i) => i + 1));
    const stats = await server.stats(ns);
    assert.deepEqual(
      [stats.LastGroupID, stats.GroupsPending, stats.GroupsAcquired, stats.LocksPending, stats.LocksAcquired, stats.PathCount],
      [CROWD, 0, 0, 0, 0, 0],
    );
  });
});
