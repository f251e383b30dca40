// The worker-crash path, triggered on purpose. A wasm trap (an allocation that fails, a panic in
// a dependency) ends the worker with an 'error' event; an init script wraps the page's `Worker`
// so the test can end a worker the same way on a message of its choosing, and counts the workers
// the page starts. Once a page restarted its worker without end, replaying the very request that
// had killed it (93 workers in 30 s for a 295-byte model): never again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  FIXTURES, withApp, openApp, openOracleFashion, waitForError, dismissError, predictImage, readTop5,
} from './harness.mjs';

const app = withApp();

/** Runs in the page before the app: `window.__crashOn` (a piece of a request's JSON) makes the
 *  worker it is posted to die as a trapped wasm worker does; `window.__workers` counts workers. */
function crashHook() {
  const Real = window.Worker;
  window.__workers = 0;
  window.__crashOn = null;
  window.Worker = class extends Real {
    constructor(...args) {
      super(...args);
      window.__workers += 1;
    }

    postMessage(data, ...rest) {
      const text = typeof data?.msg === 'string' ? data.msg : '';
      if (window.__crashOn && text.includes(window.__crashOn)) {
        this.terminate();
        setTimeout(() => this.dispatchEvent(new ErrorEvent('error', { message: 'RuntimeError: unreachable (test)' })), 5);
        return;
      }
      super.postMessage(data, ...rest);
    }
  };
}

const workers = (page) => page.evaluate(() => window.__workers);
const accuracy = (page) => page.getAttribute('#accuracy-total', 'data-accuracy');
const settle = (ms) => new Promise((ok) => setTimeout(ok, ms));

test('a worker that dies is replaced once, without the request it died on, and the results stay', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu&workers=1', crashHook);
  // A model and an image of the user's, and the demo images evaluated with that model.
  await openOracleFashion(page);
  await page.click('[data-view=accuracy]');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  const before = await accuracy(page);
  assert.equal(await workers(page), 1);

  // A model the engine dies on: one restart, with the user's model and images, and not again.
  await page.evaluate(() => { window.__crashOn = 'deadly.onnx'; });
  await page.setInputFiles('#model-file', { name: 'deadly.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('any bytes') });
  const message = await waitForError(page);
  assert.match(message, /opening the model 'deadly\.onnx'/);
  assert.match(message, /stopped unexpectedly \(RuntimeError: unreachable \(test\)\)/);
  assert.match(message, /started again with the model and images it had open before/);
  await settle(3000);
  assert.equal(await workers(page), 2, 'one replacement, the crashing request not replayed');
  await dismissError(page);

  // What the user had is kept, and the new engine works with it.
  assert.equal(await accuracy(page), before, 'the evaluation is kept');
  assert.equal(await page.textContent('#model-name'), 'smallcnn_fashion.onnx');
  await page.click('[data-view=predict]');
  await predictImage(page, join(FIXTURES, 'oracle/cases/fashion_tshirt/image.png'));
  assert.equal((await readTop5(page))[0].cls, 0, 'the T-shirt is still a T-shirt');
  const explain = async () => {
    for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
      if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'gradcam')) await box.click();
    }
    await page.click('#explain-run');
    await page.waitForSelector('#explanations figure[data-method=gradcam]', { timeout: 120_000 });
  };
  await explain();

  // An engine that dies on everything, even on what it is given back, is given up after a few
  // tries: the page says so and keeps what it shows.
  await page.evaluate(() => { window.__crashOn = '{'; });
  await page.click('#explain-run');
  // Each crash replaces the banner; the last one says the engine was given up.
  await page.waitForFunction(() => /was not started again/.test(document.querySelector('#error')?.textContent ?? ''), null, { timeout: 120_000 });
  const gaveUp = await page.textContent('#error');
  assert.match(gaveUp, /was not started again/);
  assert.match(gaveUp, /reload the page/);
  const count = await workers(page);
  assert.ok(count <= 5, `${count} workers: at most three crashes in a minute are restarted`);
  await settle(3000);
  assert.equal(await workers(page), count, 'no worker started after giving up');
  await dismissError(page);
  assert.equal((await readTop5(page))[0].cls, 0, 'the prediction is still shown');
  await page.click('[data-view=accuracy]');
  assert.equal(await accuracy(page), before, 'the evaluation is still shown');
  // Asking for more work says why nothing happens.
  await page.click('[data-view=predict]');
  await page.click('#explain-run');
  assert.match(await waitForError(page), /crashed repeatedly; reload the page/);
  await page.close();
});
