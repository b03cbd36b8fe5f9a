// Dead peers and stalled handshakes (--keepalive-ms, --handshake-timeout-ms):
// a WebSocket peer that stops answering pings is dropped, so its lock goes
// down the abandon path; a TCP client that never completes its HTTP request
// is closed by the server.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe } from 'node:test';
import {
  TIMEOUT, acquired, enqueued, sharedServer, test, uniqueNs, w, withTimeout,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Starts lock_holder.mjs on url; resolves {proc, answer} once it printed its answer. */
function spawnHolder(url) {
  const proc = spawn(process.execPath, [path.join(here, 'lock_holder.mjs'), url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c) => { err += c; });
  const answer = new Promise((resolve, reject) => {
    proc.stdout.on('data', (c) => {
      out += c;
      const line = out.indexOf('\n');
      if (line >= 0) resolve(JSON.parse(out.slice(0, line)));
    });
    proc.on('exit', (code) => reject(new Error(`holder exited (${code}) before answering: ${err}`)));
  });
  return { proc, answer: withTimeout(answer, TIMEOUT, 'the holder process to lock') };
}

/** Resolves once the server closes the socket; fails after the timeout. */
function serverCloses(socket, what) {
  return withTimeout(new Promise((resolve) => {
    socket.on('close', resolve);
    socket.on('error', () => {});
    socket.on('data', () => {});
  }), TIMEOUT, what);
}

function openSocket(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('keep-alive pings', () => {
  const s = sharedServer({ before, after }, {
    args: ['--keepalive-ms', '300', '--default-abandon-timeout', '0', '--log-clients', 'true'],
  });

  test('a frozen client (SIGSTOP) stops answering pings: its lock goes down the abandon path', async () => {
    const ns = uniqueNs();
    const holder = spawnHolder(s.server.wsUrl(ns));
    try {
      assert.deepEqual(await holder.answer, acquired(1));
      const waiter = await s.server.connect(ns);
      assert.deepEqual(await waiter.lock(w('x')), enqueued(2));
      holder.proc.kill('SIGSTOP');
      // The kernel of a stopped process still ACKs TCP; only the missing
      // pongs can tell the server that the peer is gone.
      await waiter.expect(acquired(2));
      await s.server.waitForStderr(/disconnected: no answer to keep-alive pings/);
      const stats = await s.server.stats(ns);
      assert.deepEqual([stats.GroupsAcquired, stats.GroupsPending, stats.LastGroupID], [1, 0, 2]);
    } finally {
      holder.proc.kill('SIGKILL');
    }
  });

  test('a live client that answers pings keeps its lock across many keep-alive intervals', async () => {
    const ns = uniqueNs();
    const [holder, waiter] = await s.server.connectMany(ns, 2);
    assert.deepEqual(await holder.lock(w('x')), acquired(1));
    assert.deepEqual(await waiter.lock(w('x')), enqueued(2));
    await waiter.expectSilence(2000);
    await holder.expectSilence(0);
  });
});

describe('handshake timeout', () => {
  const s = sharedServer({ before, after }, { args: ['--handshake-timeout-ms', '300'] });

  test('a TCP client that sends nothing is closed by the server', async () => {
    const socket = await openSocket(s.server.port);
    await serverCloses(socket, 'the server to close a silent connection');
  });

  test('a client that dribbles its request headers is cut off', async () => {
    const socket = await openSocket(s.server.port);
    const closed = serverCloses(socket, 'the server to close a slow-headers connection');
    socket.write('GET /v1?namespace=slow HTTP/1.1\r\nHost: x\r\n');
    let stop = false;
    closed.finally(() => { stop = true; });
    const dribble = (async () => {
      for (let i = 0; !stop && i < 1000; i += 1) {
        socket.write(`X-Slow-${i}: y\r\n`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await closed;
    await dribble;
  });

  test('a complete request within the timeout is served', async () => {
    const res = await s.server.get('/');
    assert.equal(res.status, 200);
  });
});
