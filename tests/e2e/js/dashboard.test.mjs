// The dashboard at / in a real browser: Debian's chromium, headless, driven
// by puppeteer-core (no browser download). The page lists the namespaces
// and filters them live, shows a chosen namespace's locks and their
// waits-for graph and follows a release, renders a thousand locks, shows
// eight locks above the fold of a 1280x800 window (the longest waits first,
// no address wrapped, no label cut), works with scripts off, and with a
// token given as ?token=. Screenshots go to the build directory
// (dashboard.png, dashboard-fold.png) for a human to look at.
//
// Skipped, saying why, when chromium or puppeteer-core is missing. The
// parts that need the server's lock inspector (/locks_v1) are skipped on a
// server without it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  TIMEOUT, acquired, enqueued, needsOwnServer, r, serverBinary, startServer, test, uniqueNs, w,
} from './harness.mjs';

const CHROMIUM = [process.env.CHROMIUM_BIN, '/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((p) => p && fs.existsSync(p));
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  puppeteer = undefined;
}
const noBrowser = !CHROMIUM
  ? 'chromium is not installed (scripts/setup.sh installs it)'
  : !puppeteer ? 'puppeteer-core is not installed (npm ci --prefix tests)' : false;

// A file in the build directory: the binary is its bin/locktopus.
function screenshotPath(name = 'dashboard.png') {
  return path.join(path.dirname(path.dirname(serverBinary())), name);
}

// Answers /locks_v1 of `page` with `body`, whatever the server holds.
async function cannedLocks(page, body) {
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    if (new URL(req.url()).pathname === '/locks_v1') {
      req.respond({ status: 200, contentType: 'application/json', body });
    } else {
      req.continue();
    }
  });
}

async function launch() {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// Whether the server answers /locks_v1 (the inspector); a 404 of the route
// itself says "Not found", that of a namespace names it.
async function hasInspector(server, ns, headers = {}) {
  const res = await server.get(`/locks_v1?namespace=${encodeURIComponent(ns)}`, headers);
  return !(res.status === 404 && !/namespace/i.test(res.body));
}

// The cells of the locks table's row for `id`, as the page shows them now.
function rowOf(page, id) {
  return page.evaluate((want) => {
    const tr = document.querySelector(`#locks-table tr[data-id="${want}"]`);
    if (!tr) return null;
    const cell = (c) => tr.querySelector(`td.${c}`)?.textContent ?? '';
    return {
      state: cell('state'), client: cell('client'), resources: cell('resources'),
      waits: cell('waits').split(/\s+/).filter((x) => /^\d+$/.test(x)),
    };
  }, String(id));
}

function edges(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('#graph line.edge'))
    .map((l) => `${l.getAttribute('data-from')}->${l.getAttribute('data-to')}`));
}

async function waitForPage(page, fn, what, ...args) {
  await page.waitForFunction(fn, { timeout: TIMEOUT, polling: 50 }, ...args)
    .catch((err) => { throw new Error(`${what}: ${err.message}`); });
}

