// Resumable sessions (docs/semantics.md "Sessions", docs/protocol.md): a
// lock that belongs to a session survives its connection for the session's
// window, keeps its ID and its place in the queue, and is taken back by a
// connection that presents the token. The blips here are real: the client's
// TCP connection is dropped without a close handshake.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  Client, QUIET, TIMEOUT, acquired, enqueued, ready, sharedServer, sleep, startServer, test, uniqueNs, upgradeRefusal, w,
  waitFor,
} from './harness.mjs';

const WINDOW = 3000; // ms: each session's abandon timeout, unless a test says
const GONE = 'communication error: session expired: its lock is gone';
const TOKEN = /^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/;

/** Opens a session; resolves [client, token] after checking its `new` frame. */
async function openSession(server, ns, window = WINDOW) {
  const client = await server.connect(ns, `session=new&abandon-timeout-ms=${window}`);
  const frame = await client.answer();
  assert.equal(frame.action, 'session');
  assert.equal(frame.state, 'new');
  assert.match(frame.session, TOKEN);
  assert.equal(frame['abandon-timeout-ms'], window);
  assert.deepEqual(Object.keys(frame).sort(), ['abandon-timeout-ms', 'action', 'session', 'state']);
  return [client, frame.session];
}

/** Resumes `token`; resolves [client, resumed frame]. */
async function resume(server, ns, token) {
  const client = await server.connect(ns, `session=${token}`);
  return [client, await client.answer()];
}

const resumed = (token, lock, id, window = WINDOW) => ({
  action: 'session',
  state: 'resumed',
  session: token,
  'abandon-timeout-ms': window,
  ...(lock === 'none' ? {} : { id: String(id) }),
  lock,
});

/** Drops the client's TCP connection and waits until the server has detached its session. */
async function blip(server, client) {
  const before = await metric(server, 'locktopus_sessions_detached_total');
  client.terminate();
  await client.waitClosed();
  await waitFor(async () => await metric(server, 'locktopus_sessions_detached_total') > before,
    'the server to detach the session');
}

/** Expects the 4410 answer to a resume. */
async function expectGone(client) {
  const msg = await client.next();
  assert.equal(msg.text, GONE);
  const { code, reason } = await client.waitClosed();
  assert.equal(code, 4410);
  assert.equal(reason, 'session expired: its lock is gone');
}

