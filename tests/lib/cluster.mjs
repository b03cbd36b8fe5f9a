// The one place in the tree that starts etcd members on loopback, and the
// one that assembles an HA cluster from them: `locktopus --ha-init
// --ha-new-cluster`, the servers of each group under supervisors, and
// HAProxy with packaging/haproxy/render.sh's configuration. The failover
// driver imports it; scripts/cluster.sh, scripts/etcd_cluster.sh and the
// C++ tests' EtcdCluster (tests/e2e/etcd_cluster.h) run it as a command:
//
//   node tests/lib/cluster.mjs etcd [--members N] [--heartbeat-ms MS]
//       [--election-timeout-ms MS] [--first-port P] [--dir DIR] [--keep]
//       [--urls] [--control]
//     Starts N members (default 1), waits until they agree on a leader, and
//     prints one JSON line on stdout: {"endpoints":"http://...,...","dir":D,
//     "members":[{"name","client","peer","pid","log"}]} (with --urls, the
//     comma-separated client URLs alone). Then runs until SIGINT or SIGTERM,
//     or until every member has exited. --control: reads commands from
//     stdin, one a line, each answered by one JSON line ("kill I", "pause
//     I", "resume I", "restart I" -> {"ok":true}; "leader" ->
//     {"leader":I|null}), and stops the members at once on stdin's end. A
//     start that fails prints the reason on stderr (as {"error":...} on
//     stdout with --control) and exits 1.
//
//   node tests/lib/cluster.mjs ha --bin PATH [--port 9009] [--dir DIR]
//       [--no-replication] [-- server flags...]
//     scripts/cluster.sh's cluster (docs/ha.md, "A cluster on one machine").
//     Replication is on unless --no-replication: each group's servers share
//     a peer token (--ha-peer-token-file DIR/GROUP.peer-token), made anew
//     for each cluster.
//
// Without --dir, data and logs go to a temporary directory, removed at the
// end unless --keep. Ports: chosen at random below the kernel's ephemeral
// range (where no outgoing connection takes them), each bound once to check
// it is free; a start that finds one taken after all ("address already in
// use") is tried again on other ports. Every process is started in a session
// of its own, so that a Ctrl-C reaches this process only, which stops them
// in order; any still running when it exits are killed.
//
// Members run with --heartbeat-interval 100 --election-timeout 1000 by
// default (docs/ha.md, Why it is safe). $LOCKTOPUS_ETCD_BIN names etcd's
// binary (else `etcd` on the PATH).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const START_TRIES = 3;
const IN_USE = /address already in use/i;

// ---- processes ---------------------------------------------------------------

const children = new Set();
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL');
});

const alive = (proc) => proc != null && proc.exitCode === null && proc.signalCode === null;

// Resolves once `proc` has exited (at once if it has).
const exited = (proc) => (alive(proc) ? new Promise((resolve) => proc.once('exit', resolve)) : Promise.resolve());

// Starts `cmd` in a session of its own, stdout and stderr appended to `log`.
function spawnLogged(cmd, args, log, env = process.env) {
  const out = fs.openSync(log, 'a');
  const proc = spawn(cmd, args, { stdio: ['ignore', out, out], env, detached: true });
  fs.closeSync(out);
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}

// Signals `proc`; SIGKILL after `patience` ms; resolves once it has exited.
async function stopProcess(proc, signal, patience) {
  if (!alive(proc)) return;
  proc.kill(signal);
  if (signal !== 'SIGKILL') proc.kill('SIGCONT');
  const timer = setTimeout(() => proc.kill('SIGKILL'), patience);
  await exited(proc);
  clearTimeout(timer);
}

const fileSize = (file) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

// What `file` holds from byte `from` on.
function readFrom(file, from = 0) {
  try {
    return fs.readFileSync(file).subarray(from).toString();
  } catch {
    return '';
  }
}

function tail(text, lines) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

