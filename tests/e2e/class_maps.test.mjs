// Class-level explanations in the page: a confusion cell of the demo (T-shirts taken for
// shirts) explained with Saliency; every image's map arrives in the gallery in the order shown,
// then the mean map, which downloads equal to the independent reference
// (tests/fixtures/class_maps, made by make_class_maps.py: onnxruntime picks the images,
// onnx2torch + autograd explain each one, numpy averages them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES, withApp, openApp, waitForDemo, screenshot, readNpy } from './harness.mjs';

const app = withApp();
const DIR = join(FIXTURES, 'class_maps');
/** The page's paths are relative to the zip's top folder. */
const relative = (p) => p.split('/').slice(1).join('/');

test('a confusion cell explained: its maps one by one, and the mean map of the reference', { timeout: 600_000 }, async () => {
  const reference = JSON.parse(await readFile(join(DIR, 'class_maps.json'), 'utf8')).cell_0_as_6;
  const want = reference.paths.map(relative);
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=accuracy]');
  await page.waitForFunction(() => document.querySelector('#accuracy-total') && !document.querySelector('#progress'), null, { timeout: 120_000 });
  await page.click('#confusion td[data-true="0"][data-pred="6"]');
  await page.waitForSelector('#cell-images .thumb');
  assert.equal(await page.$$eval('#cell-images .thumb', (b) => b.length), want.length);

  await page.selectOption('#class-method', 'saliency');
  assert.equal(await page.textContent('#explain-selection'), `Explain all ${want.length}`);
  await page.click('#explain-selection');
  await page.waitForSelector('#class-maps[data-done="true"]', { timeout: 300_000 });

  const maps = await page.$$eval('#class-maps figure.class-map', (f) => f.map((x) => ({
    path: x.dataset.path, deletion: Number(x.dataset.deletion), insertion: Number(x.dataset.insertion),
  })));
  assert.deepEqual(maps.map((m) => m.path), want, 'every image, in the order shown');
  for (const m of maps) {
    assert.ok(m.deletion >= 0 && m.deletion <= 1 && m.insertion >= 0 && m.insertion <= 1, JSON.stringify(m));
  }
  // One class explained (Shirt), with the mean of the images' areas.
  const rows = await page.$$eval('#class-faithfulness tbody tr', (r) => r.map((x) => ({
    class: Number(x.dataset.class), images: Number(x.dataset.images), deletion: Number(x.dataset.deletion),
  })));
  assert.equal(rows.length, 1);
  assert.equal(rows[0].class, reference.target);
  assert.equal(rows[0].images, want.length);
  const meanDeletion = maps.reduce((a, m) => a + m.deletion, 0) / maps.length;
  assert.ok(Math.abs(rows[0].deletion - meanDeletion) < 1e-9, `${rows[0].deletion} vs ${meanDeletion}`);

  // The mean map downloads as .npy equal to numpy's mean of PyTorch's maps.
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#class-mean-npy')]);
  assert.equal(file.suggestedFilename(), 'class-mean.npy');
  const got = await readNpy(await file.path());
  const expected = await readNpy(join(DIR, 'cell_0_as_6.mean.npy'));
  assert.equal(got.length, expected.length);
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const diff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
  assert.ok(diff <= 1e-4 * scale, `the mean map differs by ${diff} (max ${scale})`);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await screenshot(page, 'class-maps.png');

  // A map opens its image in Predict & explain.
  await page.click(`#class-maps figure.class-map[data-path="${want[0]}"]`);
  await page.waitForFunction((name) => document.querySelector('#image-name')?.textContent?.includes(name), want[0].split('/').pop(), { timeout: 60_000 });
  await page.close();
});
