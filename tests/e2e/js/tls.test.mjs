// --tls-cert/--tls-key: https:// and wss:// only, TLS 1.2 or later, with a
// throwaway CA and server certificate made by the openssl CLI. The published
// client drives a lock through wss://; plain HTTP and old TLS versions are
// refused while the server goes on serving; bad flag combinations and
// unreadable files stop it at start.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe } from 'node:test';
import locktopus from '@locktopus/client';
import WebSocket from 'ws';
import {
  Client, TIMEOUT, acquired, enqueued, httpGet, needsOwnServer, ready, runServerCli, startServer, test,
  uniqueNs, w, withTimeout,
} from './harness.mjs';

const { LocktopusClient, LOCK_TYPE, CLIENT_STATE } = locktopus;

const HANDSHAKE_MS = 2000;
const bounded = (promise, what) => withTimeout(promise, TIMEOUT, what);
const hasOpenssl = !spawnSync('openssl', ['version']).error;

function openssl(dir, args) {
  const res = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(res.status, 0, `openssl ${args.join(' ')}: ${res.stderr}`);
}

/** A CA, and a server certificate it signed for 127.0.0.1 and localhost. */
function makeCertificates(dir) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', '/CN=Locktopus test CA']);
  openssl(dir, ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  return {
    ca: fs.readFileSync(path.join(dir, 'ca.pem')),
    cert: path.join(dir, 'server.pem'),
    key: path.join(dir, 'server.key'),
    caKey: path.join(dir, 'ca.key'),
  };
}

function httpsGet(port, pathAndQuery, ca) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathAndQuery, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), TIMEOUT, `GET https ${pathAndQuery}`);
}

/** Resolves with the negotiated protocol, or the error of the handshake. */
function tlsHandshake(port, options) {
  return withTimeout(new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      const protocol = socket.getProtocol();
      socket.destroy();
      resolve({ protocol });
    });
    socket.on('error', (error) => resolve({ error }));
  }), TIMEOUT, 'a TLS handshake');
}