// The path of an executable: `name` on the PATH, else `fallback` if it is
// one; null if neither.
function which(name, fallback) {
  for (const d of (process.env.PATH || '').split(':')) {
    const p = path.join(d || '.', name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  try {
    fs.accessSync(fallback, fs.constants.X_OK);
    return fallback;
  } catch {
    return null;
  }
}

export const etcdBinary = () => process.env.LOCKTOPUS_ETCD_BIN || which('etcd', '/usr/bin/etcd');
export const haproxyBinary = () => which('haproxy', '/usr/sbin/haproxy');

// ---- ports -------------------------------------------------------------------

// Below the kernel's ephemeral range, from which outgoing connections take
// their local ports: a port picked there may be taken by the time a process
// binds it, or again when one restarts.
function portRange() {
  let low = 32768;
  try {
    low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch { /* not Linux: the default */ }
  const high = Math.min(32000, low - 1);
  return [10000, high > 11000 ? high : 32000];
}

// Whether 127.0.0.1:port can be bound now.
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const handedOut = new Set();

// `count` distinct loopback ports, free a moment ago and not handed out
// before by this process.
async function freePorts(count) {
  const [low, high] = portRange();
  const ports = [];
  for (let tries = 0; ports.length < count; tries += 1) {
    if (tries > 1000) throw new Error(`found no free port in ${low}-${high}`);
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || !await bindable(port)) continue;
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

// ---- HTTP --------------------------------------------------------------------

// One HTTP request to 127.0.0.1:port: {status, body, headers}, status 0 if
// it could not be sent or answered within 2 s.
export function request(port, target, { method = 'GET', body } = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, agent: false, timeout: 2000 }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '', headers: {} }));
    if (body) req.write(body);
    req.end();
  });
}

// ---- etcd --------------------------------------------------------------------

let clusters = 0;

// Members m0, m1, ... on loopback, data in DIR/etcd-mI, log DIR/etcd-mI.log.
export class Etcd {
  constructor({ members = 1, dir, heartbeatMs = 100, electionTimeoutMs = 1000, firstPort = 0 }) {
    this.size = members;
    this.dir = dir;
    this.timing = ['--heartbeat-interval', String(heartbeatMs), '--election-timeout', String(electionTimeoutMs)];
    this.firstPort = firstPort;
    this.bin = etcdBinary();
    this.members = [];
  }

  // Starts the members; resolves once they agree on a leader. Throws, with
  // the end of each member's log, if they do not within 20 s.
  async start() {
    if (!this.bin) throw new Error('etcd not found (scripts/setup.sh installs etcd-server)');
    for (let attempt = 1; ; attempt += 1) {
      await this.#spawnAll();
      if (await this.#waitReady(20000)) return;
      const logs = this.members.map((m) => `---- ${m.name}\n${tail(readFrom(m.log), 20)}`).join('\n');
      await this.stop({ graceful: false });
      // A port taken since it was checked: other ports may do.
      if (!IN_USE.test(logs) || attempt === START_TRIES || this.firstPort) {
        throw new Error(`etcd did not start:\n${logs}`);
      }
    }
  }

  async #spawnAll() {
    let ports;
    if (this.firstPort) {
      ports = Array.from({ length: 2 * this.size }, (_, i) => this.firstPort + i);
      for (const p of ports) if (!await bindable(p)) throw new Error(`port ${p} is taken`);
    } else {
      ports = await freePorts(2 * this.size);
    }
    clusters += 1;
    const token = `locktopus-${process.pid}-${clusters}`;
    this.members = Array.from({ length: this.size }, (_, i) => ({
      name: `m${i}`, client: ports[2 * i], peer: ports[2 * i + 1],
      log: path.join(this.dir, `etcd-m${i}.log`), data: path.join(this.dir, `etcd-m${i}`), proc: null, paused: false,
    }));
    const initial = this.members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
    for (const m of this.members) {
      fs.rmSync(m.data, { recursive: true, force: true });
      fs.rmSync(m.log, { force: true });
      const client = `http://127.0.0.1:${m.client}`;
      const peer = `http://127.0.0.1:${m.peer}`;
      m.args = ['--name', m.name, '--data-dir', m.data,
        '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
        ...this.timing, '--logger', 'zap'];
      m.proc = spawnLogged(this.bin, m.args, m.log);
    }
  }

