// What the test drivers (tests/chaos/chaos.mjs, tests/churn/churn.mjs,
// tests/failover/failover.mjs) share: their command line and their list of
// failed checks.

import { parseArgs } from 'node:util';

// Parses the command line against OPTIONS (node:util parseArgs) for the
// driver tests/NAME/NAME.mjs. --help prints every option, with the default
// of those that take a value, and exits. num(k) is option k as a number
// >= 0 (with integer, a whole number); otherwise the driver exits 2.
export function driverOptions(name, OPTIONS, { integer = false } = {}) {
  const { values: opt } = parseArgs({ options: OPTIONS });
  if (opt.help) {
    console.log(`usage: node tests/${name}/${name}.mjs [options]\n${Object.entries(OPTIONS)
      .map(([k, v]) => `  --${k}${v.type === 'string' ? ` (default ${v.default || '""'})` : ''}`).join('\n')}`);
    process.exit(0);
  }
  const num = (k) => {
    const v = Number(opt[k]);
    if (!(integer ? Number.isInteger(v) : Number.isFinite(v)) || v < 0) {
      console.error(`${name}: --${k} must be ${integer ? 'an integer' : 'a number'} >= 0`);
      process.exit(2);
    }
    return v;
  };
  return { opt, num };
}

// The failed checks of a run: fail(what) prints `FAIL: what` at once and
// keeps it in failures for the summary.
export function failureList() {
  const failures = [];
  const fail = (what) => {
    failures.push(what);
    console.log(`FAIL: ${what}`);
  };
  return { failures, fail };
}
