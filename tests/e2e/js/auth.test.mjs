// --auth-token-file: every request but /healthz, /readyz (and CORS preflights) must
// carry a listed token, as `Authorization: Bearer` or `?token=`; SIGHUP
// reloads the file; tokens never reach the log.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  Client, acquired, enqueued, needsOwnServer, ready, runServerCli, startServer, test, uniqueNs,
  upgradeRefusal, w,
} from './harness.mjs';

// Distinctive, so that finding one in the log cannot be a coincidence.
const ALPHA = 'tok-alpha-5f0c2e9b';
const BETA = 'tok-beta-81d7aa04';
const GAMMA = 'tok-gamma-c33e6b17';

const bearer = (token) => ({ headers: { Authorization: `Bearer ${token}` } });

describe('authentication', { skip: needsOwnServer('starts it with a token file') }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-auth-'));
  const file = path.join(dir, 'tokens');
  let server;

  before(async () => {
    fs.writeFileSync(file, `# tokens in force\n${ALPHA}  \r\n\n${BETA}\n`);
    server = await startServer({
      args: ['--auth-token-file', file, '--log-clients', 'true', '--log-locks', 'true'],
    });
  });
  after(() => {
    server?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an upgrade without a token gets 401 and no upgrade', async () => {
    const res = await upgradeRefusal(server.wsUrl(uniqueNs()));
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  });

  test('an upgrade with a wrong token gets 401, by header or by query', async () => {
    assert.equal((await upgradeRefusal(server.wsUrl(uniqueNs()), undefined, bearer('tok-wrong'))).status, 401);
    assert.equal((await upgradeRefusal(server.wsUrl(uniqueNs(), 'token=tok-wrong'))).status, 401);
    // a prefix of a valid token is wrong too
    assert.equal((await upgradeRefusal(server.wsUrl(uniqueNs(), `token=${ALPHA.slice(0, -1)}`))).status, 401);
  });

  test('the upgrade works with the token in the Authorization header', async () => {
    const ns = uniqueNs();
    const a = await Client.open(server.wsUrl(ns), undefined, bearer(ALPHA));
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    assert.deepEqual(await a.release(), ready(1));
  });

  test('the upgrade works with ?token= (any listed token), which routing ignores', async () => {
    const ns = uniqueNs();
    const a = await Client.open(server.wsUrl(ns, `token=${BETA}&abandon-timeout-ms=0`));
    const b = await Client.open(server.wsUrl(ns, `token=${encodeURIComponent(ALPHA)}`));
    assert.deepEqual(await a.lock(w('x')), acquired(1));
    assert.deepEqual(await b.lock(w('x')), enqueued(2));
    a.terminate(); // abandon-timeout-ms=0 was read: released at once
    await b.expect(acquired(2));
  });

  test('statistics and the status page need the token', async () => {
    const ns = uniqueNs();
    const a = await Client.open(server.wsUrl(ns), undefined, bearer(ALPHA));
    assert.deepEqual(await a.lock(w('s')), acquired(1));
    const stats = `/stats_v1?namespace=${encodeURIComponent(ns)}`;
    assert.equal((await server.get(stats)).status, 401);
    assert.equal((await server.get(stats, { Authorization: 'Bearer tok-wrong' })).status, 401);
    const ok = await server.get(stats, { Authorization: `Bearer ${BETA}` });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).GroupsAcquired, 1);
    assert.equal((await server.get(`${stats}&token=${ALPHA}`)).status, 200);
    assert.equal((await server.get('/')).status, 401);
    const page = await server.get(`/?token=${ALPHA}`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Locktopus/);
    // even which paths exist is hidden without a token
    assert.equal((await server.get('/nowhere')).status, 401);
    assert.equal((await server.get('/nowhere', { Authorization: `Bearer ${ALPHA}` })).status, 404);
  });

  test('/healthz, /readyz and CORS preflights are not asked for a token', async () => {
    assert.equal((await server.get('/healthz')).status, 200);
    assert.equal((await server.get('/readyz')).status, 200);
    assert.equal((await server.get('/metrics')).status, 401);
    const preflight = await new Promise((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: server.host, port: server.port, path: '/stats_v1?namespace=x', method: 'OPTIONS', agent: false },
          (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
        req.on('error', reject);
        req.end();
      });
    });
    assert.equal(preflight, 204);
  });

  test('SIGHUP reloads the file: removed tokens are refused, new ones accepted; a bad file keeps them', async () => {
    fs.writeFileSync(file, `${GAMMA}\n`);
    server.signal('SIGHUP');
    await server.waitForStderr(/SIGHUP: reloaded 1 tokens/);
    assert.equal((await upgradeRefusal(server.wsUrl(uniqueNs()), undefined, bearer(ALPHA))).status, 401);
    assert.equal((await upgradeRefusal(server.wsUrl(uniqueNs(), `token=${BETA}`))).status, 401);
    const g = await Client.open(server.wsUrl(uniqueNs()), undefined, bearer(GAMMA));
    assert.deepEqual(await g.lock(w('g')), acquired(1));

    fs.writeFileSync(file, '# emptied by mistake\n');
    server.signal('SIGHUP');
    await server.waitForStderr(/SIGHUP: token file \[.*\] lists no token; keeping the 1 current tokens/);
    const h = await Client.open(server.wsUrl(uniqueNs(), `token=${GAMMA}`));
    assert.deepEqual(await h.lock(w('h')), acquired(1));
  });

  test('no token ever appears in the log', async () => {
    // after every test above, with --log-clients and --log-locks on
    for (const token of [ALPHA, BETA, GAMMA]) {
      assert.ok(!server.output.includes(token), `the log holds the token ${token}`);
    }
    assert.match(server.output, /client \d+ connected/, 'connections were logged');
  });
});

describe('the token file at start', () => {
  test('a token file that cannot be read stops the server from starting', async () => {
    const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--auth-token-file', '/nonexistent/locktopus-tokens']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /cannot read token file \[\/nonexistent\/locktopus-tokens\]/);
  });

  test('a token file without tokens stops the server from starting', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-auth-'));
    try {
      const file = path.join(dir, 'tokens');
      fs.writeFileSync(file, '\n# none yet\n');
      const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--auth-token-file', file]);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /lists no token/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('LOCKTOPUS_AUTH_TOKEN_FILE turns authentication on too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-auth-'));
    try {
      const file = path.join(dir, 'tokens');
      fs.writeFileSync(file, `${ALPHA}\n`);
      const server = await startServer({ env: { LOCKTOPUS_AUTH_TOKEN_FILE: file } });
      assert.equal((await server.get('/')).status, 401);
      assert.equal((await server.get('/', { Authorization: `Bearer ${ALPHA}` })).status, 200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