  async #waitReady(patience) {
    const deadline = Date.now() + patience;
    while (Date.now() < deadline) {
      // A member that exited (a port taken, a bad flag) will not come up.
      if (this.members.some((m) => !alive(m.proc))) return false;
      if (await this.leader() !== null) return true;
      await sleep(50);
    }
    return false;
  }

  url(i) { return `http://127.0.0.1:${this.members[i].client}`; }
  urls() { return this.members.map((_, i) => this.url(i)).join(','); }
  running(i) { return alive(this.members[i].proc); }

  // SIGKILL; resolves once the member has exited.
  async kill(i) {
    const m = this.members[i];
    await stopProcess(m.proc, 'SIGKILL', 0);
    m.paused = false;
  }

  // SIGSTOP / SIGCONT: a paused member keeps its sockets open and accepts
  // connections but answers nothing, like a hung machine.
  pause(i) {
    const m = this.members[i];
    if (alive(m.proc)) m.proc.kill('SIGSTOP');
    m.paused = true;
  }

  resume(i) {
    const m = this.members[i];
    if (alive(m.proc)) m.proc.kill('SIGCONT');
    m.paused = false;
  }

  // Starts a killed member again on its data directory and ports.
  restart(i) {
    const m = this.members[i];
    if (alive(m.proc)) return;
    m.proc = spawnLogged(this.bin, m.args.map((a) => (a === 'new' ? 'existing' : a)), m.log);
  }

  // The member that the running members (paused ones aside) agree is the
  // raft leader, by /v3/maintenance/status: its index, or null.
  async leader() {
    const byId = new Map();
    let leader = null;
    for (const [i, m] of this.members.entries()) {
      if (!alive(m.proc) || m.paused) continue;
      const res = await request(m.client, '/v3/maintenance/status', { method: 'POST', body: '{}' });
      if (res.status !== 200) return null;
      let st;
      try {
        st = JSON.parse(res.body);
      } catch {
        return null;
      }
      if (!st.leader || st.leader === '0' || (leader !== null && leader !== st.leader)) return null;
      leader = st.leader;
      byId.set(st.header?.member_id, i);
    }
    return byId.get(leader) ?? null;
  }

  // One POST to etcd's JSON gateway, to the first running member that
  // answers 200: its answer, or null.
  async post(target, body) {
    for (const m of this.members) {
      if (!alive(m.proc) || m.paused) continue;
      const res = await request(m.client, target, { method: 'POST', body: JSON.stringify(body) });
      if (res.status === 200) return res;
    }
    return null;
  }

  // Stops every member: SIGTERM, then SIGKILL after 2 s (a member whose
  // peers have gone keeps campaigning); or SIGKILL at once.
  async stop({ graceful = true } = {}) {
    await Promise.all(this.members.map((m) => stopProcess(m.proc, graceful ? 'SIGTERM' : 'SIGKILL', 2000)));
  }

  // What the JSON line of `cluster.mjs etcd` says of the cluster.
  describe() {
    return {
      endpoints: this.urls(),
      dir: this.dir,
      members: this.members.map((m) => ({ name: m.name, client: m.client, peer: m.peer, pid: m.proc.pid, log: m.log })),
    };
  }
}

// ---- the HA cluster ----------------------------------------------------------

// etcd, `locktopus --ha-init --ha-new-cluster`, perGroup servers in each
// group (GROUP s I: g0s0, g0s1, ...), each under a supervisor, and HAProxy.
// Options:
//   bin         the server binary
//   dir         where data, logs, port files and haproxy.cfg go
//   groups      the groups' names (--ha-groups), default g0,g1
//   perGroup    servers per group, default 2
//   etcd        Etcd's options (members default 3)
//   serverArgs  flags every server gets after its own
//   env         the servers' environment
//   endpoints   async (server) => the server's --etcd-endpoints, asked once
//               before its first start (default: the members' URLs)
//   onExit      (server, code, signal) => ms after which the server is
//               started again, or null to leave it stopped (default: 200)
//   proxy       {port (0: a free one), inter, fall, rise, statsSocket}:
//               render.sh's options; statsSocket true puts it in dir
//   replication true (default): the servers of each group replicate to
//               each other, with a peer token of the group's own, random
//               for each cluster (--ha-peer-token-file DIR/GROUP.peer-token)
export class HaCluster {
  constructor({
    bin, dir, groups = ['g0', 'g1'], perGroup = 2, etcd = {}, serverArgs = [], env = process.env,
    endpoints = null, onExit = () => 200, proxy = {}, replication = true,
  }) {
    Object.assign(this, { bin, dir, groups, perGroup, serverArgs, env, onExit, replication });
    this.endpointsOf = endpoints ?? (async () => this.etcd.urls());
    this.proxy = { port: 0, inter: 250, fall: 2, rise: 1, statsSocket: false, ...proxy };
    this.etcd = new Etcd({ members: 3, ...etcd, dir });
    this.servers = [];
    this.proxyPort = 0;
    this.proxyProc = null;
    this.proxyConfig = path.join(dir, 'haproxy.cfg');
    this.stopping = null;
    this.portsFixed = false; // once HAProxy's configuration names them
  }

