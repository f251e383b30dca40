// Label-issue hints in the page, on a set with planted mistakes (tests/fixtures/label_issues:
// 100 demo images, 3 in wrong class folders, 2 exact copies and a brightened copy; the
// reference made by make_label_issues.py with onnxruntime and numpy). The confidently wrong
// images open ranked as the reference ranks them, the three planted ones first; the
// near-duplicate search finds the three planted pairs; an image of either opens in Predict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES, withApp, openApp, waitForDemo, screenshot } from './harness.mjs';

const app = withApp();
const SET = join(FIXTURES, 'label_issues');
/** The page's paths are relative to the zip's top folder. */
const relative = (p) => p.replace(/^planted\//, '');

test('confidently wrong images and near-duplicates are found as the reference finds them', { timeout: 600_000 }, async () => {
  const reference = JSON.parse(await readFile(join(SET, 'reference.json'), 'utf8'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=data]');
  await page.setInputFiles('#dataset-zip', join(SET, 'planted.zip'));
  await page.waitForFunction(() => /106 images in 10 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''), null, { timeout: 120_000 });
  await page.click('[data-view=accuracy]');
  await page.waitForFunction(() => document.querySelector('#accuracy-total')
    && document.querySelector('#dataset-summary') && !document.querySelector('#progress'), null, { timeout: 120_000 });
  await page.click('#label-issues summary');

  // Confidently wrong: the gallery in the reference's order.
  await page.click('#show-confidently-wrong');
  await page.waitForSelector('#cell-images .thumb');
  const shown = await page.$$eval('#cell-images .thumb', (b) => b.map((x) => x.dataset.path));
  assert.deepEqual(shown, reference.confidently_wrong.map(([path]) => relative(path)));
  for (const planted of reference.planted.wrong) {
    assert.ok(shown.slice(0, 3).includes(relative(planted)), `${planted} leads the list: ${shown.slice(0, 3)}`);
  }

  // Near-duplicates: the planted pairs, most similar first.
  await page.click('#find-duplicates');
  await page.waitForSelector('#near-duplicates', { timeout: 120_000 });
  const pairs = await page.$$eval('#near-duplicates li.pair', (lis) => lis.map((li) => [li.dataset.a, li.dataset.b, Number(li.dataset.similarity)]));
  assert.deepEqual(pairs.map(([a, b]) => [a, b]), reference.near_duplicates.map(([a, b]) => [relative(a), relative(b)]));
  for (const [i, [, , s]] of pairs.entries()) {
    assert.ok(Math.abs(s - reference.near_duplicates[i][2]) < 1e-4, `pair ${i}: ${s} vs ${reference.near_duplicates[i][2]}`);
  }
  await page.waitForFunction(() => [...document.querySelectorAll('#near-duplicates img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 });
  await screenshot(page, 'label-issues.png');

  // An image of a pair opens in Predict & explain.
  await page.click(`#near-duplicates li.pair button[data-path="${pairs[0][1]}"]`);
  await page.waitForFunction((name) => document.querySelector('#image-name')?.textContent?.includes(name), pairs[0][1].split('/').pop(), { timeout: 60_000 });
  await page.close();
});
