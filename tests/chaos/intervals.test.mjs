// The chaos driver's safety check (intervals.mjs) on hand-made intervals: it
// must report exactly the overlapping intervals of conflicting locks in one
// namespace, whatever order they arrive in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntervalChecker, PATHS, encode, locksConflict, randomLock } from './intervals.mjs';

const at = (...p) => PATHS.findIndex((q) => q.length === p.length && q.every((s, i) => s === p[i]));
const W = (...p) => encode('write', at(...p));
const R = (...p) => encode('read', at(...p));
let n = 0;
const iv = (ns, a, r, res) => ({ ns, a: BigInt(a), r: BigInt(r), res, who: 'test', id: String(++n) });

function violations(intervals, marks = []) {
  const c = new IntervalChecker({ report: () => {} });
  for (const x of intervals) c.add(x);
  for (const m of marks) c.advance(BigInt(m));
  c.finish();
  return c.violations;
}

test('the universe: 40 paths of depth 0 to 3 over a, b, c', () => {
  assert.equal(PATHS.length, 40);
  assert.deepEqual(PATHS[0], []);
  for (let i = 0; i < 1000; i += 1) {
    const lock = randomLock();
    assert.ok(lock.length >= 1 && lock.length <= 3);
    for (const code of lock) assert.ok(code >= 0 && code < 80);
  }
});

test('conflicts: overlapping paths with a write', () => {
  assert.ok(locksConflict([W('a')], [R('a', 'b', 'c')]));
  assert.ok(locksConflict([R('a', 'b')], [W()]));
  assert.ok(locksConflict([R('c'), W('a', 'b')], [W('a', 'b')]));
  assert.ok(!locksConflict([R('a')], [R('a')]));
  assert.ok(!locksConflict([W('a', 'b')], [W('a', 'c')]));
  assert.ok(!locksConflict([W('a', 'b', 'c')], [R('b')]));
});

test('overlapping conflicting intervals are a violation, in either order of arrival', () => {
  assert.equal(violations([iv('x', 10, 20, [W('a')]), iv('x', 15, 30, [R('a', 'b')])]), 1);
  assert.equal(violations([iv('x', 15, 30, [R('a', 'b')]), iv('x', 10, 20, [W('a')])]), 1);
  // one long interval against two later ones
  assert.equal(violations([iv('x', 0, 100, [W()]), iv('x', 10, 20, [R('b')]), iv('x', 50, 60, [W('c')])]), 2);
});

test('no violation: other namespace, readers only, disjoint paths, or one after the other', () => {
  assert.equal(violations([iv('x', 10, 20, [W('a')]), iv('y', 15, 30, [W('a')])]), 0);
  assert.equal(violations([iv('x', 10, 20, [R('a')]), iv('x', 15, 30, [R('a', 'b')])]), 0);
  assert.equal(violations([iv('x', 10, 20, [W('a', 'b')]), iv('x', 15, 30, [W('a', 'c')])]), 0);
  assert.equal(violations([iv('x', 10, 20, [W('a')]), iv('x', 20, 30, [W('a')]), iv('x', 31, 40, [W('a')])]), 0);
});

test('intervals checked in several steps as the watermark advances', () => {
  const c = new IntervalChecker({ report: () => {} });
  c.add(iv('x', 10, 50, [W('a', 'b')]));
  c.advance(12n);
  assert.equal(c.checked, 1);
  c.add(iv('x', 40, 60, [R('a')])); // overlaps the first, arrives later
  c.add(iv('x', 70, 80, [W('a')]));
  c.advance(45n);
  assert.equal(c.violations, 1);
  c.finish();
  assert.deepEqual([c.checked, c.violations], [3, 1]);
  assert.throws(() => c.add(iv('x', 20, 90, [W()])), /after the watermark/);
});

test('a lock held across a blip is one interval: a grant to another client during the blip is a violation', () => {
  // Acquired at 10, the relay cut at 30, resumed at 60 (still acquired),
  // released at 90: one interval 10..90.
  assert.equal(violations([iv('x', 10, 90, [W('a')]), iv('x', 40, 50, [R('a', 'b')])]), 1);
  assert.equal(violations([iv('x', 10, 90, [W('a')]), iv('x', 90, 95, [R('a', 'b')])]), 0);
});

test('lost locks are counted and reported', () => {
  const reports = [];
  const c = new IntervalChecker({ report: (s) => reports.push(s) });
  assert.equal(c.lost, 0);
  c.lose({ ns: 'x', who: 'w0/s75/1', id: '17', state: 'holding', how: 'none', t: 5_000_000n });
  c.lose({ ns: 'x', who: 'w0/s76/1', id: null, state: 'ready', how: '4410', t: 6_000_000n });
  assert.equal(c.lost, 2);
  assert.match(reports[0], /w0\/s75\/1 .* while holding \(lock 17\) and was told none at 5\.000 ms/);
  assert.match(reports[1], /while ready and was told 4410/);
});