  // Starts everything; throws if something does not come up (stop() then
  // stops what did).
  async start() {
    if (!haproxyBinary()) throw new Error('haproxy not found (scripts/setup.sh installs it)');
    await this.etcd.start();
    // A new cluster: no grace at the first start (locktopus --help, --ha-init).
    const init = this.haInit({ fresh: true });
    if (init.code !== 0) throw new Error(`locktopus --ha-init --ha-new-cluster failed:\n${init.output}`);
    if (this.replication) {
      for (const group of this.groups) {
        fs.writeFileSync(this.peerTokenFile(group), `${crypto.randomBytes(32).toString('base64url')}\n`,
          { mode: 0o600 });
      }
    }
    for (const group of this.groups) {
      for (let i = 0; i < this.perGroup; i += 1) {
        const name = `${group}s${i}`;
        this.servers.push({
          name, group, port: (await freePorts(1))[0], proc: null, stopped: false, timer: null, down: false,
          log: path.join(this.dir, `${name}.log`), portFile: path.join(this.dir, `${name}.port`),
        });
      }
    }
    for (const s of this.servers) {
      s.endpoints = await this.endpointsOf(s);
      this.startServer(s);
    }
    await this.#waitListening(20000);
    this.portsFixed = true;
    await this.#startProxy();
  }

  // locktopus --ha-init: the cluster's map, and records where there is none
  // (with fresh, as a new cluster); its exit code and output.
  haInit({ fresh = false } = {}) {
    const args = ['--ha-init', '--etcd-endpoints', this.etcd.urls(), '--ha-groups', this.groups.join(','),
      '--ha-group', this.groups[0]];
    if (fresh) args.push('--ha-new-cluster');
    const res = spawnSync(this.bin, args, { encoding: 'utf8', env: this.env });
    return { code: res.status, output: `${res.stdout}${res.stderr}`.trim() };
  }

  // The file holding `group`'s peer token (with replication on).
  peerTokenFile(group) {
    return path.join(this.dir, `${group}.peer-token`);
  }

  serverCommand(s) {
    const replication = this.replication ? ['--ha-peer-token-file', this.peerTokenFile(s.group)] : [];
    return ['-H', '127.0.0.1', '-p', String(s.port), '--port-file', s.portFile, '--etcd-endpoints', s.endpoints,
      '--ha-group', s.group, '--ha-groups', this.groups.join(','), ...replication, ...this.serverArgs];
  }

  // Starts server s under its supervisor: when it exits, onExit says
  // whether and when it starts again. Its log is appended to; s.logStart is
  // where this run's part begins, s.started when (process.hrtime.bigint()).
  startServer(s) {
    clearTimeout(s.timer);
    s.stopped = false;
    s.down = false;
    fs.rmSync(s.portFile, { force: true });
    const logStart = fileSize(s.log);
    s.logStart = logStart;
    s.started = process.hrtime.bigint();
    const proc = spawnLogged(this.bin, this.serverCommand(s), s.log, this.env);
    s.proc = proc;
    fs.writeFileSync(path.join(this.dir, `${s.name}.pid`), `${proc.pid}\n`);
    proc.on('exit', async (code, signal) => {
      if (s.proc !== proc || s.stopped || this.stopping) return;
      // Its port taken since it was checked: another, while HAProxy's
      // configuration does not name it yet.
      if (!this.portsFixed && code !== 0 && IN_USE.test(readFrom(s.log, logStart))) {
        [s.port] = await freePorts(1);
        this.startServer(s);
        return;
      }
      const delay = this.onExit(s, code, signal);
      if (delay === null || delay === undefined) {
        s.down = true;
        return;
      }
      s.timer = setTimeout(() => {
        if (!s.stopped && !this.stopping) this.startServer(s);
      }, delay);
    });
  }