describe('dashboard', { skip: noBrowser || needsOwnServer('reads its pages in a browser') }, () => {
  let server;
  let browser;
  let ns;
  let holder;
  let waiters;

  before(async () => {
    server = await startServer();
    browser = await launch();
  });
  // Each test's clients are dropped when it ends (harness.mjs): a test that
  // needs the scene sets it up, in a namespace of its own.
  async function scene() {
    ns = uniqueNs('dash');
    holder = await server.connect(ns, 'client=job-1');
    assert.deepEqual(await holder.lock(w('a', 'b')), acquired(1));
    waiters = [await server.connect(ns, 'client=job-2'), await server.connect(ns, 'client=job-3')];
    assert.deepEqual(await waiters[0].lock(r('a')), enqueued(2));
    assert.deepEqual(await waiters[1].lock(w('a', 'b', 'c')), enqueued(3));
  }
  after(async () => {
    await browser?.close();
    server?.kill();
  });

  test('lists the namespaces live, filters them, and leaves a screenshot', async () => {
    await scene();
    const other = uniqueNs('other');
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    const url = `http://${server.base}/?namespace=${encodeURIComponent(ns)}`;
    const res = await page.goto(url);
    assert.equal(res.status(), 200);
    await waitForPage(page, () => document.getElementById('live').textContent.startsWith('live'),
      'the script polls');
    // A namespace opened after the page loaded shows up without a reload.
    const late = await server.connect(other);
    await waitForPage(page, (name) => Array.from(document.querySelectorAll('#namespaces-table code'))
      .some((c) => c.textContent === name), 'the new namespace is listed', other);
    assert.match(await page.$eval('#namespaces-counts', (p) => p.textContent),
      /^\d+ open now, \d+ opened since the start\.$/);
    // The filter applies as it is typed, and goes into the page's URL.
    await page.type('#filter', 'dash-');
    await waitForPage(page, (name) => {
      const names = Array.from(document.querySelectorAll('#namespaces-table code')).map((c) => c.textContent);
      return names.includes(name) && names.every((n) => n.includes('dash-'));
    }, 'the filter applies', ns);
    assert.match(page.url(), /filter=dash-/);
    const link = await page.$eval('#namespaces-table a', (a) => a.getAttribute('href'));
    assert.match(link, /^\/\?namespace=.*&filter=dash-$/);
    await page.screenshot({ path: screenshotPath(), fullPage: true });
    late.terminate();
    await page.close();
  });

  test('shows who holds and who waits, draws the graph, follows a release', async (t) => {
    await scene();
    if (!(await hasInspector(server, ns))) {
      t.skip('the server has no /locks_v1 yet');
      return;
    }
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`http://${server.base}/?namespace=${encodeURIComponent(ns)}`);
    await waitForPage(page, () => document.querySelectorAll('#graph line.edge').length >= 3,
      'the graph is drawn');
    const one = await rowOf(page, 1);
    assert.equal(one.state, 'acquired');
    assert.equal(one.client, 'job-1');
    assert.equal(one.resources, 'write a/b');
    assert.deepEqual((await rowOf(page, 2)).waits, ['1']);
    assert.deepEqual((await rowOf(page, 3)).waits, ['1', '2']);
    const drawn = await edges(page);
    for (const e of ['2->1', '3->1', '3->2']) assert.ok(drawn.includes(e), `edge ${e} in ${drawn}`);
    const label = await page.$eval('#graph g.node[data-id="1"] text', (t) => t.textContent);
    assert.equal(label, '1 job-1');
    await page.screenshot({ path: screenshotPath(), fullPage: true });

    await holder.release();
    await waiters[0].expect(acquired(2));
    await waitForPage(page, () => {
      const tr = document.querySelector('#locks-table tr[data-id="2"] td.state');
      return tr?.textContent === 'acquired' && !document.querySelector('#locks-table tr[data-id="1"]');
    }, 'lock 2 shows as acquired, lock 1 gone');
    assert.deepEqual((await edges(page)).sort(), ['3->2']);
    await page.close();
  });

  test('renders a thousand locks and their graph', async () => {
    await scene();
    // A canned /locks_v1 answer: one holder, 999 waiters in chains.
    const locks = [];
    for (let i = 1; i <= 1000; i += 1) {
      locks.push({
        id: String(i),
        state: i === 1 ? 'acquired' : 'enqueued',
        resources: [{ type: 'write', path: ['p', String(i % 7)] }],
        client_name: `worker-${i}`,
        connection: i,
        peer: '127.0.0.1:1',
        since_ms: 1000 * i,
        waits_for: i === 1 ? [] : [String(Math.max(1, i - 1 - (i % 3))), String(Math.floor(i / 2))]
          .filter((v, k, a) => a.indexOf(v) === k && Number(v) < i),
        waits_for_more: false,
      });
    }
    const page = await browser.newPage();
    await cannedLocks(page, JSON.stringify({ namespace: ns, live: 1500, more: true, locks }));
    const start = Date.now();
    await page.goto(`http://${server.base}/?namespace=${encodeURIComponent(ns)}`);
    await waitForPage(page, () => document.querySelectorAll('#locks-table tbody tr').length === 1000 &&
      document.querySelectorAll('#graph g.node').length === 1000, 'a thousand rows and nodes');
    const took = Date.now() - start;
    assert.ok(took < TIMEOUT, `rendered in ${took} ms`);
    const note = await page.$eval('#locks-note', (p) => p.textContent);
    assert.equal(note, '1500 live; 1000 listed, more not shown. The longest waits first, then the longest held.');
    // Polling the same answer again touches nothing.
    await page.evaluate(() => {
      window.mutations = 0;
      new MutationObserver((m) => { window.mutations += m.length; })
        .observe(document.getElementById('locks'), { subtree: true, childList: true, characterData: true, attributes: true });
    });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(await page.evaluate(() => window.mutations), 0);
    await page.close();
  });

  test('at 1280x800 eight locks fit above the fold, the longest waits first, nothing cut or wrapped', async () => {
    ns = uniqueNs('dash-fold');
    const client = await server.connect(ns, 'client=cron-acme-migrations-nightly');
    // A canned /locks_v1 answer: three holders (one abandoned) and five
    // waiters, with long paths, long client names and IPv6 peers.
    const lock = (id, state, since, client_name, peer, resources, waits = [], extra = {}) => ({
      id: String(id), state, resources, client_name, connection: 100 + id, peer, since_ms: since,
      waits_for: waits.map(String), waits_for_more: false, ...extra,
    });
    const acme = ['tenants', 'acme-corp', 'billing', 'invoices', '2026-11', 'ledger-reconciliation'];
    const locks = [
      lock(1, 'acquired', 3_725_000, 'cron-acme-migrations-nightly',
        '[2001:db8:85a3:8d3:1319:8a2e:370:7348]:51234', [w(...acme)]),
      lock(2, 'acquired', 48_000, 'catalog-indexer-eu-west-1', '203.0.113.254:61999',
        [r('tenants', 'acme-corp', 'catalog', 'products', 'by-region', 'eu-west-1')]),
      lock(3, 'acquired', 9_000, 'report-builder-7f9c2d', '[fd12:3456:789a:1::42]:40001',
        [w('tenants', 'globex', 'reports', 'quarterly', '2026-q3', 'rollup'),
          r('tenants', 'globex', 'reports', 'templates')], [], { abandoned: true, release_in_ms: 51_000 }),
      lock(4, 'enqueued', 5_000, 'cron-acme-migrations-weekly', '198.51.100.17:52011', [w(...acme)], [1]),
      lock(5, 'enqueued', 125_000, 'billing-api-7d9f8c6b5-x2k4q', '[2001:db8:0:42::1d]:33012',
        [r('tenants', 'acme-corp', 'billing', 'invoices')], [1]),
      lock(6, 'enqueued', 3_000, 'catalog-writer', '10.240.17.203:51234',
        [w('tenants', 'acme-corp', 'catalog', 'products', 'by-region', 'eu-west-1', 'sku-99812')], [2]),
      lock(7, 'enqueued', 61_000, 'cron-globex-quarterly-close', '[2001:db8:85a3::8a2e:370:7334]:60123',
        [w('tenants', 'globex', 'reports', 'quarterly', '2026-q3')], [3]),
      lock(8, 'enqueued', 250, 'billing-api-7d9f8c6b5-m8n3z', '198.51.100.23:49152',
        [w('tenants', 'acme-corp', 'billing')], [1, 4, 5]),
    ];
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await cannedLocks(page, JSON.stringify({ namespace: ns, live: 8, more: false, locks }));
    await page.goto(`http://${server.base}/?namespace=${encodeURIComponent(ns)}`);
    await waitForPage(page, () => document.querySelectorAll('#locks-table tbody tr').length === 8 &&
      document.querySelectorAll('#graph g.node').length === 8, 'eight rows and nodes');
    const seen = await page.evaluate(() => {
      // One client rect per line box a cell's text takes.
      const lines = (node) => {
        const range = document.createRange();
        range.selectNodeContents(node);
        return range.getClientRects().length;
      };
      const config = document.getElementById('config');
      return {
        scrollY: window.scrollY,
        width: window.innerWidth,
        height: window.innerHeight,
        rows: Array.from(document.querySelectorAll('#locks-table tbody tr')).map((tr) => ({
          id: tr.getAttribute('data-id'), bottom: tr.getBoundingClientRect().bottom,
        })),
        peers: Array.from(document.querySelectorAll('#locks-table td.peer')).map((td) => ({
          text: td.textContent, lines: lines(td), right: td.getBoundingClientRect().right,
        })),
        labels: Array.from(document.querySelectorAll('#graph g.node')).map((g) => ({
          id: g.getAttribute('data-id'),
          text: g.querySelector('text').textContent,
          length: g.querySelector('text').getComputedTextLength(),
          width: Number(g.querySelector('rect').getAttribute('width')),
        })),
        configOpen: config ? config.open : null,
        configTop: config ? config.getBoundingClientRect().top : null,
        namespacesTop: document.getElementById('namespaces').getBoundingClientRect().top,
      };
    });
    await page.screenshot({ path: screenshotPath('dashboard-fold.png') });
    assert.equal(seen.width, 1280);
    assert.equal(seen.height, 800);
    assert.equal(seen.scrollY, 0);
    for (const row of seen.rows) {
      assert.ok(row.bottom <= seen.height, `lock ${row.id} ends at ${row.bottom}, below the fold`);
    }
    for (const peer of seen.peers) {
      assert.equal(peer.lines, 1, `${peer.text} takes ${peer.lines} lines`);
      assert.ok(peer.right <= seen.width, `${peer.text} ends at ${peer.right}, off the page`);
    }
    assert.deepEqual(seen.peers.map((p) => p.text).sort(), locks.map((l) => l.peer).sort());
    for (const label of seen.labels) {
      const want = locks.find((l) => l.id === label.id);
      assert.equal(label.text, `${want.id} ${want.client_name}`);
      assert.ok(label.length + 4 <= label.width, `label ${label.text} overflows its box`);
    }
    // The waiters first, the longest wait first; then the holders, the
    // longest held first.
    assert.deepEqual(seen.rows.map((row) => row.id), ['5', '7', '4', '6', '8', '1', '2', '3']);
    assert.equal(seen.configOpen, false, 'the configuration is folded');
    assert.ok(seen.configTop > seen.namespacesTop, 'the configuration comes after the namespaces');
    await page.close();
    client.terminate();
  });

  test('works with scripts off: everything is in the HTML', async () => {
    await scene();
    const page = await browser.newPage();
    await page.setJavaScriptEnabled(false);
    await page.goto(`http://${server.base}/?filter=dash-&namespace=${encodeURIComponent(ns)}`);
    const names = await page.$$eval('#namespaces-table code', (cs) => cs.map((c) => c.textContent));
    assert.ok(names.includes(ns), `${ns} in ${names}`);
    assert.equal(await page.$eval('#filter', (i) => i.value), 'dash-');
    await page.close();
    const html = (await server.get(`/?namespace=${encodeURIComponent(ns)}`)).body;
    assert.match(html, /<noscript>|id="locks-table"|Namespace not open/);
    if (await hasInspector(server, ns)) {
      assert.match(html, /<tr data-id="3" class="enqueued">/);
      assert.match(html, /job-3/);
    }
  });
});

