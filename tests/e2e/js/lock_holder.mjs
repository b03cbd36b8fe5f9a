// A separate process that holds a lock, for tests that freeze or kill the
// holder: `node lock_holder.mjs URL` connects, locks write ["x"], prints the
// answer as one JSON line on stdout, then keeps the connection open.

import WebSocket from 'ws';

const ws = new WebSocket(process.argv[2]);
ws.on('open', () => {
  ws.send(JSON.stringify({ action: 'lock', resources: [{ type: 'write', path: ['x'] }] }));
});
ws.on('message', (data) => {
  process.stdout.write(`${data.toString()}\n`);
});
ws.on('close', () => process.exit(0));
ws.on('error', (err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
