// "Can I trust this map?" in the page: on the oracle's Fashion-MNIST network and its T-shirt,
// the deletion and insertion curves are drawn on every card (as `unpic explain --faithfulness`
// computes them), and the sanity check scrambles the model from the top layer down, showing each
// step's map, the similarity curve and a verdict — the same numbers as `unpic sanity`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  FIXTURES, withApp, openApp, openOracleFashion, screenshot, cargoBinary, explain, waitForDemo,
  predictImage,
} from './harness.mjs';

const CASE = join(FIXTURES, 'oracle/cases/fashion_tshirt');
const MODEL = join(FIXTURES, 'oracle/models/smallcnn_fashion.onnx');
const app = withApp();

function unpic(args) {
  return JSON.parse(execFileSync(cargoBinary('unpic'), args, { stdio: ['ignore', 'pipe', 'ignore'] }));
}

test('the curves behind the scores, and the randomisation check with its verdict', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await openOracleFashion(page);

  // Each card draws its deletion and insertion curves: 21 points each, the CLI's values.
  const maps = await explain(page, ['gradcam', 'saliency']);
  assert.ok(maps.gradcam.deletion < maps.gradcam.insertion);
  const cli = unpic(['explain', '--model', MODEL, '--image', join(CASE, 'image.png'), '--preset', 'unit',
    '--method', 'gradcam', '--out', '/tmp/unpic-trust-gradcam.npy', '--faithfulness']);
  for (const curve of ['deletion', 'insertion']) {
    const line = `#curves-gradcam polyline.curve-${curve}`;
    assert.equal(await page.getAttribute(line, 'data-points'), '21');
    const points = (await page.getAttribute(line, 'points')).split(' ').map((p) => p.split(',').map(Number));
    assert.equal(points.length, 21);
    // y = 64 (1 - p) in a box 64 high: the plotted probabilities are the CLI's.
    points.forEach(([, y], i) => assert.ok(Math.abs((1 - y / 64) - cli[curve][i]) < 0.01, `${curve}[${i}]: ${y} vs ${cli[curve][i]}`));
  }

  // The sanity check of saliency in 3 steps: a row of 4 maps, a curve, a verdict; the numbers
  // are those of `unpic sanity` on the same image and seed.
  await page.selectOption('#sanity-method', 'saliency');
  await page.fill('#sanity-steps', '3');
  await page.dispatchEvent('#sanity-steps', 'change');
  await page.click('#sanity-run');
  await page.waitForSelector('#sanity[data-steps="3"]', { timeout: 300_000 });
  assert.equal(await page.locator('#sanity .sanity-step canvas').count(), 4);
  const verdict = await page.getAttribute('#sanity', 'data-verdict');
  const text = await page.textContent('#sanity .verdict');
  const expected = unpic(['sanity', '--model', MODEL, '--image', join(CASE, 'image.png'), '--preset', 'unit',
    '--method', 'saliency', '--max-steps', '3', '--json']);
  assert.equal(verdict, { depends_on_model: 'DependsOnModel', partly: 'Partly', ignores_model: 'IgnoresModel' }[expected.verdict]);
  assert.ok(text.includes(expected.explanation), text);
  for (let i = 1; i <= 3; i++) {
    const shown = Number(await page.getAttribute(`#sanity .sanity-step[data-step="${i}"]`, 'data-spearman'));
    assert.ok(Math.abs(shown - expected.steps[i - 1].spearman) < 0.02, `step ${i}: ${shown} vs ${expected.steps[i - 1].spearman}`);
  }
  for (const curve of ['spearman', 'ssim', 'topk']) {
    assert.equal(await page.getAttribute(`#sanity-curve polyline.curve-${curve}`, 'data-points'), '4');
  }
  // The maps are drawn (not blank): the original differs from the fully scrambled one.
  const pixels = (i) => page.$eval(`#sanity .sanity-step[data-step="${i}"] canvas`, (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data));
  const [first, last] = [await pixels(0), await pixels(3)];
  assert.equal(first.length, 28 * 28 * 4);
  assert.ok(first.some((v, i) => v !== last[i]), 'the scrambled map differs');
  await page.locator('#trust').scrollIntoViewIfNeeded();
  await screenshot(page, 'trust.png');

  // Another image drops the check that no longer applies.
  await page.setInputFiles('#image-file', join(FIXTURES, 'oracle/cases/fashion_tshirt/image.png'));
  await page.waitForFunction(() => !document.querySelector('#sanity'));
  await page.close();
});

test('on the demo: the maps side by side with their checks, their agreement, and the cascade', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.selectOption('#random-class', { label: '8_bag' });
  await page.click('#random-image');
  await page.click('[data-view=predict]');
  await page.waitForFunction(() => document.querySelector('#true-class')?.textContent.includes('Bag'));

  // Each card says how many findings its map has (a sound map: none), and the pair's agreement.
  await explain(page, ['gradcam', 'saliency']);
  for (const method of ['gradcam', 'saliency']) {
    const warnings = await page.getAttribute(`#explanations figure[data-method=${method}]`, 'data-warnings');
    assert.ok(warnings !== null && Number(warnings) >= 0, `${method}: ${warnings}`);
  }
  const agreement = Number(await page.getAttribute('#agreement tr[data-a="Grad-CAM"][data-b="Saliency"]', 'data-spearman'));
  assert.ok(agreement >= -1 && agreement <= 1, `agreement ${agreement}`);

  // Grad-CAM's cascade on the demo network: four maps, three curves, a verdict in words.
  await page.selectOption('#sanity-method', 'gradcam');
  await page.fill('#sanity-steps', '3');
  await page.dispatchEvent('#sanity-steps', 'change');
  await page.click('#sanity-run');
  await page.waitForSelector('#sanity[data-steps="3"]', { timeout: 300_000 });
  assert.equal(await page.locator('#sanity .sanity-step canvas').count(), 4);
  assert.ok(['DependsOnModel', 'Partly', 'IgnoresModel'].includes(await page.getAttribute('#sanity', 'data-verdict')));
  assert.ok((await page.textContent('#sanity .verdict')).length > 20);
  for (const curve of ['spearman', 'ssim', 'topk']) {
    assert.equal(await page.getAttribute(`#sanity-curve polyline.curve-${curve}`, 'data-points'), '4');
  }
  await screenshot(page, 'trust-demo.png');
  await page.close();
});

test('a map that is the same for every class carries its warning on the card', { timeout: 300_000 }, async () => {
  // one_feature.onnx: every class score is a multiple of one feature, so every class's saliency
  // is the same map (the CLI test checks the finding; here the page shows it).
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.setInputFiles('#model-file', join(FIXTURES, 'one_feature.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'one_feature.onnx');
  await page.click('[data-view=predict]');
  await predictImage(page, join(FIXTURES, 'vit/cat64.png'));
  await explain(page, ['saliency']);
  const card = '#explanations figure[data-method=saliency]';
  assert.equal(await page.getAttribute(card, 'data-warnings'), '1');
  assert.equal(await page.getAttribute(`${card} .map-warning`, 'data-problem'), 'TargetInsensitive');
  assert.match(await page.textContent(`${card} .map-warning`), /runner-up class .* nearly the same/);
  await page.close();
});
