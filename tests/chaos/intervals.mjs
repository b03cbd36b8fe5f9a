// The resources the chaos clients lock, and the safety check over the
// intervals in which clients believed they held them.
//
// Resources come from a small universe so that conflicts are frequent: paths
// of depth 0 to 3 over the segments a, b, c (40 paths). A resource travels as
// one integer, path index * 2 + (1 if write).
//
// An interval is what one client saw of one lock: `a` is the moment it
// received `acquired` (process.hrtime.bigint(), CLOCK_MONOTONIC, comparable
// across processes on Linux), `r` the moment just before it sent `release`
// or killed its connection. The server's own hold of the lock contains that
// interval, so if the server is right, two intervals of conflicting locks in
// one namespace never overlap.
//
// A session client's lock may outlive a connection (a blip: the connection
// cut and resumed): it is still one interval, from `acquired` to the release
// after the resume, since the client holds it all along. The checker also
// counts lost locks: a client that resumed within its session's window and
// was told its lock was gone (close 4410, or `lock: none` for a lock the
// server had confirmed).

export const SEGMENTS = ['a', 'b', 'c'];
export const MAX_DEPTH = 3;

/** Every path of the universe; index 0 is the empty path. */
export const PATHS = (() => {
  const out = [[]];
  for (let i = 0; i < out.length; i += 1) {
    if (out[i].length < MAX_DEPTH) {
      for (const s of SEGMENTS) out.push([...out[i], s]);
    }
  }
  return out;
})();

const isPrefix = (p, q) => p.length <= q.length && p.every((s, i) => s === q[i]);

/** OVERLAP[i][j]: one of paths i, j is a prefix of the other. */
const OVERLAP = PATHS.map((p) => PATHS.map((q) => isPrefix(p, q) || isPrefix(q, p)));

export const encode = (type, pathIndex) => pathIndex * 2 + (type === 'write' ? 1 : 0);
export const decode = (code) => ({ type: code & 1 ? 'write' : 'read', path: PATHS[code >> 1] });

/** Two resources conflict: their paths overlap and at least one writes. */
export function resourcesConflict(x, y) {
  return ((x | y) & 1) === 1 && OVERLAP[x >> 1][y >> 1];
}

/** Two locks (arrays of resource codes) conflict. */
export function locksConflict(xs, ys) {
  for (const x of xs) {
    for (const y of ys) {
      if (resourcesConflict(x, y)) return true;
    }
  }
  return false;
}

/** A random lock: 1 to 3 resources, half reads, mostly deep paths. */
export function randomLock(random = Math.random) {
  const n = 1 + Math.floor(random() * 3);
  const codes = [];
  for (let i = 0; i < n; i += 1) {
    const u = random();
    // depth 0: 1 %, 1: 10 %, 2: 30 %, 3: 59 %
    const depth = u < 0.01 ? 0 : u < 0.11 ? 1 : u < 0.41 ? 2 : 3;
    const path = [];
    for (let d = 0; d < depth; d += 1) path.push(SEGMENTS[Math.floor(random() * SEGMENTS.length)]);
    const index = PATHS.findIndex((p) => p.length === path.length && isPrefix(p, path));
    codes.push(encode(random() < 0.5 ? 'read' : 'write', index));
  }
  return codes;
}

/** The lock message of resource codes. */
export function lockMessage(codes) {
  return JSON.stringify({ action: 'lock', resources: codes.map(decode) });
}

const describeLock = (codes) => codes
  .map((c) => `${c & 1 ? 'w' : 'r'}[${PATHS[c >> 1].join(',')}]`)
  .join(' ');

/**
 * Checks intervals as they arrive, in any order, given a watermark: a time
 * before which no interval can still start unreported. Sorted by start, each
 * interval is compared with those still open when it starts (a sweep), so
 * the cost is proportional to the intervals times the locks held at once.
 */
export class IntervalChecker {
  /** origin: the hrtime that printed times are relative to. */
  constructor({ origin = 0n, report = console.log, maxReports = 20 } = {}) {
    this.origin = origin;
    this.report = report;
    this.maxReports = maxReports;
    this.pending = [];
    this.active = []; // checked intervals that may still overlap later ones
    this.checked = 0;
    this.violations = 0;
    this.lost = 0;
    this.watermark = -1n;
  }

  /** iv: {ns, a, r, res, who, id} with a, r bigint hrtimes. */
  add(iv) {
    if (iv.a < this.watermark) {
      throw new Error(`interval ${this.describe(iv)} arrived after the watermark passed its start`);
    }
    this.pending.push(iv);
  }

  /** Checks every pending interval that starts before `watermark`. */
  advance(watermark) {
    if (watermark < this.watermark) throw new Error('watermark moved backwards');
    this.watermark = watermark;
    const ready = [];
    const later = [];
    for (const iv of this.pending) (iv.a < watermark ? ready : later).push(iv);
    this.pending = later;
    ready.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
    for (const x of ready) {
      this.active = this.active.filter((y) => y.r > x.a);
      for (const y of this.active) {
        if (y.ns === x.ns && locksConflict(y.res, x.res)) this.violation(y, x);
      }
      this.active.push(x);
      this.checked += 1;
    }
  }

  /** Checks everything still pending (no interval can arrive any more). */
  finish() {
    let last = this.watermark;
    for (const iv of this.pending) if (iv.r + 1n > last) last = iv.r + 1n;
    for (const iv of this.pending) if (iv.a + 1n > last) last = iv.a + 1n;
    this.advance(last);
  }

  violation(y, x) {
    this.violations += 1;
    if (this.violations <= this.maxReports) {
      this.report(`violation: conflicting locks held at once in namespace ${x.ns}:\n` +
        `  ${this.describe(y)}\n  ${this.describe(x)}`);
    }
  }

  /**
   * A lost lock: ev {ns, who, id, state, how, t}, where state is what the
   * client had (holding, enqueued, ...), how what it was told (4410 or none)
   * and t when.
   */
  lose(ev) {
    this.lost += 1;
    if (this.lost <= this.maxReports) {
      const ms = (Number(ev.t - this.origin) / 1e6).toFixed(3);
      this.report(`lost: ${ev.who} resumed its session in namespace ${ev.ns} within its window ` +
        `while ${ev.state}${ev.id ? ` (lock ${ev.id})` : ''} and was told ${ev.how} at ${ms} ms`);
    }
  }

  describe(iv) {
    const ms = (t) => (Number(t - this.origin) / 1e6).toFixed(3);
    return `${iv.who} lock ${iv.id} ${describeLock(iv.res)}: acquired at ${ms(iv.a)} ms, released at ${ms(iv.r)} ms`;
  }
}
