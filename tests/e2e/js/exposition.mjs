// A strict checker of Prometheus's text exposition format (version 0.0.4),
// for the end-to-end tests of /metrics. It accepts less than Prometheus
// does: every family must have one HELP and one TYPE line before its
// samples, and no other comments are allowed.
//
// parseExposition(bytes) returns a Map of family name -> {name, type, help,
// samples: [{name, labels: {..}, value}]} and throws an Error naming the
// line on the first violation of:
//   - the text is UTF-8 and ends with a line feed; no empty lines;
//   - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//     [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; no label twice;
//   - label values are quoted, escaping only \\, \" and \n;
//   - values are Go floats (digits, +Inf, -Inf, NaN); an optional
//     timestamp is an integer;
//   - HELP and TYPE once per family, TYPE before its samples, a family's
//     lines contiguous, no series (name and labels) twice;
//   - counters are named *_total, their one series name is the family's,
//     and values are >= 0; gauges have only the family's name;
//   - histograms: per label set, *_bucket series with le values strictly
//     increasing and ending at +Inf, counts non-decreasing, the +Inf bucket
//     equal to *_count, and a *_sum; no `le` outside *_bucket.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text, where) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!FLOAT.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` at text[0] == '{'; returns [labels, rest]. */
function parseLabels(text, where) {
  const labels = {};
  let i = 1;
  for (;;) {
    if (text[i] === '}') return [labels, text.slice(i + 1)];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    }
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name} value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      if (j >= text.length) throw new Error(`${where}: unterminated value of label ${name}`);
      const c = text[j];
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\' || next === '"') value += next;
        else if (next === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${next ?? ''} in label ${name}`);
        j += 2;
      } else {
        value += c;
        j += 1;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') {
      i += 1;
      if (text[i] === '}') return [labels, text.slice(i + 1)]; // trailing comma
    } else if (text[i] !== '}') {
      throw new Error(`${where}: expected ',' or '}' after label ${name}`);
    }
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name, families) {
  if (families.has(name)) return families.get(name);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const family = families.get(name.slice(0, -suffix.length));
      if (family && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) {
        return family;
      }
    }
  }
  return undefined;
}

const labelKey = (labels, without) => JSON.stringify(
  Object.keys(labels).filter((k) => k !== without).sort().map((k) => [k, labels[k]]),
);

function checkHistogram(family) {
  const groups = new Map(); // label set without le -> {buckets, sum, count}
  for (const s of family.samples) {
    const key = labelKey(s.labels, 'le');
    if (!groups.has(key)) groups.set(key, { buckets: [], sum: undefined, count: undefined });
    const g = groups.get(key);
    if (s.name === `${family.name}_bucket`) {
      if (!Object.hasOwn(s.labels, 'le')) throw new Error(`${family.name}: a bucket without le`);
      g.buckets.push([parseValue(s.labels.le, `${family.name} le`), s.value]);
    } else if (Object.hasOwn(s.labels, 'le')) {
      throw new Error(`${family.name}: le on ${s.name}`);
    } else if (s.name === `${family.name}_sum`) {
      g.sum = s.value;
    } else if (s.name === `${family.name}_count`) {
      g.count = s.value;
    } else {
      throw new Error(`${family.name}: unexpected series ${s.name}`);
    }
  }
  if (groups.size === 0) throw new Error(`${family.name}: a histogram without series`);
  for (const [key, g] of groups) {
    const where = `${family.name}${key}`;
    if (g.buckets.length === 0) throw new Error(`${where}: no buckets`);
    for (let i = 1; i < g.buckets.length; i += 1) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${where}: le not strictly increasing at ${g.buckets[i][0]}`);
      if (g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${where}: bucket counts decrease at le=${g.buckets[i][0]}`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last[0] !== Infinity) throw new Error(`${where}: the last bucket is not le="+Inf"`);
    if (g.count === undefined) throw new Error(`${where}: no _count`);
    if (g.sum === undefined) throw new Error(`${where}: no _sum`);
    if (last[1] !== g.count) throw new Error(`${where}: +Inf bucket ${last[1]} != _count ${g.count}`);
    if (!Number.isInteger(g.count) || g.count < 0) throw new Error(`${where}: _count ${g.count} is not a count`);
  }
}

export function parseExposition(bytes) {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buffer);
  } catch {
    throw new Error('the exposition is not valid UTF-8');
  }
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  const families = new Map();
  const finished = new Set(); // families whose lines have ended
  const series = new Set();
  let current; // the family of the previous line
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    if (line === '') throw new Error(`${where}: empty line`);
    const enter = (family) => {
      if (current !== family) {
        if (current) finished.add(current.name);
        if (finished.has(family.name)) throw new Error(`${where}: the lines of ${family.name} are not contiguous`);
        current = family;
      }
    };
    if (line.startsWith('#')) {
      const m = line.match(/^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/);
      if (!m) throw new Error(`${where}: a comment other than HELP or TYPE`);
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (!families.has(name)) families.set(name, { name, type: undefined, help: undefined, samples: [] });
      const family = families.get(name);
      enter(family);
      if (kind === 'HELP') {
        if (family.help !== undefined) throw new Error(`${where}: HELP twice`);
        if (/\\(?![\\n])/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        family.help = rest;
      } else {
        if (family.type !== undefined) throw new Error(`${where}: TYPE twice`);
        if (family.samples.length) throw new Error(`${where}: TYPE after samples`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`);
        family.type = rest;
      }
      return;
    }
    const m = line.match(/^([^ {]+)(.*)$/);
    const name = m[1];
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
    let labels = {};
    let rest = m[2];
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest, where);
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw new Error(`${where}: expected ' value [timestamp]'`);
    const value = parseValue(parts[1], where);
    if (parts.length === 3 && !/^-?\d+$/.test(parts[2])) throw new Error(`${where}: bad timestamp`);
    const family = familyOf(name, families);
    if (!family || family.type === undefined) throw new Error(`${where}: a sample without a TYPE line before it`);
    if (family.help === undefined) throw new Error(`${where}: a sample without a HELP line before it`);
    enter(family);
    const key = name + labelKey(labels);
    if (series.has(key)) throw new Error(`${where}: the series ${key} twice`);
    series.add(key);
    if ((family.type === 'counter' || family.type === 'gauge') && name !== family.name) {
      throw new Error(`${where}: a ${family.type} series named other than its family`);
    }
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a negative counter`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) {
    if (family.type === undefined) throw new Error(`${family.name}: HELP without TYPE`);
    if (family.help === undefined) throw new Error(`${family.name}: TYPE without HELP`);
    if (family.type === 'counter' && !family.name.endsWith('_total')) throw new Error(`${family.name}: a counter not named *_total`);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

/**
 * The value of one series: `name` with exactly `labels`; throws if absent.
 */
export function valueOf(families, name, labels = {}) {
  const want = labelKey(labels);
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && labelKey(s.labels) === want) return s.value;
    }
  }
  throw new Error(`no series ${name}${want}`);
}