/** An operator's force release (DELETE /locks_v1); resolves the status. */
function forceRelease(server, ns, id) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: server.host, port: server.port, method: 'DELETE', path: `/locks_v1?namespace=${ns}&id=${id}`,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(server, name) {
  const res = await server.get('/metrics');
  const line = res.body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('resumable sessions', () => {
  const s = sharedServer({ before, after }, { args: ['--log-clients', 'true'] });

  test('a blip of the holder shorter than its window keeps its lock and its ID', async () => {
    const ns = uniqueNs();
    const [holder, token] = await openSession(s.server, ns);
    assert.deepEqual(await holder.lock(w('a')), acquired(1));
    const rival = await s.server.connect(ns);
    assert.deepEqual(await rival.lock(w('a')), enqueued(2));
    await blip(s.server, holder);
    await rival.expectSilence(QUIET); // still held while detached
    const [back, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'acquired', 1));
    await rival.expectSilence(QUIET);
    assert.deepEqual(await back.release(), ready(1));
    await rival.expect(acquired(2));
  });

  test('a blip of a queued client keeps its place: three in a queue stay in order', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('q')), acquired(1));
    const queue = [];
    for (let i = 0; i < 3; i += 1) {
      const [client, token] = await openSession(s.server, ns);
      assert.deepEqual(await client.lock(w('q')), enqueued(2 + i));
      queue.push({ client, token, id: 2 + i });
    }
    // the first and the middle one blip; a newcomer queues behind them all
    for (const q of [queue[0], queue[1]]) await blip(s.server, q.client);
    const late = await s.server.connect(ns);
    assert.deepEqual(await late.lock(w('q')), enqueued(5));
    for (const q of [queue[1], queue[0]]) {
      const [client, frame] = await resume(s.server, ns, q.token);
      assert.deepEqual(frame, resumed(q.token, 'enqueued', q.id));
      q.client = client;
    }
    assert.deepEqual(await holder.release(), ready(1));
    for (const q of queue) {
      await q.client.expect(acquired(q.id));
      for (const other of queue.filter((o) => o.id > q.id)) await other.client.expectSilence(50);
      assert.deepEqual(await q.client.release(), ready(q.id));
    }
    await late.expect(acquired(5));
  });

  test('a lock acquired while its session is detached is announced by the resume', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('b')), acquired(1));
    const [waiter, token] = await openSession(s.server, ns);
    assert.deepEqual(await waiter.lock(w('b')), enqueued(2));
    await blip(s.server, waiter);
    assert.deepEqual(await holder.release(), ready(1));
    const [back, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'acquired', 2));
    await back.expectSilence(QUIET); // announced once, by the resumed frame
    assert.deepEqual(await back.release(), ready(2));
  });

  test('a resume while the old connection is open closes the old one with 4409 first', async () => {
    const ns = uniqueNs();
    const [first, token] = await openSession(s.server, ns);
    assert.deepEqual(await first.lock(w('c')), acquired(1));
    const [second, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'acquired', 1));
    const { code, reason } = await first.waitClosed();
    assert.deepEqual([code, reason], [4409, 'session moved']);
    // the old connection's end does not detach the session
    await sleep(QUIET);
    assert.deepEqual(await second.release(), ready(1));
    assert.deepEqual(await second.lock(w('c')), acquired(2));
  });

  test('an unknown token, a wrong secret and another namespace read alike: 4410', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    assert.deepEqual(await client.lock(w('d')), acquired(1));
    const [id, secret] = token.split('.');
    const wrongSecret = `${id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const [where, bad] of [[ns, wrongSecret], [ns, `${'0'.repeat(16)}.${secret}`], [ns, 'garbage'],
      [uniqueNs(), token]]) {
      await expectGone(await s.server.connect(where, `session=${bad}`));
    }
    // none of them touched the session or its connection
    await client.expectSilence(50);
    assert.deepEqual(await client.release(), ready(1));
  });

  test('a session whose window passes ends as a dropped connection: its lock is released', async () => {
    const ns = uniqueNs();
    const [holder, token] = await openSession(s.server, ns, 400);
    assert.deepEqual(await holder.lock(w('e')), acquired(1));
    const rival = await s.server.connect(ns);
    assert.deepEqual(await rival.lock(w('e')), enqueued(2));
    await blip(s.server, holder);
    await rival.expect(acquired(2));
    await expectGone(await s.server.connect(ns, `session=${token}`));
  });

  test('an enqueued lock of an expired session is cancelled', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('f')), acquired(1));
    const [waiter, token] = await openSession(s.server, ns, 300);
    assert.deepEqual(await waiter.lock(w('f')), enqueued(2));
    await blip(s.server, waiter);
    await waitFor(async () => (await s.server.stats(ns)).GroupsPending === 0, 'the cancel');
    await expectGone(await s.server.connect(ns, `session=${token}`));
    assert.deepEqual(await holder.release(), ready(1));
  });

  test('a session with no lock resumes with lock none and can lock again', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    assert.deepEqual(await client.lock(w('g')), acquired(1));
    assert.deepEqual(await client.release(), ready(1));
    await blip(s.server, client);
    const [back, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'none'));
    assert.deepEqual(await back.lock(w('g')), acquired(2));
  });

  test('an operator release of a detached session\'s lock: the resume finds lock none', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    assert.deepEqual(await client.lock(w('h')), acquired(1));
    await blip(s.server, client);
    assert.equal(await forceRelease(s.server, ns, 1), 200);
    const [back, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'none'));
    assert.deepEqual(await back.lock(w('h')), acquired(2));
  });

  test('an operator release of an attached session\'s lock: 4000, then the resume finds lock none', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    assert.deepEqual(await client.lock(w('i')), acquired(1));
    assert.equal(await forceRelease(s.server, ns, 1), 200);
    await client.next();
    assert.equal((await client.waitClosed()).code, 4000);
    const [, frame] = await resume(s.server, ns, token);
    assert.deepEqual(frame, resumed(token, 'none'));
  });

  test('the inspector shows a detached session\'s lock as detached, with its time left', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    assert.deepEqual(await client.lock(w('j')), acquired(1));
    await blip(s.server, client);
    const page = JSON.parse((await s.server.get(`/locks_v1?namespace=${ns}`)).body);
    const [lock] = page.locks;
    assert.equal(lock.detached, true);
    assert.equal(lock.abandoned, undefined);
    assert.equal(lock.connection, undefined);
    assert.ok(lock.release_in_ms > 0 && lock.release_in_ms <= WINDOW, JSON.stringify(lock));
    assert.ok(!JSON.stringify(page).includes(token.split('.')[1]), 'the secret is never shown');
    const [back] = await resume(s.server, ns, token);
    const again = JSON.parse((await s.server.get(`/locks_v1?namespace=${ns}`)).body);
    assert.equal(again.locks[0].detached, undefined);
    assert.equal(again.locks[0].release_in_ms, undefined);
    assert.deepEqual(await back.release(), ready(1));
  });

  test('the secret never reaches the log or /metrics', async () => {
    const ns = uniqueNs();
    const [client, token] = await openSession(s.server, ns);
    await blip(s.server, client);
    await resume(s.server, ns, token);
    const secret = token.split('.')[1];
    await s.server.waitForStderr(/resumed/);
    assert.ok(!s.server.output.includes(secret), 'the log shows no secret');
    assert.ok(!(await s.server.get('/metrics')).body.includes(secret));
  });
});

describe('sessions: metrics, limits and refusals', () => {
  test('the session counters count what happened', async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const [client, token] = await openSession(server, ns, 300);
    await blip(server, client);
    await resume(server, ns, token);
    const [other, token2] = await openSession(server, ns, 200);
    await blip(server, other);
    await expectGone(await server.connect(ns, 'session=nothing'));
    await waitFor(async () => (await metric(server, 'locktopus_sessions_expired_total')) === 1, 'the expiry');
    assert.equal(await metric(server, 'locktopus_sessions_created_total'), 2);
    assert.equal(await metric(server, 'locktopus_sessions_detached_total'), 2);
    assert.equal(await metric(server, 'locktopus_sessions_resumed_total'), 1);
    assert.equal(await metric(server, 'locktopus_sessions'), 1);
    assert.equal(await metric(server, 'locktopus_sessions_detached'), 0);
    const body = (await server.get('/metrics')).body;
    assert.match(body, /^locktopus_session_resume_failures_total\{reason="not_found"\} 1$/m);
    await expectGone(await server.connect(ns, `session=${token2}`));
  });

  test('repeated failed resumes from one address are refused with 429 for a while', async () => {
    const server = await startServer();
    const ns = uniqueNs();
    const [client, token] = await openSession(server, ns);
    for (let i = 0; i < 10; i += 1) await expectGone(await server.connect(ns, `session=bad${i}`));
    const refusal = await upgradeRefusal(server.wsUrl(ns, `session=${token}`));
    assert.equal(refusal.status, 429);
    assert.match(refusal.body, /try again in \d+ ms/);
    assert.match((await server.get('/metrics')).body,
      /^locktopus_session_resume_failures_total\{reason="rate_limited"\} 1$/m);
    // plain connections and new sessions are not limited
    await server.connect(ns);
    await openSession(server, ns);
    // one failure is earned back per second: the real token then works
    await sleep(1100);
    const [, frame] = await resume(server, ns, token);
    assert.equal(frame.state, 'resumed');
    await client.waitClosed();
  });

  test('--max-sessions refuses one more session=new with 503, and nothing else', async () => {
    const server = await startServer({ args: ['--max-sessions', '2'] });
    const ns = uniqueNs();
    await openSession(server, ns);
    const [second, token] = await openSession(server, ns);
    const refusal = await upgradeRefusal(server.wsUrl(ns, 'session=new'));
    assert.equal(refusal.status, 503);
    assert.match(refusal.body, /max-sessions \(2\)/);
    await server.connect(ns); // a plain connection still gets in
    await blip(server, second);
    const [, frame] = await resume(server, ns, token); // and a resume
    assert.equal(frame.state, 'resumed');
  });
});

describe('sessions under --auth-token-file', () => {
  test('the auth token is checked on the resume too', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-session-auth-')), 'tokens');
    fs.writeFileSync(file, 'sekrit\n');
    const server = await startServer({ args: ['--auth-token-file', file] });
    // The server as a client with the token sees it.
    const authed = {
      connect: (n, params) => server.connect(n, `${params}&token=sekrit`),
      get: (query) => server.get(query, { Authorization: 'Bearer sekrit' }),
    };
    const ns = uniqueNs();
    const [client, token] = await openSession(authed, ns);
    await client.lock(w('a'));
    await blip(authed, client);
    const refusal = await upgradeRefusal(server.wsUrl(ns, `session=${token}`));
    assert.equal(refusal.status, 401);
    const [, frame] = await resume(authed, ns, token);
    assert.deepEqual(frame, resumed(token, 'acquired', 1));
  });
});

describe('a client that does not ask for a session', () => {
  const s = sharedServer({ before, after });

  test('gets no session frame and loses an enqueued lock on a drop, as before', async () => {
    const ns = uniqueNs();
    const holder = await s.server.connect(ns);
    assert.deepEqual(await holder.lock(w('p')), acquired(1));
    const waiter = await Client.open(s.server.wsUrl(ns), TIMEOUT);
    await waiter.expectSilence(50); // nothing before its first request
    assert.deepEqual(await waiter.lock(w('p')), enqueued(2));
    waiter.terminate();
    await waitFor(async () => (await s.server.stats(ns)).GroupsPending === 0, 'the cancel');
  });
});
