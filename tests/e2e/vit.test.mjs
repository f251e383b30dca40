// A vision transformer in the page, with no reshape written by anyone: the layer picker offers its
// token sequences and suggests the input of the last attention block (pytorch-grad-cam's
// documented layer); Grad-CAM there and attention rollout, offered only for a transformer, give
// the maps `unpic explain` gives (whose parity with pytorch-grad-cam and vit-explain
// explain-core/tests/vit.rs holds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import {
  FIXTURES, OUT, withApp, openApp, waitForDemo, predictImage, readNpy, screenshot, cargoBinary,
  explain, assertClose,
} from './harness.mjs';

const MODEL = join(FIXTURES, 'vit/vit_cls.onnx');
const IMAGE = join(FIXTURES, 'vit/cat64.png');
const app = withApp();

test('Grad-CAM and attention rollout on a vision transformer', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  // The demo is a CNN: no rollout offered.
  assert.ok(await page.locator('label[for=explain-rollout]').evaluate((l) => l.classList.contains('hidden')));

  await page.setInputFiles('#model-file', MODEL);
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'vit_cls.onnx');
  await page.click('[data-view=predict]');
  await predictImage(page, IMAGE);
  assert.ok(!(await page.locator('label[for=explain-rollout]').evaluate((l) => l.classList.contains('hidden'))));

  const options = await page.$$eval('#explain-layer option', (o) => o.map((x) => [x.value, x.textContent, x.selected]));
  const suggested = options.find(([, text]) => text.includes('(suggested)'));
  assert.equal(suggested?.[0], '/blocks/blocks.2/norm1/LayerNormalization_output_0', JSON.stringify(options));
  assert.ok(suggested[2], 'the suggestion is selected');
  assert.match(suggested[1], /\[(N|1), 65, 48\]/);

  const maps = await explain(page, ['gradcam', 'rollout']);
  await mkdir(OUT, { recursive: true });
  assert.match(maps.gradcam.caption, /Grad-CAM at \/blocks\/blocks.2\/norm1/);
  for (const [key, method] of [['gradcam', 'gradcam'], ['rollout', 'attention-rollout']]) {
    const out = join(OUT, `vit-${key}-cli.npy`);
    execFileSync(cargoBinary('unpic'), ['explain', '--model', MODEL, '--image', IMAGE, '--method', method, '--out', out],
      { stdio: ['ignore', 'ignore', 'ignore'] });
    assertClose(`page vs CLI ${key}`, maps[key].map, await readNpy(out), 1e-3);
  }
  await page.locator('#explanations').scrollIntoViewIfNeeded();
  await screenshot(page, 'vit.png');
  await page.close();
});