  // Stops server s for good (until startServer): `signal`, then waits for
  // its exit.
  async stopServer(s, signal = 'SIGTERM') {
    s.stopped = true;
    clearTimeout(s.timer);
    if (alive(s.proc)) {
      s.proc.kill(signal);
      await exited(s.proc);
    }
  }

  // SIGTERM to every running server (a second one ends a drain at once).
  terminateServers() {
    for (const s of this.servers) if (alive(s.proc)) s.proc.kill('SIGTERM');
  }

  // GET /readyz of server s: 200 for the active, 503 otherwise.
  readyz(s) {
    return request(s.port, '/readyz');
  }

  // The group's record in etcd (docs/ha.md: epoch, ceiling, clean mark,
  // in-sync set...), as JSON; null if it is missing or etcd did not answer.
  async record(group) {
    const res = await this.etcd.post('/v3/kv/range', { key: Buffer.from(`/locktopus/${group}/record`).toString('base64') });
    const kv = res && JSON.parse(res.body).kvs?.[0];
    return kv ? JSON.parse(Buffer.from(kv.value, 'base64').toString()) : null;
  }

  // What server s has logged from byte `from` of its log on (by default,
  // since its last start).
  serverLog(s, from = s.logStart) {
    return readFrom(s.log, from);
  }

  // Where server s's log ends now: a `from` for serverLog.
  logEnd(s) {
    return fileSize(s.log);
  }

  // The group's active server, or null.
  async active(group) {
    for (const s of this.servers) {
      if (s.group === group && (await this.readyz(s)).status === 200) return s;
    }
    return null;
  }

  async #waitListening(patience) {
    const deadline = Date.now() + patience;
    for (const s of this.servers) {
      while (readFrom(s.portFile).trim() === '') {
        if (s.down) throw Object.assign(new Error(`${s.name} could not start; see ${s.log}`), { server: s });
        if (Date.now() > deadline) throw new Error(`${s.name} not listening after ${patience / 1000} s; see ${s.log}`);
        await sleep(100);
      }
    }
  }

  async #startProxy() {
    const fixed = this.proxy.port !== 0;
    for (let attempt = 1; ; attempt += 1) {
      this.proxyPort = fixed ? this.proxy.port : (await freePorts(1))[0];
      if (fixed && !await bindable(this.proxyPort)) {
        throw new Error(`port ${this.proxyPort} is taken (--port N picks another)`);
      }
      const args = ['--listen', `127.0.0.1:${this.proxyPort}`];
      for (const g of this.groups) {
        args.push('--group', this.servers.filter((s) => s.group === g).map((s) => `127.0.0.1:${s.port}`).join(','));
      }
      args.push('--ha-groups', this.groups.join(','), '--inter', String(this.proxy.inter),
        '--fall', String(this.proxy.fall), '--rise', String(this.proxy.rise));
      if (this.proxy.statsSocket) args.push('--stats-socket', path.join(this.dir, 'haproxy.sock'));
      const render = spawnSync(path.join(root, 'packaging/haproxy/render.sh'), args, { encoding: 'utf8' });
      if (render.status !== 0) throw new Error(`render.sh failed: ${render.stderr}`);
      fs.writeFileSync(this.proxyConfig, render.stdout);
      const log = path.join(this.dir, 'haproxy.log');
      const logStart = fileSize(log);
      this.proxyProc = spawnLogged(haproxyBinary(), ['-f', this.proxyConfig, '-db'], log);
      const deadline = Date.now() + 10000;
      while (alive(this.proxyProc) && Date.now() < deadline) {
        if ((await request(this.proxyPort, '/healthz')).status !== 0) return;
        await sleep(100);
      }
      const out = readFrom(log, logStart);
      await stopProcess(this.proxyProc, 'SIGKILL', 0);
      if (fixed || attempt === START_TRIES || !/cannot bind|address already in use/i.test(out)) {
        throw new Error(`haproxy did not start:\n${out}`);
      }
    }
  }

  // Stops everything, in order: the servers (SIGTERM: they drain their live
  // locks; or SIGKILL), HAProxy, etcd.
  stop({ graceful = true } = {}) {
    this.stopping ??= (async () => {
      await Promise.all(this.servers.map((s) => this.stopServer(s, graceful ? 'SIGTERM' : 'SIGKILL')));
      await stopProcess(this.proxyProc, 'SIGTERM', 5000);
      await this.etcd.stop({ graceful });
    })();
    return this.stopping;
  }
}

