// Occlusion and Integrated Gradients of an ImageNet image by ResNet-18 in the browser on the
// CPU, on one compute worker and on two (the windows, or the quadrature points, shared between
// them, their shares summed on the page): the maps equal Captum's every time
// (tests/fixtures/oracle, resnet18_chelsea: occlusion window 32, stride 16, 169 windows; IG 32
// steps, within the parity tests' bound for this random-init network). The times go to
// out/occlusion-workers.json. SmoothGrad (noisy copies shared) and Score-CAM (channels shared)
// on the oracle's Fashion-MNIST network give the same maps on two workers as on one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  FIXTURES, withApp, openApp, waitForDemo, predictImage, readNpy, explain, assertClose, writeOut,
  openOracleFashion,
} from './harness.mjs';

const CASE = join(FIXTURES, 'oracle/cases/resnet18_chelsea');
const app = withApp();

async function occlusion(workers) {
  const page = await openApp(app.browser, app.url, `?backend=cpu&workers=${workers}`);
  await waitForDemo(page);
  await page.setInputFiles('#model-file', join(FIXTURES, 'oracle/models/resnet18_bn_unfused.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'resnet18_bn_unfused.onnx', null, { timeout: 300_000 });
  // The oracle's input is the ImageNet-normalised image.
  await page.selectOption('#preset', 'imagenet');
  // The new model and preset evaluate the demo images again: stop that, the test is the
  // occlusion.
  for (let quiet = 0, tries = 0; quiet < 3 && tries < 120; tries++) {
    const cancel = await page.$('#progress #cancel');
    if (cancel) await cancel.click().catch(() => {});
    quiet = cancel ? 0 : quiet + 1;
    await page.waitForTimeout(500);
  }
  assert.equal(await page.$('#progress'), null, 'no job left running');
  await page.click('[data-view=predict]');
  await predictImage(page, join(CASE, 'image.png'), 600_000);
  await page.check('#explain-occlusion');
  await page.fill('#occlusion-mask', '32');
  await page.dispatchEvent('#occlusion-mask', 'change');
  await page.fill('#occlusion-stride', '16');
  await page.dispatchEvent('#occlusion-stride', 'change');
  const started = Date.now();
  const maps = await explain(page, ['occlusion']);
  const ms = Date.now() - started;
  assert.match(maps.occlusion.caption, /Occlusion, mask 32, stride 16/);
  const shared = Number(await page.getAttribute('#explanations figure[data-method=occlusion]', 'data-workers'));
  assert.equal(shared, workers, `the map was shared by ${workers} worker(s): ${maps.occlusion.caption}`);
  const igStarted = Date.now();
  const ig = await explain(page, ['ig']);
  const igMs = Date.now() - igStarted;
  const igShared = Number(await page.getAttribute('#explanations figure[data-method=ig]', 'data-workers'));
  assert.equal(igShared, workers, `IG was shared by ${workers} worker(s): ${ig.ig.caption}`);
  const running = page.workers().length;
  await page.close();
  return { workers, running, ms, map: maps.occlusion.map, igMs, ig: ig.ig.map };
}

test('a ResNet-18 occlusion and IG shared by two workers equal Captum\'s, as on one', { timeout: 1_200_000 }, async () => {
  const expected = await readNpy(join(CASE, 'occlusion_w32_s16.npy'));
  const expectedIg = await readNpy(join(CASE, 'ig.npy'));
  const runs = [];
  for (const workers of [1, 2]) {
    const run = await occlusion(workers);
    assert.equal(run.running, workers, `${workers} compute worker(s) running`);
    assertClose(`occlusion on ${workers} worker(s)`, run.map, expected, 1e-4);
    assertClose(`IG on ${workers} worker(s)`, run.ig, expectedIg, 2e-3);
    runs.push({ workers, occlusion_and_scores_ms: run.ms, ig_and_scores_ms: run.igMs });
  }
  await writeOut('occlusion-workers.json', JSON.stringify({ model: 'resnet18_bn_unfused', windows: 169, runs }, null, 1));
  console.log(`ResNet-18 occlusion in the browser: ${JSON.stringify(runs)}`);
});

test('SmoothGrad and Score-CAM shared by two workers equal the maps of one', { timeout: 600_000 }, async () => {
  const maps = {};
  for (const workers of [1, 2]) {
    const page = await openApp(app.browser, app.url, `?backend=cpu&workers=${workers}`);
    await openOracleFashion(page);
    // The new model evaluates the demo images again, shared by the workers: let it finish.
    await page.waitForFunction(() => !document.querySelector('#progress'), null, { timeout: 120_000 });
    // One at a time: the pool shares one job at a time (a second one runs on the main worker).
    maps[workers] = {};
    for (const method of ['smoothgrad', 'scorecam']) {
      Object.assign(maps[workers], await explain(page, [method]));
      const shared = Number(await page.getAttribute(`#explanations figure[data-method=${method}]`, 'data-workers'));
      assert.equal(shared, workers, `${method} was shared by ${workers} worker(s): ${maps[workers][method].caption}`);
    }
    await page.close();
  }
  for (const method of ['smoothgrad', 'scorecam']) {
    assert.equal(maps[2][method].map.length, 28 * 28, `${method}: one value per pixel`);
    assertClose(`${method} on two workers`, maps[2][method].map, maps[1][method].map, 1e-5);
  }
});