describe('TLS', {
  skip: needsOwnServer('starts it with certificates of its own')
    || (hasOpenssl ? false : 'the openssl CLI is not installed (scripts/setup.sh installs it)'),
}, () => {
  let dir;
  let certs;
  let server;

  // The published client builds its wss:// URL from {secure: true} and calls
  // `new wsConstructor(url)` with nothing else, so the test CA reaches `ws`
  // through a subclass that adds it to the constructor's options.
  let CaWebSocket;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-tls-'));
    certs = makeCertificates(dir);
    const { ca } = certs;
    CaWebSocket = class extends WebSocket {
      constructor(url, protocols, options) {
        super(url, protocols, { ...options, ca });
      }
    };
    server = await startServer({
      args: ['--tls-cert', certs.cert, '--tls-key', certs.key, '--log-clients', 'true',
        '--handshake-timeout-ms', String(HANDSHAKE_MS)],
    });
  });
  after(() => {
    server?.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const wssUrl = (ns) => `wss://127.0.0.1:${server.port}/v1?namespace=${encodeURIComponent(ns)}`;

  test('@locktopus/client locks through wss://: a second client waits, then acquires', async () => {
    const ns = uniqueNs('tls');
    const opened = [];
    const client = async () => {
      const c = new LocktopusClient(CaWebSocket, {
        host: '127.0.0.1', port: server.port, namespace: ns, secure: true,
      });
      await bounded(c.connect(), 'connect()');
      opened.push(c);
      return c;
    };
    try {
      const a = await client();
      const b = await client();
      const write = (...p) => ({ type: LOCK_TYPE.WRITE, path: p });
      assert.equal(await bounded(a.lock(write('x', 'y')), 'a.lock()'), true);
      assert.equal(a.getLockId(), '1');
      assert.equal(await bounded(b.lock(write('x')), 'b.lock()'), false);
      assert.equal(b.getState(), CLIENT_STATE.ENQUEUED);
      const stats = await httpsGet(server.port, `/stats_v1?namespace=${ns}`, certs.ca);
      assert.deepEqual(JSON.parse(stats.body).GroupsPending, 1);
      const waiting = b.acquire();
      await bounded(a.release(), 'a.release()');
      assert.equal(await bounded(waiting, 'b.acquire()'), true);
      assert.equal(b.getLockId(), '2');
      assert.equal(b.getState(), CLIENT_STATE.ACQUIRED);
      await bounded(b.release(), 'b.release()');
      assert.equal(b.getState(), CLIENT_STATE.READY);
    } finally {
      for (const c of opened) c.close();
    }
  });

  test('the raw protocol over wss://, and a client without the CA refuses the server', async () => {
    const ns = uniqueNs('tls');
    const a = await Client.open(wssUrl(ns), undefined, { ca: certs.ca });
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    const b = await Client.open(wssUrl(ns), undefined, { ca: certs.ca });
    assert.deepEqual(await b.lock(w('x')), enqueued(2));
    assert.deepEqual(await a.release(), ready(1));
    await b.expect(acquired(2));
    // the certificate is checked: without the test CA it is not trusted
    await assert.rejects(Client.open(wssUrl(ns)), /self[- ]signed|unable to (get|verify)|certificate/i);
  });

  test('https:// serves the status page, statistics and /healthz', async () => {
    const ns = uniqueNs('tls');
    const a = await Client.open(wssUrl(ns), undefined, { ca: certs.ca });
    assert.deepEqual(await a.lock(w('s')), acquired(1));
    const stats = await httpsGet(server.port, `/stats_v1?namespace=${ns}`, certs.ca);
    assert.equal(stats.status, 200);
    assert.equal(JSON.parse(stats.body).GroupsAcquired, 1);
    const page = await httpsGet(server.port, '/', certs.ca);
    assert.equal(page.status, 200);
    assert.match(page.body, /wss:\/\/HOST\/v1/);
    assert.ok(page.body.includes(ns), 'the status page lists the namespace');
    assert.deepEqual(await httpsGet(server.port, '/healthz', certs.ca), { status: 200, body: 'ok' });
  });

  test('plain http:// and ws:// get no answer, and the server goes on serving', async () => {
    await assert.rejects(httpGet('127.0.0.1', server.port, '/healthz'), /socket hang up|ECONNRESET|parse error/i);
    await assert.rejects(Client.open(`ws://127.0.0.1:${server.port}/v1?namespace=${uniqueNs('tls')}`), /failed/);
    // a peer that never starts its handshake is closed after the handshake timeout
    const silent = net.connect(server.port, '127.0.0.1');
    silent.on('error', () => {});
    await withTimeout(new Promise((resolve) => silent.on('close', resolve)), HANDSHAKE_MS + TIMEOUT,
      'the close of a connection that never starts TLS');
    assert.deepEqual(await httpsGet(server.port, '/healthz', certs.ca), { status: 200, body: 'ok' });
    const a = await Client.open(wssUrl(uniqueNs('tls')), undefined, { ca: certs.ca });
    assert.deepEqual(await a.lock(w('after')), acquired(1));
  });

  test('TLS 1.2 and 1.3 are accepted; a client offering at most TLS 1.1 is refused', async () => {
    const v12 = await tlsHandshake(server.port, { ca: certs.ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    assert.equal(v12.protocol, 'TLSv1.2', `TLS 1.2: ${v12.error?.message}`);
    const v13 = await tlsHandshake(server.port, { ca: certs.ca, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    assert.equal(v13.protocol, 'TLSv1.3', `TLS 1.3: ${v13.error?.message}`);
    // SECLEVEL=0 lets node's OpenSSL 3 offer TLS 1.0 and 1.1, so that the
    // refusal is the server's: a protocol_version alert.
    const v11 = await tlsHandshake(server.port, {
      ca: certs.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0',
    });
    assert.ok(v11.error, `a TLS 1.1 handshake succeeded (${v11.protocol})`);
    assert.equal(v11.error.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', v11.error.message);
    assert.deepEqual(await httpsGet(server.port, '/healthz', certs.ca), { status: 200, body: 'ok' });
  });

  test('LOCKTOPUS_TLS_CERT and LOCKTOPUS_TLS_KEY turn TLS on as the flags do', async () => {
    const s = await startServer({ env: { LOCKTOPUS_TLS_CERT: certs.cert, LOCKTOPUS_TLS_KEY: certs.key } });
    assert.deepEqual(await httpsGet(s.port, '/healthz', certs.ca), { status: 200, body: 'ok' });
    await assert.rejects(httpGet('127.0.0.1', s.port, '/healthz'));
  });

  for (const [what, args, env] of [
    ['only --tls-cert', () => ['--tls-cert', certs.cert]],
    ['only --tls-key', () => ['--tls-key', certs.key]],
    ['--tls-cert with LOCKTOPUS_TLS_KEY empty', () => ['--tls-cert', certs.cert], { LOCKTOPUS_TLS_KEY: '' }],
    ['only LOCKTOPUS_TLS_KEY', () => [], () => ({ LOCKTOPUS_TLS_KEY: certs.key })],
  ]) {
    test(`${what}: exit 2, naming the missing flag`, async () => {
      const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', ...args()],
        { env: typeof env === 'function' ? env() : env });
      assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
      assert.match(res.stderr, /needs --tls-(cert|key) too/);
      assert.doesNotMatch(res.stderr, /listening on/);
    });
  }

  test('an unreadable certificate or key, or a key of another certificate: exit 1 with a message', async () => {
    const missing = path.join(dir, 'missing.pem');
    for (const [args, message] of [
      [['--tls-cert', missing, '--tls-key', certs.key], /cannot start: TLS certificate \[.*missing\.pem\]/],
      [['--tls-cert', certs.cert, '--tls-key', missing], /cannot start: TLS key \[.*missing\.pem\]/],
      [['--tls-cert', certs.key, '--tls-key', certs.key], /cannot start: TLS certificate/],
      [['--tls-cert', certs.cert, '--tls-key', certs.caKey], /cannot start: TLS key .*(mismatch|does not match)/],
    ]) {
      const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', ...args]);
      assert.equal(res.code, 1, `${args.join(' ')}: exit code; stderr: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.doesNotMatch(res.stderr, /listening on/);
    }
  });
});
