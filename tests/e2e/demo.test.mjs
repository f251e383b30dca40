// The demo, as a newcomer meets it: the page opens with no action on the project's own network
// and a sample of Fashion-MNIST's test images, evaluates them, and shows the same accuracy and
// confusion matrix as `unpic eval` on the same files. A confusion cell opens its images, and an
// image opens in the Predict view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, withApp, openApp, readTop5, waitForPrediction, screenshot, unpicEval, writeOut, responsiveClickMs,
} from './harness.mjs';

const DEMO = join(ROOT, 'public/demo');
const app = withApp();

/** The confusion matrix as the page shows it (counts), rebuilt from its cells. */
async function readConfusion(page) {
  const cells = await page.$$eval('#confusion td.cell', (tds) => tds.map((td) => [
    Number(td.dataset.true), Number(td.dataset.pred), Number(td.dataset.count)]));
  const k = Math.max(...cells.map(([t]) => t)) + 1;
  const m = Array.from({ length: k }, () => new Array(k).fill(0));
  for (const [t, p, c] of cells) m[t][p] = c;
  return m;
}

/** Clicks through the views while the progress bar shows; each click's time to the next frame
 *  (a click over 100 ms tried once more: `responsiveClickMs`). */
async function clicksWhileEvaluating(page) {
  const clicks = [];
  for (const view of ['help', 'data', 'predict', 'tsne', 'help', 'data']) {
    if (!(await page.$('#progress'))) break;
    clicks.push((await responsiveClickMs(page, view)).ms);
  }
  return clicks;
}

