// Slow and greedy clients (docs/operations.md, Security and limits): a client
// that floods requests without reading its answers is closed once its write
// queue is full, while others go on; running out of file descriptors makes the
// server pause accepting, not busy-loop, and it accepts again once descriptors
// are free.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe } from 'node:test';
import {
  SANITIZERS, TIMEOUT, acquired, ready, sharedServer, sleep, startServer, test, uniqueNs, w,
  waitFor, withTimeout,
} from './harness.mjs';

/** One masked (all-zero mask) client text frame. */
function frame(text) {
  const payload = Buffer.from(text, 'utf8');
  assert.ok(payload.length < 126);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** A raw TCP socket that completed the WebSocket upgrade to /v1?namespace=ns. */
function rawUpgrade(port, ns) {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    let head = '';
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${head}`));
      else resolve(socket);
    };
    socket.on('data', onData);
    socket.write(`GET /v1?namespace=${ns} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`);
  }), TIMEOUT, 'a raw upgrade');
}

describe('a client that does not read its answers', () => {
  const s = sharedServer({ before, after }, { args: ['--max-write-queue', '16', '--keepalive-ms', '300'] });

  test('is closed once its write queue is full; another client keeps locking meanwhile', async () => {
    const socket = await rawUpgrade(s.server.port, uniqueNs('flood'));
    socket.pause(); // never read again: the answers pile up
    let closed = false;
    const whenClosed = new Promise((resolve) => {
      socket.on('close', () => { closed = true; resolve(); });
    });
    socket.on('error', () => {});
    const pair = Buffer.concat([frame(JSON.stringify({ action: 'lock', resources: [w('f')] })),
      frame(JSON.stringify({ action: 'release' }))]);
    const batch = Buffer.concat(Array(256).fill(pair));
    const flood = (async () => {
      // Bounded: far more than loopback socket buffers hold.
      for (let i = 0; i < 4000 && !closed; i += 1) {
        if (!socket.write(batch)) {
          await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), whenClosed]);
        }
      }
    })();

    const ns = uniqueNs();
    const other = await s.server.connect(ns);
    let cycles = 0;
    while (!closed) {
      assert.deepEqual(await other.lock(w('o')), acquired(cycles + 1));
      assert.deepEqual(await other.release(), ready(cycles + 1));
      cycles += 1;
      if (cycles % 50 === 0) await sleep(1);
      if (!closed && cycles > 1e6) assert.fail('the flooding client was never closed');
    }
    await flood;
    await whenClosed;
    await s.server.waitForStderr(/answers queued \(max-write-queue 16\) and none read for 300 ms: it does not read its answers/);
    assert.ok(cycles > 0, 'the other client completed lock/release cycles during the flood');
    // and it still does
    assert.deepEqual(await other.lock(w('o')), acquired(cycles + 1));
  });
});

describe('a client that floods requests and reads its answers', () => {
  const s = sharedServer({ before, after }, { args: ['--max-write-queue', '16', '--keepalive-ms', '300'] });

  test('is slowed down, not closed: every answer arrives, in order', async () => {
    const client = await s.server.connect(uniqueNs());
    const pairs = 20000;
    const lock = JSON.stringify({ action: 'lock', resources: [w('p')] });
    const release = JSON.stringify({ action: 'release' });
    for (let i = 0; i < pairs; i += 1) {
      client.send(lock);
      client.send(release);
    }
    for (let i = 1; i <= pairs; i += 1) {
      assert.deepEqual(await client.answer(), acquired(i));
      assert.deepEqual(await client.answer(), ready(i));
    }
    await client.expectSilence(0);
    assert.doesNotMatch(s.server.stderr, /does not read its answers/);
  });
});

/** CPU time (user + system) of a process, in clock ticks. */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15
  return Number(fields[11]) + Number(fields[12]);
}

describe('running out of file descriptors', () => {
  // UBSan's vptr check probes memory through a pipe: with no descriptor
  // left it reports a false "invalid vptr" and the server exits.
  const skip = SANITIZERS.includes('undefined') &&
    'UBSan\'s vptr check needs descriptors of its own and reports a false error without them';
  test('accept backs off and logs once, existing connections are served, and it recovers', { skip }, async () => {
    const server = await startServer({
      maxOpenFiles: 64,
      args: ['--handshake-timeout-ms', '600000', '--threads', '2'],
    });
    const ns = uniqueNs();
    const existing = await server.connect(ns);

    // Idle TCP connections until the server's descriptors run out; the
    // kernel completes handshakes into the backlog, so connects still succeed.
    const sockets = [];
    for (let i = 0; i < 100; i += 1) {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
    }
    await server.waitForStderr(/accept: .*; retrying every/);

    // A busy loop burns a core (still half of one on a loaded machine: about 50
    // ticks of 10 ms in this second); a back-off costs next to nothing (0).
    const before = cpuTicks(server.proc.pid);
    await sleep(1000);
    const spent = cpuTicks(server.proc.pid) - before;
    assert.ok(spent < 15, `the server used ${spent} clock ticks of CPU in 1 s while out of descriptors`);

    // existing connections are still served
    assert.deepEqual(await existing.lock(w('e')), acquired(1));
    assert.deepEqual(await existing.release(), ready(1));
    assert.equal((server.stderr.match(/accept: /g) || []).length, 1, 'one warning per episode');

    for (const socket of sockets) socket.destroy();
    await server.waitForStderr(/accepting again after \d+ failed accepts/);
    const fresh = await waitFor(async () => {
      try {
        return await server.connect(ns);
      } catch {
        return undefined;
      }
    }, 'a new connection once descriptors are free', { timeout: TIMEOUT, interval: 100 });
    assert.deepEqual(await fresh.lock(w('e')), acquired(2));
  });
});