// ---- the command line --------------------------------------------------------

function tempDir(prefix, given) {
  if (given) {
    fs.mkdirSync(given, { recursive: true });
    return { dir: path.resolve(given), owned: false };
  }
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), prefix)), owned: true };
}

async function etcdCommand(argv) {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      members: { type: 'string', default: '1' },
      'heartbeat-ms': { type: 'string', default: '100' },
      'election-timeout-ms': { type: 'string', default: '1000' },
      'first-port': { type: 'string', default: '0' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      urls: { type: 'boolean', default: false },
      control: { type: 'boolean', default: false },
    },
  });
  const members = Number(o.members);
  const firstPort = Number(o['first-port']);
  if (!Number.isInteger(members) || members < 1 || members > 99) {
    console.error('etcd: --members wants 1 to 99');
    process.exit(2);
  }
  if (!Number.isInteger(firstPort) || firstPort < 0 || firstPort + 2 * members > 65536) {
    console.error('etcd: --first-port wants a port, and room above it for every member\'s two');
    process.exit(2);
  }
  const say = (line) => { if (!o.control) console.error(`etcd: ${line}`); };
  const { dir, owned } = tempDir('locktopus-etcd-', o.dir);
  const etcd = new Etcd({
    members, dir, heartbeatMs: Number(o['heartbeat-ms']), electionTimeoutMs: Number(o['election-timeout-ms']),
    firstPort,
  });
  let finishing = null;
  const finish = (code, graceful) => {
    finishing ??= etcd.stop({ graceful }).then(() => {
      if (owned && !o.keep) fs.rmSync(dir, { recursive: true, force: true });
      else say(`data kept in ${dir}`);
      process.exit(code);
    });
  };
  process.on('SIGINT', () => finish(130, true));
  process.on('SIGTERM', () => finish(143, true));
  try {
    await etcd.start();
  } catch (err) {
    if (o.control) console.log(JSON.stringify({ error: err.message }));
    else console.error(`etcd: ${err.message}`);
    finish(1, false);
    return;
  }
  for (const m of etcd.describe().members) {
    say(`${m.name} pid ${m.pid} client http://127.0.0.1:${m.client} peer http://127.0.0.1:${m.peer} log ${m.log}`);
  }
  say(`${members} member(s) healthy; Ctrl-C stops them`);
  console.log(o.urls ? etcd.urls() : JSON.stringify(etcd.describe()));
  if (o.control) {
    // One command at a time, each answered in order.
    let queue = Promise.resolve();
    const answer = async (line) => {
      const [verb, arg] = line.trim().split(/\s+/);
      const i = Number(arg);
      const member = Number.isInteger(i) && i >= 0 && i < members;
      if (verb === 'leader') return { leader: await etcd.leader() };
      if (!member) return { error: `unknown command: ${line}` };
      if (verb === 'kill') await etcd.kill(i);
      else if (verb === 'pause') etcd.pause(i);
      else if (verb === 'resume') etcd.resume(i);
      else if (verb === 'restart') etcd.restart(i);
      else return { error: `unknown command: ${line}` };
      return { ok: true };
    };
    const lines = readline.createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      queue = queue.then(async () => console.log(JSON.stringify(await answer(line))));
    });
    lines.on('close', () => queue.then(() => finish(0, false)));
  } else {
    // Until a signal, or until every member has exited.
    await Promise.all(etcd.members.map((m) => exited(m.proc)));
    finish(0, false);
  }
}

