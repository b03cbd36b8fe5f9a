#!/usr/bin/env node
// Checks the links of the Markdown documents: README.md, docs/**/*.md and
// every other tracked-looking *.md outside build trees and node_modules.
// A relative link must name a file or directory inside the repository, and
// its #anchor a heading of that document (as GitHub spells anchors); a bare
// #anchor a heading of the document itself. Absolute paths, paths that leave
// the repository and schemes other than http(s) fail; http(s) URLs pass
// unfetched, so the check needs no network.
//
//   node scripts/check_links.mjs [ROOT]      (ROOT: the repository, default ..)
//
// Prints one line per broken link (file:line: target: why) and exits 1 if
// there is any, else prints how many links it checked and exits 0.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(
  process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const skipped = new Set(['.git', 'build', 'node_modules']);

function markdownFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (skipped.has(entry.name) || entry.name.startsWith('build-')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...markdownFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.md')) found.push(full);
  }
  return found;
}

// The text outside fenced code blocks, with inline code spans blanked out
// (their length kept, newlines kept), so that neither yields links.
function prose(text) {
  const lines = text.split('\n');
  let fence = null;
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^ {0,3}(`{3,}|~{3,})/);
    if (fence) {
      if (open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = null;
      lines[i] = '';
    } else if (open) {
      fence = open[1];
      lines[i] = '';
    }
  }
  return lines.join('\n').replace(/(`+)([\s\S]*?[^`])\1(?!`)/g,
    (span) => span.replace(/[^\n]/g, ' '));
}

// GitHub's anchor of a heading: the text without markup, lower case, with
// everything but letters, digits, spaces, hyphens and underscores dropped
// and spaces turned into hyphens; repeats get -1, -2, ...
function anchors(text) {
  const seen = new Map();
  const result = new Set();
  let fence = null;
  for (const line of text.split('\n')) {
    const open = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (fence) {
      if (open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = null;
      continue;
    }
    if (open) { fence = open[1]; continue; }
    const heading = line.match(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const base = heading[1]
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/<[^>]+>/g, '')
        .replace(/[`*]/g, '')
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-');
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      result.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) result.add(m[1]);
  }
  return result;
}

const anchorCache = new Map();
function anchorsOf(file) {
  if (!anchorCache.has(file)) anchorCache.set(file, anchors(fs.readFileSync(file, 'utf8')));
  return anchorCache.get(file);
}

function check(file, target) {
  if (/^https?:\/\//i.test(target)) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return 'a scheme other than http(s)';
  const [rawPath, anchor] = target.split('#', 2);
  let where = file;
  if (rawPath !== '') {
    if (rawPath.startsWith('/')) return 'an absolute path';
    where = path.resolve(path.dirname(file), decodeURIComponent(rawPath));
    const inside = path.relative(root, where);
    if (inside.startsWith('..') || path.isAbsolute(inside)) return 'outside the repository';
    if (!fs.existsSync(where)) return 'no such file';
  }
  if (anchor !== undefined) {
    if (!where.endsWith('.md') || !fs.statSync(where).isFile()) return 'an anchor into a file that is not Markdown';
    if (!anchorsOf(where).has(decodeURIComponent(anchor))) return `no heading #${anchor}`;
  }
  return null;
}

let checked = 0;
const broken = [];
for (const file of markdownFiles(root).sort()) {
  const text = prose(fs.readFileSync(file, 'utf8'));
  const lineOf = (index) => text.slice(0, index).split('\n').length;
  const links = [
    // [text](target) and ![alt](target), the text possibly over several lines
    ...[...text.matchAll(/!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
      .map((m) => [m.index, m[1]]),
    // [label]: target
    ...[...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => [m.index, m[1]]),
    // <http://...> and <a href="...">
    ...[...text.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]+)>/gi)].map((m) => [m.index, m[1]]),
    ...[...text.matchAll(/<a\s[^>]*href="([^"]+)"/gi)].map((m) => [m.index, m[1]]),
  ];
  for (const [index, target] of links) {
    checked++;
    const why = check(file, target);
    if (why) broken.push(`${path.relative(root, file)}:${lineOf(index)}: ${target}: ${why}`);
  }
}

for (const line of broken) console.log(line);
if (broken.length) {
  console.log(`check_links: ${broken.length} broken of ${checked} links`);
  process.exit(1);
}
console.log(`check_links: ${checked} links, all resolve`);