describe('dashboard with tokens', { skip: noBrowser || needsOwnServer('starts it with a token file') }, () => {
  const TOKEN = 'tok-dash-3e9a51c0';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locktopus-dash-'));
  let server;
  let browser;

  before(async () => {
    fs.writeFileSync(path.join(dir, 'tokens'), `${TOKEN}\n`);
    server = await startServer({ args: ['--auth-token-file', path.join(dir, 'tokens')] });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    server?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the page opened with ?token= loads, polls with the token, and links with it', async () => {
    const ns = uniqueNs('dash-auth');
    const c = await server.connect(ns, `token=${TOKEN}`);
    assert.equal((await server.get('/')).status, 401);
    assert.equal((await server.get('/namespaces_v1')).status, 401);
    assert.equal((await server.get('/dashboard.js')).status, 200, 'the static script holds no data');
    const page = await browser.newPage();
    const res = await page.goto(`http://${server.base}/?token=${TOKEN}`);
    assert.equal(res.status(), 200);
    await waitForPage(page, () => document.getElementById('live').textContent.startsWith('live'),
      'the script polls with the token');
    const href = await page.$eval('#namespaces-table a', (a) => a.getAttribute('href'));
    assert.ok(href.endsWith(`token=${TOKEN}`), href);
    await page.goto(`http://${server.base}${href}`);
    assert.match(await page.content(), new RegExp(`Locks of <code>${ns}</code>`));
    await page.close();
    c.terminate();
  });
});
