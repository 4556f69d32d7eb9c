// Reading an .xlsx back in the API tests: the ZIP's central directory
// and the first worksheet's cells (shared or inline strings, numbers), with
// node's zlib only, so that an export is checked as Excel would read it.
import { inflateRawSync } from 'node:zlib';
import { assert } from '../lib/harness.mjs';

// The files of a ZIP: the central directory gives each entry's local
// header, whose data is inflated (method 8) or stored (method 0).
export function unzip(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert(eocd >= 0, 'a ZIP end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const files = {};
  for (let k = 0; k < count; k++) {
    assert(buf.readUInt32LE(p) === 0x02014b50, 'a central directory entry');
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    assert(buf.readUInt32LE(local) === 0x04034b50, `a local file header for ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + size);
    files[name] = (method === 8 ? inflateRawSync(raw) : raw).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

const unxml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(+n)).replace(/&amp;/g, '&');

// The first worksheet as rows of cell texts.
export function readSheet(buf) {
  const files = unzip(buf);
  assert(files['xl/worksheets/sheet1.xml'], `a first worksheet among ${Object.keys(files)}`);
  const shared = [];
  for (const m of (files['xl/sharedStrings.xml'] || '').matchAll(/<si>([\s\S]*?)<\/si>/g)) {
    shared.push(unxml([...m[1].matchAll(/<t[^>]*>([\s\S]*?)<\/t>/g)].map((t) => t[1]).join('')));
  }
  const rows = [];
  for (const row of files['xl/worksheets/sheet1.xml'].matchAll(/<row\b[^>]*>([\s\S]*?)<\/row>/g)) {
    const cells = [];
    for (const c of row[1].matchAll(/<c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
      const ref = /r="([A-Z]+)\d+"/.exec(c[1])[1];
      const col = [...ref].reduce((n, ch) => n * 26 + ch.charCodeAt(0) - 64, 0) - 1;
      const type = (/t="(\w+)"/.exec(c[1]) || [])[1];
      const v = (/<v>([\s\S]*?)<\/v>/.exec(c[2] || '') || [])[1];
      let text = '';
      if (type === 's') text = shared[+v];
      else if (type === 'inlineStr') text = unxml([...(c[2] || '').matchAll(/<t[^>]*>([\s\S]*?)<\/t>/g)].map((t) => t[1]).join(''));
      else if (v !== undefined) text = unxml(v);
      cells[col] = text;
    }
    rows.push(Array.from(cells, (x) => x ?? ''));
  }
  return rows;
}

