// The dashboard at / in a real browser: Debian's chromium, headless, driven
// by puppeteer-core (no browser download). The page lists the namespaces
// and filters them live, shows a chosen namespace's locks and their
// waits-for graph and follows a release, renders a thousand locks, works
// with scripts off, and with a token given as ?token=. A screenshot goes to
// the build directory (dashboard.png) for a human to look at.
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

// The build directory: the binary is its bin/locktopus.
function screenshotPath() {
  return path.join(path.dirname(path.dirname(serverBinary())), 'dashboard.png');
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
    const body = JSON.stringify({ namespace: ns, live: 1500, more: true, locks });
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/locks_v1') {
        req.respond({ status: 200, contentType: 'application/json', body });
      } else {
        req.continue();
      }
    });
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
