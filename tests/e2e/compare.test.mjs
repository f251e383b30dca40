// Two models side by side on the demo: the demo's network (A) and its second model (B, the
// oracle kit's SmallCNN). The accuracies, the disagreement table, McNemar's p and the
// per-class accuracies equal the independent reference (tests/fixtures/compare, made by
// make_compare.py with onnxruntime, numpy and statsmodels); a cell opens its images, and an
// image opened from there shows both models' predictions and maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES, withApp, openApp, waitForDemo, screenshot, readTop5 } from './harness.mjs';

const app = withApp();
/** The page's paths are relative to the zip's top folder. */
const relative = (p) => p.split('/').slice(1).join('/');

test('a second model compares as the reference says, and its predictions and maps show beside the first', { timeout: 600_000 }, async () => {
  const reference = JSON.parse(await readFile(join(FIXTURES, 'compare/compare.json'), 'utf8'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=compare]');
  await page.click('#use-demo-second');
  await page.waitForSelector('#compare-accuracy', { timeout: 180_000 });
  assert.match(await page.textContent('#second-summary'), /smallcnn-fashion\.onnx/);

  const accuracy = await page.$eval('#compare-accuracy', (e) => [Number(e.dataset.a), Number(e.dataset.b)]);
  assert.deepEqual(accuracy, [reference.accuracy_a, reference.accuracy_b]);
  const table = await page.$$eval('#disagreement td[data-cell]', (tds) => Object.fromEntries(tds.map((td) => [td.dataset.cell, Number(td.dataset.count)])));
  assert.deepEqual(table, reference.table);
  const p = await page.$eval('#mcnemar', (e) => Number(e.dataset.p));
  assert.ok(Math.abs(p - reference.mcnemar_p) <= 1e-9 * reference.mcnemar_p, `McNemar p ${p} vs ${reference.mcnemar_p}`);
  const perClass = await page.$$eval('#compare-per-class tbody tr', (rows) => rows.map((r) => [Number(r.dataset.a), Number(r.dataset.b)]));
  assert.equal(perClass.length, reference.per_class.length);
  for (const [k, [a, b]] of perClass.entries()) {
    assert.ok(Math.abs(a - reference.per_class[k][0]) < 1e-12 && Math.abs(b - reference.per_class[k][1]) < 1e-12, `class ${k}: ${a}, ${b} vs ${reference.per_class[k]}`);
  }

  // "Only B right" opens exactly those images, in set order.
  const onlyB = Object.entries(reference.files)
    .filter(([, [label, a, b]]) => b === label && a !== label)
    .map(([path]) => relative(path));
  await page.click('#disagreement td[data-cell=only_b]');
  await page.waitForSelector('#compare-images .thumb');
  assert.deepEqual(await page.$$eval('#compare-images .thumb', (b) => b.map((x) => x.dataset.path)), onlyB);
  await page.waitForFunction(() => [...document.querySelectorAll('#compare-images img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 });
  await screenshot(page, 'compare.png');

  // An image of it: A's and B's top classes as the reference has them, and both models' maps.
  const path = onlyB[0];
  const [, predA, predB] = reference.files[`fashion-mnist-sample/${path}`];
  await page.click(`#compare-images .thumb[data-path="${path}"]`);
  await page.waitForFunction((name) => document.querySelector('#image-name')?.textContent?.includes(name)
    && document.querySelectorAll('#top5-b li.bar').length === 5, path.split('/').pop(), { timeout: 60_000 });
  assert.equal((await readTop5(page))[0].cls, predA);
  assert.equal(await page.$eval('#top5-b li.bar', (li) => Number(li.dataset.class)), predB);
  for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
    const want = (await box.getAttribute('value')) === 'gradcam';
    if ((await box.isChecked()) !== want) await box.click();
  }
  await page.click('#explain-run');
  await page.waitForFunction(() => document.querySelectorAll('#explanations figure').length === 1
    && document.querySelectorAll('#explanations-b figure').length === 1, null, { timeout: 120_000 });
  const methods = await page.$$eval('#explanations figure, #explanations-b figure', (f) => f.map((x) => x.dataset.method));
  assert.deepEqual(methods, ['gradcam', 'gradcam']);
  await page.close();
});
