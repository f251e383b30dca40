// Long jobs show progress and stop on Cancel: a dataset evaluation (stopped between batches)
// and an explanation that runs in one go (stopped by replacing the worker, which gets the model
// back at once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, withApp, openApp, waitForDemo, predictImage, readTop5 } from './harness.mjs';

const ORACLE = join(FIXTURES, 'oracle');
const app = withApp();

test('an evaluation under way stops on Cancel, and runs again when asked', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  // A new preprocessing evaluates the images again; cancel it at once.
  await page.selectOption('#preset', 'raw');
  await page.waitForSelector('#progress #cancel');
  assert.match(await page.textContent('#progress'), /Evaluating the images/);
  await page.click('#progress #cancel');
  await page.waitForSelector('#progress', { state: 'detached' });
  assert.equal(await page.$('#accuracy-total'), null, 'no accuracy from a cancelled evaluation');
  await page.selectOption('#preset', 'unit');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  await page.close();
});

test('a long explanation shows its progress and stops on Cancel', { timeout: 900_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu&demo=off');
  await page.setInputFiles('#model-file', join(ORACLE, 'models/fer_minixception.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'fer_minixception.onnx');
  await page.selectOption('#preset', 'symmetric');
  await page.click('[data-view=predict]');
  await predictImage(page, join(ORACLE, 'cases/fer_astronaut/image.png'));
  const top = (await readTop5(page))[0].cls;

  // Occlusion at the Detailed preset: 441 occluded copies through the network.
  for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
    if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'occlusion')) await box.click();
  }
  await page.fill('#occlusion-level', '5');
  await page.dispatchEvent('#occlusion-level', 'input');
  await page.click('#explain-run');
  await page.waitForFunction(() => /Occlusion: [1-9]\d* of \d+/.test(document.querySelector('#progress')?.textContent ?? ''), null, { timeout: 300_000 });
  const started = Date.now();
  await page.click('#progress #cancel');
  await page.waitForSelector('#progress', { state: 'detached' });
  assert.ok(Date.now() - started < 5000, 'Cancel answers at once');
  assert.equal(await page.$('#explanations figure'), null, 'no map from a cancelled explanation');

  // The new worker has the model back: the next explanation works.
  for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
    if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'gradcam')) await box.click();
  }
  await page.click('#explain-run');
  await page.waitForSelector('#explanations figure[data-method=gradcam]', { timeout: 300_000 });
  assert.equal(await page.$$eval('#explanations figure', (f) => f.length), 1, 'only the new map');
  assert.equal((await readTop5(page))[0].cls, top);
  // The map stays: once the Features view has its activations (asked after the map arrived, and
  // answered in order), every answer to the new worker's replay is in too.
  await page.click('[data-view=features]');
  await page.waitForSelector('#tiles .tile', { timeout: 300_000 });
  await page.click('[data-view=predict]');
  assert.equal(await page.$$eval('#explanations figure[data-method=gradcam]', (f) => f.length), 1,
    'the replayed model does not clear the map');
  await page.close();
});
