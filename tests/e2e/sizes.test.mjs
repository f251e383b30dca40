// What a visitor downloads: every file of the release build but the demo, raw, gzip and brotli
// (quality 9) as a static host sends them, written to out/sizes.json and printed as README's
// table. The page's wasm must stay free of the engine: it links `explain-core` without its
// `engine` feature, and one engine type named by the page would bring Burn's whole compute IR
// back (5.1 MB raw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { DIST, writeOut } from './harness.mjs';

async function files(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await files(path));
    else out.push(path);
  }
  return out;
}

const MB = 1e6;

test('the app\'s files: sizes raw, gzip and brotli; the page\'s wasm holds no engine', async () => {
  const rows = [];
  for (const path of (await files(DIST)).sort()) {
    const name = relative(DIST, path);
    if (name.startsWith('demo/')) continue;
    const bytes = await readFile(path);
    rows.push({
      file: name,
      raw: bytes.length,
      gzip: gzipSync(bytes, { level: 9 }).length,
      // Quality 9: 7 s for all; 11 (a host that precompresses) is 12 % smaller and takes 70 s.
      brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_LGWIN]: 24 } }).length,
    });
  }
  const total = rows.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  await writeOut('sizes.json', `${JSON.stringify({ files: rows, total }, null, 2)}\n`);
  const fmt = (n) => (n / MB).toFixed(2);
  const table = rows.filter((r) => r.raw > 20_000)
    .map((r) => `| ${r.file.replace(/-[0-9a-f]{16}/, '')} | ${fmt(r.raw)} | ${fmt(r.gzip)} | ${fmt(r.brotli)} |`);
  console.log(['| file | raw MB | gzip MB | brotli MB |', '|---|---:|---:|---:|', ...table,
    `| all ${rows.length} files | ${fmt(total.raw)} | ${fmt(total.gzip)} | ${fmt(total.brotli)} |`].join('\n'));

  const page = rows.find((r) => /^unpic-app-.*_bg\.wasm$/.test(r.file));
  assert.ok(page, 'the page\'s wasm is in dist/');
  assert.ok(page.raw < 2 * MB, `the page's wasm is ${fmt(page.raw)} MB: has an engine type crept into it?`);
});