test('the page opens on the demo and shows the accuracy and confusion matrix of unpic eval', { timeout: 900_000 }, async () => {
  const expected = unpicEval(join(DEMO, 'fashion-cnn.onnx'), join(DEMO, 'fashion-mnist-sample.zip'), join(DEMO, 'labels.txt'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  // The page's own work (tasks over 50 ms on its main thread), from its start until the demo
  // is evaluated.
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask', buffered: true });
  });
  // While the demo is first evaluated (in the worker) the page is also starting: compiling its
  // code, laying out its views and drawing its first canvases. Clicks then are recorded and must
  // not find it frozen; the 100 ms promise is checked below, once it has started.
  await page.waitForSelector('#progress', { timeout: 120_000 });
  const coldClicks = await clicksWhileEvaluating(page);
  await page.click('[data-view=accuracy]');
  // No other action: the Accuracy view fills in by itself.
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  const longTasks = await page.evaluate(() => window.longTasks);
  for (const ms of coldClicks) assert.ok(ms < 1000, `a click took ${ms.toFixed(1)} ms while the page started (${coldClicks}; long tasks ${longTasks})`);
  // Start-up and drawing only: about 0.4 s here (it was 4-5 s when every call into the page's
  // wasm reran its static constructors). Each progress update while the worker evaluates is
  // short, but on a loaded 2-core host some pass 50 ms and count: 2.05 s was seen once, when
  // the evaluation took 23 s instead of 15.
  const busy = longTasks.reduce((a, b) => a + b, 0);
  assert.ok(busy < 2500, `the page's main thread was busy ${busy} ms opening the demo (${longTasks})`);
  const accuracy = Number(await page.getAttribute('#accuracy-total', 'data-accuracy'));
  assert.equal(accuracy, expected.accuracy, 'total accuracy');
  assert.ok(accuracy >= 0.9, `the demo network is accurate (${accuracy})`);
  const confusion = await readConfusion(page);
  assert.deepEqual(confusion, expected.confusion, 'confusion matrix counts');
  const perClass = await page.$$eval('#per-class tbody tr', (rows) => rows.map((r) => [Number(r.dataset.class), Number(r.dataset.accuracy)]));
  for (const [k, a] of perClass) assert.ok(Math.abs(a - expected.per_class[k]) < 1e-12, `class ${k} accuracy`);
  assert.ok(perClass.every(([, a], i) => i === 0 || perClass[i - 1][1] <= a), 'per-class accuracy is sorted, worst first');

  // The confusions everyone expects on Fashion-MNIST are there: shirts taken for T-shirts,
  // pullovers and coats, and the worst class is the shirt.
  const [TSHIRT, PULLOVER, COAT, SHIRT] = [0, 2, 4, 6];
  for (const other of [TSHIRT, PULLOVER, COAT]) assert.ok(confusion[SHIRT][other] > 0, `shirt -> ${other}`);
  assert.equal(perClass[0][0], SHIRT, 'the shirt is the hardest class');
  const summary = await page.textContent('#dataset-summary');
  assert.match(summary, /2000 images in 10 classes/);
  await screenshot(page, 'demo-accuracy.png');

  // The tables and the session download as CSV and JSON with the same numbers.
  const download = async (id) => {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
    return { name: file.suggestedFilename(), text: await readFile(await file.path(), 'utf8') };
  };
  const csv = await download('#export-confusion');
  assert.equal(csv.name, 'confusion-matrix.csv');
  const csvRows = csv.text.trim().split('\n').slice(1).map((line) => line.split(',').slice(-10).map(Number));
  assert.deepEqual(csvRows, expected.confusion, 'confusion CSV');
  const predictions = await download('#export-predictions');
  assert.equal(predictions.text.trim().split('\n').length, 2001, 'one CSV row per image');
  const session = JSON.parse((await download('#export-session')).text);
  assert.equal(session.model.name, 'fashion-cnn.onnx');
  assert.equal(session.evaluation.accuracy, expected.accuracy);
  assert.deepEqual(session.dataset.counts, new Array(10).fill(200));

  // A cell opens its images; an image opens in the Predict view, predicted as the cell says.
  await page.click(`#confusion td.cell[data-true="${SHIRT}"][data-pred="${TSHIRT}"]`);
  await page.waitForFunction(() => document.querySelectorAll('#cell-images .thumb img[src^="data:image/png"]').length > 0);
  const paths = await page.$$eval('#cell-images .thumb', (b) => b.map((x) => x.dataset.path));
  const inCell = expected.files.filter((f) => f.label === SHIRT && f.pred === TSHIRT).map((f) => f.path);
  assert.deepEqual(paths, inCell.slice(0, 120), 'the cell shows its images');
  await screenshot(page, 'demo-cell.png');
  // A column: everything predicted as shirt, the wrong ones framed.
  await page.click(`#confusion th.col-head[data-pred="${SHIRT}"]`);
  await page.waitForFunction(() => document.querySelector('#cell-images h3')?.textContent.startsWith('Predicted as Shirt'));
  const column = await page.$$eval('#cell-images .thumb', (b) => b.map((x) => [x.dataset.path, x.classList.contains('wrong')]));
  const predictedShirt = expected.files.filter((f) => f.pred === SHIRT).slice(0, 120);
  assert.deepEqual(column, predictedShirt.map((f) => [f.path, f.label !== SHIRT]), 'predicted-as gallery');

  await page.click(`#confusion td.cell[data-true="${SHIRT}"][data-pred="${TSHIRT}"]`);
  await page.waitForFunction(() => document.querySelector('#cell-images h3')?.textContent.startsWith('True Shirt'));
  await page.focus('#cell-images');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  const second = paths[Math.min(1, paths.length - 1)];
  await waitForPrediction(page, second.split('/').pop());
  assert.equal((await readTop5(page))[0].cls, TSHIRT, 'the opened image is predicted as the cell says');
  await screenshot(page, 'demo-predict.png');
  await writeOut('demo-eval.json', JSON.stringify({ accuracy, expected: expected.accuracy, confusion }, null, 1));

  // A change of preprocessing evaluates the demo again: meanwhile every click is answered
  // within 100 ms. (Raw pixels first, then back to [0, 1], which is evaluated while we click.)
  await page.selectOption('#preset', 'raw');
  await page.waitForSelector('#progress', { timeout: 120_000 });
  await page.selectOption('#preset', 'unit');
  await page.waitForFunction(() => /Evaluating/.test(document.querySelector('#progress')?.textContent ?? ''), null, { timeout: 120_000 });
  const clicks = await clicksWhileEvaluating(page);
  assert.ok(clicks.length >= 1, 'a click was measured during the evaluation');
  for (const ms of clicks) assert.ok(ms < 100, `a click took ${ms.toFixed(1)} ms while the demo was evaluated (${clicks})`);
  await page.waitForFunction(() => document.querySelector('#accuracy-total')?.dataset.accuracy !== undefined && !document.querySelector('#progress'), null, { timeout: 300_000 });
  assert.equal(Number(await page.getAttribute('#accuracy-total', 'data-accuracy')), expected.accuracy, 'the same accuracy again');
  await writeOut('demo-clicks.json', JSON.stringify({ click_ms: clicks, cold_start_click_ms: coldClicks, long_tasks_ms: longTasks }));
  await page.close();
});
