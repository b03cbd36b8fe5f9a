// The dashboard's script: keeps the server-rendered page at / live. Every
// second it asks /namespaces_v1 for the busiest namespaces (with the page's
// filter) and, when a namespace is chosen, /locks_v1 for its live locks;
// it updates the tables in place and draws the waits-for graph in SVG.
// Without it the page is the same, as rendered when loaded.
//
// Every value from the server is put in with textContent or setAttribute,
// never parsed as HTML. A token the page was opened with (?token=) is sent
// as an Authorization header, as the server accepts either.
'use strict';

(function () {
  const POLL_MS = 1000;
  const NAMESPACES_LIMIT = 20;
  const LOCKS_LIMIT = 1000;
  const BLOCKERS = 10;
  // Past this many locks the graph draws dots without labels (hover tells).
  const LABELLED_NODES = 150;
  // A node is as wide as its longest label needs (11px monospace: 0.6em a
  // character), within these bounds; a longer label is cut, and its node's
  // tooltip says it whole.
  const CHAR_PX = 6.7;
  const MIN_NODE_PX = 120;
  const MAX_NODE_PX = 360;
  // The order of the locks table, as the server renders it (dashboard.cc).
  const LOCKS_ORDER = 'The longest waits first, then the longest held.';
  // Edges drawn at most; a note says when some are left out.
  const MAX_EDGES = 5000;
  const SVG = 'http://www.w3.org/2000/svg';

  const params = new URLSearchParams(window.location.search);
  const token = params.get('token');
  const locksSection = document.getElementById('locks');
  const chosen = locksSection ? locksSection.getAttribute('data-namespace') || '' : '';
  const filterInput = document.getElementById('filter');
  const live = document.getElementById('live');
  let filter = params.get('filter') || '';

  function headers() {
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) for (const k of Object.keys(attrs)) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs)) node.setAttribute(k, attrs[k]);
    return node;
  }

  // The page's own URL with these parameters (token kept), for links.
  function pageLink(ns) {
    const q = new URLSearchParams();
    if (ns) q.set('namespace', ns);
    if (filter) q.set('filter', filter);
    if (token) q.set('token', token);
    const s = q.toString();
    return '/' + (s ? '?' + s : '');
  }

  // As the server writes them (dashboard.cc): 850ms, 12s, 3m 5s, 2h 10m.
  function duration(ms) {
    ms = Math.max(0, Math.floor(ms || 0));
    if (ms < 1000) return ms + 'ms';
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + (Math.floor(s / 60) % 60) + 'm';
  }

  // A path as locktopusctl writes it: a/b, %2F and %25 inside segments, / alone.
  function pathText(path) {
    if (!Array.isArray(path) || path.length === 0) return '/';
    return path.map((seg) => String(seg).replace(/%/g, '%25').replace(/\//g, '%2F')).join('/');
  }

  // A resource of /locks_v1: {"type":"write","path":[...]} as in a lock
  // message; ["write",[...]] is read too.
  function resourceText(r) {
    if (Array.isArray(r)) return String(r[0]) + ' ' + pathText(r[1]);
    if (r && typeof r === 'object') return String(r.type) + ' ' + pathText(r.path);
    return String(r);
  }

  async function getJson(url) {
    const res = await fetch(url, { headers: headers(), cache: 'no-store' });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = undefined;
    }
    return { status: res.status, text, body };
  }

  // ---- Namespaces ----------------------------------------------------

  let lastNamespaces = '';

  function renderNamespaces(answer) {
    if (answer.text === lastNamespaces) return;
    lastNamespaces = answer.text;
    const data = answer.body;
    const table = document.getElementById('namespaces-table');
    const counts = document.getElementById('namespaces-counts');
    const note = document.getElementById('namespaces-note');
    if (!table || !data || !Array.isArray(data.namespaces)) return;
    const tbody = el('tbody');
    for (const ns of data.namespaces) {
      const tr = el('tr');
      if (ns.name === chosen) tr.className = 'chosen';
      const td = el('td');
      const a = el('a', { href: pageLink(ns.name) });
      a.appendChild(el('code', null, ns.name));
      td.appendChild(a);
      tr.appendChild(td);
      tr.appendChild(el('td', null, String(ns.locks_acquired)));
      tr.appendChild(el('td', null, String(ns.locks_pending)));
      tbody.appendChild(tr);
    }
    table.replaceChild(tbody, table.tBodies[0]);
    if (counts) {
      counts.textContent = data.open + ' open now, ' + data.opened + ' opened since the start.';
    }
    if (note) {
      if (data.namespaces.length === 0) {
        note.textContent = filter ? 'No open namespace matches.' : 'No namespace is open.';
      } else {
        note.textContent = data.more ? 'The ' + data.namespaces.length + ' busiest; more match.' : '';
      }
    }
  }

  async function pollNamespaces() {
    const q = new URLSearchParams({ limit: String(NAMESPACES_LIMIT) });
    if (filter) q.set('filter', filter);
    const answer = await getJson('/namespaces_v1?' + q.toString());
    if (answer.status !== 200) throw new Error('/namespaces_v1: ' + answer.status + ' ' + answer.text);
    renderNamespaces(answer);
  }

  // ---- Locks table -----------------------------------------------------

  const rows = new Map(); // id -> {tr, cells, key}
  let lastLocks = '';

  function locksBody() {
    let table = document.getElementById('locks-table');
    if (!table) {
      const holder = document.getElementById('locks-body');
      holder.textContent = '';
      holder.appendChild(el('p', { id: 'locks-note', class: 'note' }));
      table = el('table', { id: 'locks-table', class: 'locks' });
      const head = el('tr');
      for (const h of ['id', 'state', 'resources', 'client', 'connection', 'peer', 'for', 'waits for']) {
        head.appendChild(el('th', null, h));
      }
      const thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      table.appendChild(el('tbody'));
      holder.appendChild(table);
    }
    return table.tBodies[0];
  }

  // The server-rendered rows become the first ones kept.
  function adoptRows() {
    const table = document.getElementById('locks-table');
    if (!table) return;
    for (const tr of Array.from(table.tBodies[0].rows)) {
      const id = tr.getAttribute('data-id');
      const cells = {};
      for (const td of Array.from(tr.cells)) cells[td.className] = td;
      rows.set(id, { tr, cells, key: '' });
    }
  }

  function cellValues(lock) {
    const since = (lock.state === 'acquired' ? 'held ' : 'waiting ') + duration(lock.since_ms) +
      (lock.abandoned ? '; abandoned, released in ' + duration(lock.release_in_ms) : '') +
      (lock.detached ? '; session detached, ends in ' + duration(lock.release_in_ms) + ' unless resumed' : '');
    const waits = (lock.waits_for || []).join(' ') + (lock.waits_for_more ? ' \u2026' : '');
    return {
      id: String(lock.id),
      state: String(lock.state),
      resources: (lock.resources || []).map(resourceText).join('\n'),
      client: lock.client_name === undefined ? '' : String(lock.client_name),
      conn: lock.connection === undefined ? '' : String(lock.connection),
      peer: lock.peer === undefined ? '' : String(lock.peer),
      since,
      waits,
    };
  }

  const COLUMNS = ['id', 'state', 'resources', 'client', 'conn', 'peer', 'since', 'waits'];

  function setResources(td, text) {
    td.textContent = '';
    text.split('\n').forEach((line, i) => {
      if (i > 0) td.appendChild(el('br'));
      td.appendChild(document.createTextNode(line));
    });
  }

  // Lock IDs are decimal strings of up to 64 bits: compared as BigInts.
  function byId(a, b) {
    const x = BigInt(a.id);
    const y = BigInt(b.id);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  // The waiting locks first, the longest wait first, then the held ones,
  // the longest held first; ties by ID (as dashboard.cc's ListedBefore).
  function listedBefore(a, b) {
    const aw = a.state === 'enqueued';
    const bw = b.state === 'enqueued';
    if (aw !== bw) return aw ? -1 : 1;
    const as = Number(a.since_ms) || 0;
    const bs = Number(b.since_ms) || 0;
    if (as !== bs) return bs - as;
    return byId(a, b);
  }

  function renderLocks(data) {
    const tbody = locksBody();
    const note = document.getElementById('locks-note');
    const locks = (Array.isArray(data.locks) ? data.locks : []).slice().sort(listedBefore);
    if (note) {
      note.textContent = data.live + ' live; ' + locks.length + ' listed' +
        (data.more ? ', more not shown' : '') + '.' + (locks.length ? ' ' + LOCKS_ORDER : '');
    }
    const seen = new Set();
    let previous = null;
    for (const lock of locks) {
      const id = String(lock.id);
      seen.add(id);
      const values = cellValues(lock);
      let row = rows.get(id);
      if (!row) {
        const tr = el('tr', { 'data-id': id });
        const cells = {};
        for (const c of COLUMNS) {
          cells[c] = el('td', { class: c });
          tr.appendChild(cells[c]);
        }
        row = { tr, cells, key: '' };
        rows.set(id, row);
      }
      // Only what changed is touched.
      const cls = values.state + (lock.abandoned ? ' abandoned' : '') + (lock.detached ? ' detached' : '');
      if (row.tr.className !== cls) row.tr.className = cls;
      for (const c of COLUMNS) {
        const cell = row.cells[c];
        if (!cell) continue;
        if (cell.getAttribute('data-v') === values[c]) continue;
        cell.setAttribute('data-v', values[c]);
        if (c === 'resources') setResources(cell, values[c]);
        else cell.textContent = values[c];
      }
      const want = previous ? previous.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      previous = row.tr;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
  }

  function notOpen(text) {
    rows.clear();
    const holder = document.getElementById('locks-body');
    holder.textContent = '';
    holder.appendChild(el('p', { id: 'locks-note', class: 'note' }, text));
    drawGraph([]);
  }

  // ---- Waits-for graph -------------------------------------------------

  let lastGraph = '';

  // Layers by chain depth: a lock that waits for nothing listed is at 0,
  // one that waits is one past the deepest lock it waits for. Blockers have
  // smaller IDs, so one pass in ID order settles every depth.
  function layers(locks) {
    const depth = new Map();
    const sorted = locks.slice().sort(byId);
    for (const lock of sorted) {
      let d = 0;
      for (const b of lock.waits_for || []) {
        const bd = depth.get(String(b));
        if (bd !== undefined && bd + 1 > d) d = bd + 1;
      }
      depth.set(String(lock.id), d);
    }
    const out = [];
    for (const lock of sorted) {
      const d = depth.get(String(lock.id));
      (out[d] = out[d] || []).push(lock);
    }
    return out;
  }

  function drawGraph(locks) {
    const holder = document.getElementById('graph');
    if (!holder) return;
    const key = JSON.stringify(locks.map((l) => [l.id, l.state, !!l.abandoned, !!l.detached, l.client_name || '', l.waits_for || []]));
    if (key === lastGraph) return;
    lastGraph = key;
    holder.textContent = '';
    if (locks.length === 0) return;

    const labelled = locks.length <= LABELLED_NODES;
    const label = (lock) => String(lock.id) + (lock.client_name ? ' ' + lock.client_name : '');
    const longest = labelled ? Math.max(...locks.map((l) => label(l).length)) : 0;
    // The text starts 4px in, and keeps 4px clear of the right edge.
    const nodeW = labelled
      ? Math.min(MAX_NODE_PX, Math.max(MIN_NODE_PX, Math.ceil(longest * CHAR_PX) + 8)) : 10;
    const fits = Math.floor((nodeW - 8) / CHAR_PX);
    const nodeH = labelled ? 20 : 10;
    const gapX = labelled ? 60 : 40;
    const gapY = labelled ? 8 : 4;
    // A layer taller than this many nodes wraps into more columns.
    const perColumn = labelled ? 40 : 60;
    const top = 18;
    const pos = new Map();
    let x = 8;
    let height = 0;
    const layerLabels = [];
    layers(locks).forEach((layer, d) => {
      if (!layer) return;
      layerLabels.push([x, d === 0 ? 'holding or first' : 'depth ' + d]);
      const columns = Math.ceil(layer.length / perColumn);
      // Odd layers sit lower, so that an edge skipping a layer (3 waits for
      // 2 and for 1, 2 for 1) passes above the node it skips, not through it.
      const stagger = (d % 2) * Math.round((nodeH + gapY) * 0.75);
      layer.forEach((lock, i) => {
        const col = Math.floor(i / perColumn);
        const row = i % perColumn;
        const nx = x + col * (nodeW + 6);
        const ny = top + stagger + row * (nodeH + gapY);
        pos.set(String(lock.id), { x: nx, y: ny, lock });
        height = Math.max(height, ny + nodeH);
      });
      x += columns * (nodeW + 6) - 6 + gapX;
    });
    const width = x - gapX + 8;
    const root = svg('svg', {
      width: String(width), height: String(height + 8),
      viewBox: '0 0 ' + width + ' ' + (height + 8), role: 'img',
      'aria-label': 'waits-for graph: each waiting lock points at the locks it waits for',
    });
    const defs = svg('defs', {});
    const marker = svg('marker', {
      id: 'arrow', viewBox: '0 0 6 6', refX: '6', refY: '3',
      markerWidth: '6', markerHeight: '6', orient: 'auto',
    });
    marker.appendChild(svg('path', { d: 'M0,0 L6,3 L0,6 z', fill: '#8a96a3' }));
    defs.appendChild(marker);
    root.appendChild(defs);
    for (const [lx, text] of layerLabels) {
      const t = svg('text', { x: String(lx), y: '12', class: 'layer' });
      t.textContent = text;
      root.appendChild(t);
    }

    const edges = svg('g', { class: 'edges' });
    let drawn = 0;
    let skipped = 0;
    for (const [id, p] of pos) {
      for (const b of p.lock.waits_for || []) {
        const q = pos.get(String(b));
        if (!q) continue;
        if (drawn >= MAX_EDGES) {
          skipped += 1;
          continue;
        }
        drawn += 1;
        // From the waiter's left edge to the blocker's right edge.
        const line = svg('line', {
          class: 'edge', 'data-from': id, 'data-to': String(b),
          x1: String(p.x), y1: String(p.y + nodeH / 2),
          x2: String(q.x + nodeW), y2: String(q.y + nodeH / 2),
        });
        if (labelled) line.setAttribute('marker-end', 'url(#arrow)');
        edges.appendChild(line);
      }
    }
    root.appendChild(edges);

    const nodes = svg('g', { class: 'nodes' });
    for (const [id, p] of pos) {
      const lock = p.lock;
      const g = svg('g', {
        class: 'node ' + lock.state + (lock.abandoned ? ' abandoned' : '') + (lock.detached ? ' detached' : ''),
        'data-id': id, transform: 'translate(' + p.x + ',' + p.y + ')',
      });
      const title = svg('title', {});
      title.textContent = 'lock ' + id + ' ' + lock.state +
        (lock.client_name ? ' (' + lock.client_name + ')' : '') + ': ' +
        (lock.resources || []).map(resourceText).join(', ') +
        ((lock.waits_for || []).length ? '; waits for ' + lock.waits_for.join(' ') : '');
      g.appendChild(title);
      if (labelled) {
        g.appendChild(svg('rect', { width: String(nodeW), height: String(nodeH), rx: '3' }));
        const t = svg('text', { x: '4', y: '14' });
        const text = label(lock);
        t.textContent = text.length > fits ? text.slice(0, fits - 1) + '\u2026' : text;
        g.appendChild(t);
      } else {
        g.appendChild(svg('circle', { cx: String(nodeW / 2), cy: String(nodeH / 2), r: String(nodeW / 2) }));
      }
      nodes.appendChild(g);
    }
    root.appendChild(nodes);
    holder.appendChild(root);
    if (skipped > 0) {
      holder.appendChild(el('p', { class: 'note' }, skipped + ' more edges not drawn.'));
    }
  }

  async function pollLocks() {
    const q = new URLSearchParams({
      namespace: chosen, limit: String(LOCKS_LIMIT), blockers: String(BLOCKERS),
    });
    const answer = await getJson('/locks_v1?' + q.toString());
    if (answer.status === 404) {
      lastLocks = '';
      notOpen('Namespace not open: no live lock and no client.');
      return;
    }
    if (answer.status !== 200 || !answer.body) {
      throw new Error('/locks_v1: ' + answer.status + ' ' + answer.text.slice(0, 200));
    }
    if (answer.text === lastLocks) return;
    lastLocks = answer.text;
    renderLocks(answer.body);
    drawGraph(Array.isArray(answer.body.locks) ? answer.body.locks : []);
  }

  // ---- Health and the loop ---------------------------------------------

  async function pollHealth() {
    const health = document.getElementById('health');
    if (!health) return;
    const res = await fetch('/readyz', { cache: 'no-store' });
    const text = (await res.text()).trim();
    const ok = res.status === 200;
    // 200: "serving", or "grace: N s left" after a takeover.
    const want = ok ? text : 'not taking clients (' + text + ')';
    if (health.textContent !== want) health.textContent = want;
    health.className = 'health ' + (ok ? 'ok' : 'bad');
  }

  let timer;
  let running = false;

  async function poll() {
    if (running) return;
    running = true;
    clearTimeout(timer);
    try {
      const work = [pollNamespaces(), pollHealth()];
      if (chosen) work.push(pollLocks());
      await Promise.all(work);
      live.className = 'live';
      live.textContent = 'live, updated ' + new Date().toLocaleTimeString();
    } catch (err) {
      live.className = 'live error';
      live.textContent = 'not updated: ' + err.message;
    } finally {
      running = false;
      timer = setTimeout(poll, POLL_MS);
    }
  }

  if (filterInput) {
    // The filter applies as it is typed; the form still works without us.
    let debounce;
    filterInput.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        filter = filterInput.value;
        const q = new URLSearchParams(window.location.search);
        if (filter) q.set('filter', filter);
        else q.delete('filter');
        const s = q.toString();
        window.history.replaceState(null, '', '/' + (s ? '?' + s : ''));
        lastNamespaces = '';
        poll();
      }, 250);
    });
  }

  adoptRows();
  poll();
})();