// scripts/cluster.sh: 2 groups of 2 servers, stopped in order on Ctrl-C.
async function haCommand(argv) {
  const { values: o, positionals: serverArgs } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bin: { type: 'string' },
      port: { type: 'string', default: '9009' },
      dir: { type: 'string' },
      'no-replication': { type: 'boolean', default: false },
    },
  });
  const say = (line) => console.error(`cluster: ${line}`);
  for (const [tool, found, pkg] of [['etcd', etcdBinary(), 'etcd-server'], ['haproxy', haproxyBinary(), 'haproxy']]) {
    if (!found) {
      say(`${tool} not found (scripts/setup.sh installs ${pkg})`);
      process.exit(2);
    }
  }
  const { dir, owned } = tempDir('locktopus-cluster-', o.dir);
  let finishing = null;
  let stoppedForGood = 0;
  const cluster = new HaCluster({
    bin: o.bin, dir, serverArgs, replication: !o['no-replication'],
    proxy: { port: Number(o.port), inter: 250, fall: 2, rise: 1, statsSocket: true },
    // exit 0 (after SIGTERM): stopped for good; 2 (flags refused): the
    // whole cluster stops; 3 (fenced) or a signal: started again.
    onExit: (s, code, signal) => {
      const status = code ?? 128 + os.constants.signals[signal];
      if (status === 0) {
        say(`${s.name} stopped (exit 0)`);
        stoppedForGood += 1;
        if (stoppedForGood === cluster.servers.length) {
          say('every server has stopped');
          finish(0);
        }
        return null;
      }
      if (status === 2) {
        say(`${s.name} refused its flags (exit 2); its log ends:`);
        console.error(tail(readFrom(s.log), 5));
        if (cluster.portsFixed) {
          say('a server refused its flags; stopping the cluster');
          finish(1);
        }
        return null;
      }
      if (status === 3) {
        say(`${s.name} was fenced (exit 3): starting it again as a standby`);
        return 0;
      }
      say(`${s.name} exited with ${status}: starting it again as a standby in 1 s`);
      return 1000;
    },
  });
  const finish = (code) => {
    if (finishing) {
      // A second Ctrl-C while servers drain ends the drain at once.
      say('stopping the servers at once');
      cluster.terminateServers();
      return;
    }
    if (cluster.servers.some((s) => alive(s.proc))) {
      say('stopping the servers (they drain their live locks; Ctrl-C again stops them at once)');
    }
    finishing = cluster.stop().then(() => {
      if (owned) {
        fs.rmSync(dir, { recursive: true, force: true });
        say('stopped');
      } else {
        say(`stopped; logs and data in ${dir}`);
      }
      process.exit(code);
    });
  };
  process.on('SIGINT', () => finish(130));
  process.on('SIGTERM', () => finish(143));
  try {
    await cluster.start();
  } catch (err) {
    // A server's refusal is above; its log goes with the directory.
    say(`${err.server ? 'a server could not start (see above)' : err.message}; stopping`);
    finish(1);
    return;
  }
  const proxy = `127.0.0.1:${cluster.proxyPort}`;
  const lines = [
    'Locktopus cluster on loopback',
    `  use:    ws://${proxy}/v1?namespace=NAME   (status page http://${proxy}/)`,
    `  etcd:   ${cluster.etcd.urls()}`,
    `  groups: ${cluster.groups.join(', ')}; a namespace's group is CRC-32 of its name mod ${cluster.groups.length} (see packaging/haproxy/)`,
    cluster.replication
      ? `  replication: on, each group's peer token in ${cluster.peerTokenFile('GROUP')}`
      : '  replication: off (--no-replication): a kill -9 of an active loses its locks',
  ];
  for (const s of cluster.servers) {
    // Who is active: /readyz 200 (the others are standbys, 503).
    const role = (await cluster.readyz(s)).body.trim().split('\n').pop();
    lines.push(`  ${s.name}  group ${s.group}  port ${s.port}  pid ${s.proc.pid}  ${role}  log ${s.log}`);
  }
  lines.push(
    `  haproxy: pid ${cluster.proxyProc.pid}, config ${cluster.proxyConfig}`,
    `           admin socket ${path.join(dir, 'haproxy.sock')} ("show stat": which server of a group is up)`,
    'Ctrl-C stops everything.',
  );
  console.log(lines.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [command, ...rest] = process.argv.slice(2);
  const commands = { etcd: etcdCommand, ha: haCommand };
  if (!commands[command]) {
    console.error('usage: node tests/lib/cluster.mjs etcd|ha [options] (see the comment at its top)');
    process.exit(2);
  }
  commands[command](rest).catch((err) => {
    console.error(err.stack);
    process.exit(1);
  });
}
