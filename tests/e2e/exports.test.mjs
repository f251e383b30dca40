// Export variants users bring, opened through the UI in headless Chromium (CPU): a model whose
// height and width are dynamic (the page asks for the size, then predicts and explains at it,
// as `unpic --size` does), and a dynamo export with its batch fixed at 1 (the demo's images are
// evaluated through it in pieces, to `unpic eval`'s figures). Fixtures: tests/fixtures/exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ROOT, FIXTURES, withApp, openApp, readTop5, predictImage, cargoBinary, unpicEval, waitForDemo,
  screenshot,
} from './harness.mjs';

const EXPORTS = join(FIXTURES, 'exports');
const IMAGE = join(FIXTURES, 'oracle/cases/resnet18_chelsea/image.png');
const app = withApp();

test('a model of any size asks for the size, then predicts and explains at it', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu&demo=off');
  await page.click('[data-view=predict]');
  await page.setInputFiles('#model-file', join(EXPORTS, 'dynamic_hw.onnx'));
  await page.waitForSelector('#size-choice', { timeout: 120_000 });
  assert.match(await page.textContent('#size-choice'), /any height and width/);
  for (const [id, value] of [['#size-height', '48'], ['#size-width', '96']]) {
    await page.fill(id, value);
    await page.dispatchEvent(id, 'change');
  }
  await page.click('#size-open');
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'dynamic_hw.onnx', null, { timeout: 120_000 });
  assert.match(await page.textContent('#model-summary'), /48x96/);
  assert.equal(await page.$('#size-choice'), null, 'the question is gone once answered');

  await page.selectOption('#preset', 'unit');
  await predictImage(page, IMAGE);
  const shown = await readTop5(page);
  const cli = JSON.parse(execFileSync(cargoBinary('unpic'), [
    'predict', '--model', join(EXPORTS, 'dynamic_hw.onnx'), '--image', IMAGE, '--preset', 'unit',
    '--size', '48x96', '--json'], { cwd: ROOT }));
  assert.deepEqual(shown.map((s) => s.cls), cli.top.slice(0, shown.length).map((t) => t.class), 'the CLI\'s ranking');
  for (const [s, t] of shown.map((s, i) => [s, cli.top[i]])) {
    assert.ok(Math.abs(s.p - t.probability) < 1e-5, `class ${s.cls}: ${s.p} vs ${t.probability}`);
  }
  await screenshot(page, 'any-size-model.png');
  await page.close();
});

test('a model with its batch fixed at 1 evaluates the demo images like unpic eval', { timeout: 900_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  const model = join(EXPORTS, 'smallcnn_fashion_dynamo_b1.onnx');
  await page.setInputFiles('#model-file', model);
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'smallcnn_fashion_dynamo_b1.onnx', null, { timeout: 120_000 });
  await page.click('[data-view=accuracy]');
  const demo = join(ROOT, 'public/demo');
  const expected = unpicEval(model, join(demo, 'fashion-mnist-sample.zip'), join(demo, 'labels.txt'));
  const demoAccuracy = unpicEval(join(demo, 'fashion-cnn.onnx'), join(demo, 'fashion-mnist-sample.zip'), join(demo, 'labels.txt')).accuracy;
  assert.notEqual(expected.accuracy, demoAccuracy, 'the two models tell apart');
  // The demo network's figure shows until the new evaluation ends.
  await page.waitForFunction((demoAcc) => {
    const shown = document.querySelector('#accuracy-total')?.dataset.accuracy;
    return shown !== undefined && Number(shown) !== demoAcc && !document.querySelector('#progress');
  }, demoAccuracy, { timeout: 600_000 });
  assert.equal(Number(await page.getAttribute('#accuracy-total', 'data-accuracy')), expected.accuracy);
  await page.close();
});
