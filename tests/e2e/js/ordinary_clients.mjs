// A separate process of ordinary clients, for tests that load the server
// from another: `node ordinary_clients.mjs URL N` opens N connections that
// each lock one of three shared paths and one of their own, hold 2 ms,
// release, and again, until the parent sends 'stop' on stdin's IPC channel.
// Then it prints one JSON line {cycles, maxWaitMs, errors} and exits.
// A process of its own, so that the wait measured from lock sent to
// acquired is the server's and not the parent's busy event loop's.

import WebSocket from 'ws';

const [url, n] = [process.argv[2], Number(process.argv[3])];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const state = { cycles: 0, maxWaitMs: 0, errors: [] };
let stopping = false;
process.on('message', (m) => { if (m === 'stop') stopping = true; });

/** A connection's frames, queued as they come (several may come at once). */
function frames(ws) {
  const queue = [];
  let wake = null;
  let closed = null;
  ws.on('message', (data) => { queue.push(JSON.parse(data.toString())); wake?.(); });
  ws.on('close', (code) => { closed = code; wake?.(); });
  /** The next frame; rejects on close or after 60 s. */
  return async () => {
    const deadline = Date.now() + 60_000;
    while (queue.length === 0) {
      if (closed !== null) throw new Error(`closed with ${closed}`);
      if (Date.now() > deadline) throw new Error('no answer within 60 s');
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake = () => { clearTimeout(timer); wake = null; resolve(); };
      });
    }
    return queue.shift();
  };
}

async function client(i) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => {});
  const nextFrame = frames(ws);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('close', reject); });
  while (!stopping) {
    const sent = Date.now();
    ws.send(JSON.stringify({
      action: 'lock',
      resources: [{ type: 'write', path: ['shared', String(i % 3)] }, { type: 'write', path: ['own', String(i)] }],
    }));
    let a = await nextFrame();
    if (a.state === 'enqueued') a = await nextFrame();
    if (a.state !== 'acquired') throw new Error(`unexpected answer ${JSON.stringify(a)}`);
    state.maxWaitMs = Math.max(state.maxWaitMs, Date.now() - sent);
    await sleep(2);
    ws.send(JSON.stringify({ action: 'release' }));
    const r = await nextFrame();
    if (r.state !== 'ready') throw new Error(`unexpected answer ${JSON.stringify(r)}`);
    state.cycles += 1;
  }
  ws.close();
}

await Promise.all(Array.from({ length: n }, (_, i) => client(i).catch((err) => {
  state.errors.push(`client ${i}: ${err.message}`);
})));
process.stdout.write(`${JSON.stringify(state)}\n`);
process.exit(0);
