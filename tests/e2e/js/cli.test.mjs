// The command line: --help, refusal of bad values (exit code 2), the
// LOCKTOPUS_* environment variables, flags overriding them, and the port
// file.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe } from 'node:test';
import {
  ABANDON, abandonScenario, acquired, expectProtocolError, freePort, runServerCli, startServer, test,
  uniqueNs, w,
} from './harness.mjs';

const FLAGS = [
  '--host', '--port', '--log-clients', '--log-locks', '--stats-interval', '--default-abandon-timeout',
  '--max-message-bytes', '--max-resources', '--max-path-depth', '--max-segment-bytes',
  '--max-lock-segments', '--max-lock-memory', '--max-namespace-bytes', '--max-connections', '--max-abandon-timeout', '--threads',
  '--keepalive-ms', '--handshake-timeout-ms', '--max-write-queue', '--auth-token-file',
  '--tls-cert', '--tls-key', '--port-file', '--etcd-endpoints', '--ha-group', '--ha-ttl-ms', '--state-dir',
  '--ha-groups', '--ha-init', '--ha-new-cluster',
];

/** Runs fn(dir) with a fresh temporary directory, removed afterwards. */
async function inTempDir(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-cli-'));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('command line', () => {
  test('--help prints the usage, naming every flag, and exits 0', async () => {
    const res = await runServerCli(['--help']);
    assert.equal(res.code, 0, res.stderr);
    const out = res.stdout + res.stderr;
    for (const flag of FLAGS) assert.ok(out.includes(flag), `--help mentions ${flag}`);
  });

  for (const [args, env] of [
    [['--port', 'abc']],
    [['--port=abc']],
    [['--port', '70000']],
    [['--port', '-1']],
    [['--default-abandon-timeout', '-5']],
    [['--default-abandon-timeout=-5']],
    [['--default-abandon-timeout', 'soon']],
    [['--max-resources', 'many']],
    [['--max-connections', '1.5']],
    [['--threads', 'x']],
    [['--stats-interval', '-1']],
    [['--log-locks', 'maybe']],
    [[], { LOCKTOPUS_PORT: 'abc' }],
    [[], { LOCKTOPUS_DEFAULT_ABANDON_TIMEOUT: '-5' }],
    [['--keepalive-ms', '0']],
    [['--keepalive-ms', '3600001']],
    [['--handshake-timeout-ms', '-1']],
    [['--max-write-queue', '0']],
    [[], { LOCKTOPUS_KEEPALIVE_MS: 'often' }],
    [['--tls-cert', 'cert.pem']],
    [['--tls-key', 'key.pem']],
    [[], { LOCKTOPUS_TLS_CERT: 'cert.pem' }],
    [['--ha-ttl-ms', '999']],
    [[], { LOCKTOPUS_HA_TTL_MS: 'long' }],
    [['--ha-group', '']],
    [['--ha-group', 'a/b']],
    [['--ha-group', 'a,b']],
    [['--state-dir', '/tmp', '--etcd-endpoints', 'http://127.0.0.1:1']],
    [['--ha-groups', 'a,b']],
    [['--ha-groups', 'a,,b', '--ha-group', 'a']],
    [['--ha-groups', 'a,b,a', '--ha-group', 'a']],
    [['--ha-init']],
    [['--ha-new-cluster']],
  ]) {
    const what = [...Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`), ...args].join(' ');
    test(`a bad value (${what}) is reported on stderr with exit code 2`, async () => {
      // -p 0 so that a server that wrongly starts does not collide with anything
      const res = await runServerCli(['-H', '127.0.0.1', ...(env ? [] : ['-p', '0']), ...args], { env });
      assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
      assert.ok(res.stderr.trim().length > 0, 'a message on stderr');
      assert.doesNotMatch(res.stderr, /listening on/);
    });
  }

  // A value out of an integer flag's range is named with the range, which
  // is short: never DBL_MAX written out (309 digits), as CLI11's own
  // NonNegativeNumber and PositiveNumber wrote it.
  for (const [args, env, message] of [
    [['--port', 'abc'], null, '--port: abc is not a number in 0..65535'],
    [[], { LOCKTOPUS_PORT: 'abc' }, '--port: abc is not a number in 0..65535'],
    [['--port', '70000'], null, '--port: 70000 is not a number in 0..65535'],
    [['--port', '-1'], null, '--port: -1 is not a number in 0..65535'],
    [['--threads', 'x'], null, '--threads: x is not a number in 0..4294967295'],
    [['--default-abandon-timeout', '-5'], null, '--default-abandon-timeout: -5 is not a number of 0 or more'],
    [['--max-connections', '0'], null, '--max-connections: 0 is not a number of 1 or more'],
    [['--max-connections', '1.5'], null, '--max-connections: 1.5 is not a number of 1 or more'],
    [['--keepalive-ms', '3600001'], null, '--keepalive-ms: 3600001 is not a number in 1..3600000'],
    [['--ha-ttl-ms', '999'], null, '--ha-ttl-ms: 999 is not a number in 1000..3600000'],
    [['--max-lock-memory', '0'], null, '--max-lock-memory: 0 is not a number of 1 or more'],
  ]) {
    const what = [...Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`), ...args].join(' ');
    test(`an out-of-range value (${what}) is named with its range`, async () => {
      const res = await runServerCli(['-H', '127.0.0.1', ...(env ? [] : ['-p', '0']), ...args], { env: env ?? {} });
      assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
      assert.ok(res.stderr.includes(`locktopus: ${message}\n`), res.stderr);
      assert.doesNotMatch(res.stderr, /\d{21}/);
    });
  }

  test('LOCKTOPUS_KEEPALIVE_MS, LOCKTOPUS_HANDSHAKE_TIMEOUT_MS and LOCKTOPUS_MAX_WRITE_QUEUE are read', async () => {
    const server = await startServer({
      env: { LOCKTOPUS_KEEPALIVE_MS: '4321', LOCKTOPUS_HANDSHAKE_TIMEOUT_MS: '5432', LOCKTOPUS_MAX_WRITE_QUEUE: '65' },
    });
    const page = (await server.get('/')).body;
    assert.match(page, /<th>keep-alive interval<\/th><td title="4321 ms">4.32 s<\/td>/);
    assert.match(page, /<th>handshake timeout<\/th><td title="5432 ms">5.43 s<\/td>/);
    assert.match(page, /<th>max write queue \(answers\)<\/th><td>65<\/td>/);
  });

  test('LOCKTOPUS_PORT sets the port', async () => {
    const port = await freePort();
    const server = await startServer({ hostPort: false, args: ['-H', '127.0.0.1'], env: { LOCKTOPUS_PORT: String(port) } });
    assert.equal(server.port, port);
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('env')), acquired(1));
  });

  test('LOCKTOPUS_HOST and LOCKTOPUS_PORT together replace both flags', async () => {
    const server = await startServer({ hostPort: false, env: { LOCKTOPUS_HOST: '127.0.0.1', LOCKTOPUS_PORT: '0' } });
    await server.waitForStderr(new RegExp(`listening on 127\\.0\\.0\\.1:${server.port}\n`));
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('env')), acquired(1));
  });

  test('the --port flag overrides LOCKTOPUS_PORT', async () => {
    const envPort = await freePort();
    const flagPort = await freePort();
    const server = await startServer({
      hostPort: false, args: ['-H', '127.0.0.1', '--port', String(flagPort)], env: { LOCKTOPUS_PORT: String(envPort) },
    });
    assert.equal(server.port, flagPort);
  });

  test('--port-file holds the port the server listens on, written whole', () => inTempDir(async (dir) => {
    const file = path.join(dir, 'port');
    const server = await startServer({ args: ['--port-file', file] });
    assert.equal(fs.readFileSync(file, 'utf8'), `${server.port}\n`);
    await server.waitForStderr(new RegExp(`listening on 127\\.0\\.0\\.1:${server.port}\n`));
    assert.deepEqual(fs.readdirSync(dir), ['port'], 'the scratch file was renamed, not left beside it');
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('port-file')), acquired(1));
  }));

  test('--port-file with a fixed --port holds that port', () => inTempDir(async (dir) => {
    const port = await freePort();
    const file = path.join(dir, 'port');
    await startServer({ hostPort: false, args: ['-H', '127.0.0.1', '--port', String(port), `--port-file=${file}`] });
    assert.equal(fs.readFileSync(file, 'utf8'), `${port}\n`);
  }));

  test('LOCKTOPUS_PORT_FILE names the port file', () => inTempDir(async (dir) => {
    const file = path.join(dir, 'port');
    const server = await startServer({ env: { LOCKTOPUS_PORT_FILE: file } });
    assert.equal(fs.readFileSync(file, 'utf8'), `${server.port}\n`);
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('port-file')), acquired(1));
  }));

  test('a --port-file that cannot be written stops the server with exit code 1, naming the file', () => inTempDir(async (dir) => {
    const file = path.join(dir, 'no-such-directory', 'port');
    const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--port-file', file]);
    assert.equal(res.code, 1, `exit code; stderr: ${res.stderr}`);
    assert.ok(res.stderr.includes(`[${file}]`), `stderr names the file: ${res.stderr}`);
    assert.equal(fs.existsSync(file), false);
  }));

  test('bad etcd endpoints stop the server with exit code 1, naming the entry', async () => {
    for (const endpoints of ['https://127.0.0.1:2379', 'http://127.0.0.1:2379/path', 'not a url']) {
      const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--etcd-endpoints', endpoints]);
      assert.equal(res.code, 1, `${endpoints}: ${res.stderr}`);
      assert.match(res.stderr, /cannot start: --etcd-endpoints/, endpoints);
    }
  });

  test('--state-dir and --etcd-endpoints make --max-abandon-timeout default to 60000', () => inTempDir(async (dir) => {
    const server = await startServer({ args: ['--state-dir', dir] });
    const page = (await server.get('/')).body;
    assert.match(page, /<th>max abandon timeout<\/th><td title="60000 ms">60 s<\/td>/);
    assert.match(page, /<th>state dir<\/th><td><code>/);
    const other = path.join(dir, 'other');
    fs.mkdirSync(other);
    const given = await startServer({ args: ['--state-dir', other, '--max-abandon-timeout', '90000'] });
    assert.match((await given.get('/')).body, /<th>max abandon timeout<\/th><td title="90000 ms">90 s<\/td>/);
  }));

  test('an unreadable --state-dir record stops the server with exit code 1, naming the file', () => inTempDir(async (dir) => {
    fs.writeFileSync(path.join(dir, 'record'), 'not a record');
    const res = await runServerCli(['-H', '127.0.0.1', '-p', '0', '--state-dir', dir]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /record.*cannot be read/);
  }));

  test('--opt=value works like --opt value', async () => {
    const server = await startServer({
      hostPort: false, args: ['--host=127.0.0.1', '--port=0', `--default-abandon-timeout=${ABANDON}`],
    });
    await abandonScenario(server);
  });

  test('LOCKTOPUS_DEFAULT_ABANDON_TIMEOUT sets the default abandon timeout', async () => {
    const server = await startServer({ env: { LOCKTOPUS_DEFAULT_ABANDON_TIMEOUT: String(ABANDON) } });
    await abandonScenario(server);
  });

  test('--default-abandon-timeout overrides the environment (short flag over long env)', async () => {
    const server = await startServer({
      args: ['--default-abandon-timeout', String(ABANDON)], env: { LOCKTOPUS_DEFAULT_ABANDON_TIMEOUT: '60000' },
    });
    await abandonScenario(server);
  });

  test('--default-abandon-timeout overrides the environment (long flag over short env)', async () => {
    const server = await startServer({
      args: ['--default-abandon-timeout', '60000'], env: { LOCKTOPUS_DEFAULT_ABANDON_TIMEOUT: '300' },
    });
    // the environment's 300 ms would have expired long before
    await abandonScenario(server, { notBefore: 1500, released: false });
  });

  test('LOCKTOPUS_MAX_RESOURCES sets a limit', async () => {
    const server = await startServer({ env: { LOCKTOPUS_MAX_RESOURCES: '2' } });
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('a'), w('b')), acquired(1));
    const b = await server.connect(uniqueNs());
    b.send({ action: 'lock', resources: [w('a'), w('b'), w('c')] });
    await expectProtocolError(b, 'max-resources');
  });

  test('the logging flags are accepted and the server serves with them', async () => {
    const server = await startServer({
      args: ['--log-clients', 'true', '--log-locks=true', '--stats-interval', '1', '--threads', '2'],
    });
    const a = await server.connect(uniqueNs());
    assert.deepEqual(await a.lock(w('logged')), acquired(1));
  });
});
