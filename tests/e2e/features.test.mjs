// The Features view on the demo, as a person uses it: the shown image's activations at the
// suggested layer as tiles with histograms, a channel's most exciting dataset images (equal to
// `unpic max-activations`), and its deep dream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ROOT, withApp, openApp, waitForPrediction, screenshot, cargoBinary,
} from './harness.mjs';

const DEMO = join(ROOT, 'public/demo');
const app = withApp();

test('the Features view shows activations, histograms, the most exciting images and a dream', { timeout: 900_000 }, async () => {
  const CHANNEL = 5;
  const expected = JSON.parse(execFileSync(cargoBinary('unpic'), [
    'max-activations', '--model', join(DEMO, 'fashion-cnn.onnx'), '--data', join(DEMO, 'fashion-mnist-sample.zip'),
    '--layer', 'block3/relu', '--preset', 'unit', '--top', '9', '--only-channels', String(CHANNEL), '--json',
  ], { maxBuffer: 64 << 20 }));

  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  // The demo's first image is the shown one.
  await page.click('[data-view=predict]');
  await waitForPrediction(page, '00019.png');
  await page.click('[data-view=features]');
  assert.equal(await page.$eval('#features-layer', (s) => s.value), 'block3/relu', 'the suggested layer first');
  await page.waitForFunction(() => document.querySelectorAll('#tiles .tile').length === 64);
  const layerCounts = await page.$$eval('.layer-histogram rect', (r) => r.map((x) => Number(x.dataset.count)));
  assert.equal(layerCounts.reduce((a, b) => a + b, 0), 64 * 7 * 7, 'the layer histogram counts every value');

  await page.click(`#tiles .tile[data-channel="${CHANNEL}"]`);
  const card = `#channels .channel[data-channel="${CHANNEL}"]`;
  assert.equal(await page.textContent(`${card} h4`), `Channel ${CHANNEL}`);
  const channelCounts = await page.$$eval(`${card} .channel-histogram rect`, (r) => r.map((x) => Number(x.dataset.count)));
  assert.equal(channelCounts.reduce((a, b) => a + b, 0), 7 * 7, 'the channel histogram counts its map');
  // Ctrl-click adds a channel: both get their own histogram, images and dream.
  await page.click('#tiles .tile[data-channel="9"]', { modifiers: ['Control'] });
  assert.deepEqual(await page.$$eval('#channels .channel', (c) => c.map((x) => Number(x.dataset.channel))), [CHANNEL, 9]);

  await page.click('#max-run');
  await page.waitForFunction((c) => document.querySelectorAll(`${c} .max-images .thumb img[src^="data:image/png"]`).length === 9, card, { timeout: 300_000 });
  const shown = await page.$$eval(`${card} .max-images .thumb`, (b) => b.map((x) => x.dataset.path));
  assert.deepEqual(shown, expected[0].images.map((i) => i.path), 'the top images equal unpic max-activations');
  assert.equal(await page.$$eval('#channels .channel[data-channel="9"] .max-images .thumb', (b) => b.length), 9);

  await page.fill('#dream-iterations', '6');
  await page.dispatchEvent('#dream-iterations', 'change');
  await page.fill('#dream-levels', '1');
  await page.dispatchEvent('#dream-levels', 'change');
  assert.equal(await page.inputValue('#dream-blur'), '1', 'the gradient is smoothed by default');
  await page.click('#dream-run');
  await page.waitForFunction(() => document.querySelectorAll('#channels .dream-caption').length === 2, null, { timeout: 300_000 });
  assert.match(await page.textContent(`${card} .dream-caption`), new RegExp(`block3/relu channel ${CHANNEL}`));
  const varied = await page.$eval(`${card} canvas.dream`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return c.width === 28 && d.some((v, i) => i % 4 === 0 && v !== d[0]);
  });
  assert.ok(varied, 'the dream is an image of the input size, not flat');
  await screenshot(page, 'features.png');

  // A top image opens in the Predict view.
  await page.click(`${card} .max-images .thumb >> nth=0`);
  await waitForPrediction(page, shown[0].split('/').pop());
  await page.close();
});
