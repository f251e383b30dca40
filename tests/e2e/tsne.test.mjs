// The t-SNE view on the demo, as a person uses it: pick classes and every N-th image, make the
// map of the penultimate layer, hover and click a point. The map must keep classes together,
// mark the images the network got wrong (its predictions equal `unpic eval`'s), ring the
// confusion cell the user came from, and export as CSV and PNG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, FIXTURES, withApp, openApp, waitForPrediction, screenshot, unpicEval,
} from './harness.mjs';

const DEMO = join(ROOT, 'public/demo');
const app = withApp();

test('a t-SNE map of the demo keeps classes together, marks errors and opens images', { timeout: 900_000 }, async () => {
  const expected = unpicEval(join(DEMO, 'fashion-cnn.onnx'), join(DEMO, 'fashion-mnist-sample.zip'), join(DEMO, 'labels.txt'));
  const predictedByPath = new Map(expected.files.map((f) => [f.path, expected.classes[f.pred]]));

  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  // Come from a confusion cell: its points are ringed on the map.
  await page.click('#confusion td.cell[data-true="6"][data-pred="0"]');
  await page.click('[data-view=tsne]');
  assert.equal(await page.$eval('#tsne-layer', (s) => s.value), 'logits', 'the class scores first');
  assert.match(await page.textContent('#tsne-view'), /penultimate layer \(fc1\/relu\)/);
  await page.selectOption('#tsne-layer', 'fc1/relu');
  // Every 2nd class, then all but the trousers.
  await page.fill('#tsne-every-class', '2');
  await page.dispatchEvent('#tsne-every-class', 'change');
  const ticked = await page.$$eval('#tsne-classes input', (b) => b.map((x) => x.checked));
  assert.deepEqual(ticked, [true, false, true, false, true, false, true, false, true, false]);
  for (const k of [1, 3, 5, 7, 9]) await page.check(`#tsne-class-${k}`);
  await page.uncheck('#tsne-class-1');
  await page.fill('#tsne-every', '2');
  await page.dispatchEvent('#tsne-every', 'change');
  await page.click('#tsne-run');
  await page.waitForSelector('#tsne-caption', { timeout: 600_000 });
  assert.equal(Number(await page.getAttribute('#tsne-caption', 'data-points')), 900, '9 classes of 200, every 2nd');

  const [csvFile] = await Promise.all([page.waitForEvent('download'), page.click('#tsne-csv')]);
  const rows = (await readFile(await csvFile.path(), 'utf8')).trim().split('\n').slice(1).map((line) => {
    const [path, x, y, truth, predicted] = line.split(',');
    return { path, x: Number(x), y: Number(y), truth, predicted };
  });
  assert.equal(rows.length, 900);
  assert.ok(rows.every((r) => r.truth !== 'Trouser'), 'an excluded class is left out');
  for (const r of rows) assert.equal(r.predicted, predictedByPath.get(r.path), `${r.path}: prediction as unpic eval`);
  const sameClassNeighbour = rows.filter((r, i) => {
    let best = Infinity; let j = -1;
    rows.forEach((o, k) => { const d = (o.x - r.x) ** 2 + (o.y - r.y) ** 2; if (k !== i && d < best) { best = d; j = k; } });
    return rows[j].truth === r.truth;
  }).length;
  assert.ok(sameClassNeighbour / rows.length > 0.8, `nearest neighbour of the same class: ${sameClassNeighbour} of ${rows.length}`);
  const ringed = rows.filter((r) => r.truth === 'Shirt' && r.predicted === 'T-shirt/top').length;
  assert.match(await page.textContent('#tsne-caption'), new RegExp(`ringed: True Shirt predicted as T-shirt/top \\(${ringed}\\)`));
  const wrong = rows.filter((r) => r.truth !== r.predicted).length;
  assert.match(await page.textContent('#tsne-caption'), new RegExp(`, ${wrong} misclassified`));

  const [png] = await Promise.all([page.waitForEvent('download'), page.click('#tsne-png')]);
  const pngBytes = await readFile(await png.path());
  assert.deepEqual([...pngBytes.subarray(1, 4)], [0x50, 0x4e, 0x47], 'the plot downloads as a PNG');
  await screenshot(page, 'tsne.png');

  // Hover a point (placed as the page places them), then click it: it opens in Predict.
  const xs = rows.map((r) => r.x); const ys = rows.map((r) => r.y);
  const lo = [Math.min(...xs), Math.min(...ys)];
  const span = Math.max(Math.max(...xs) - lo[0], Math.max(...ys) - lo[1]);
  const scale = (560 - 32) / span;
  const target = rows[0];
  const box = await page.$eval('#tsne-plot', (c) => { const b = c.getBoundingClientRect(); return { x: b.x + c.clientLeft, y: b.y + c.clientTop }; });
  const at = { x: box.x + 16 + (target.x - lo[0]) * scale, y: box.y + 16 + (target.y - lo[1]) * scale };
  await page.mouse.move(at.x, at.y);
  await page.waitForFunction(() => document.querySelector('#tsne-hover img')?.src.startsWith('data:image/png'));
  const hovered = await page.textContent('#tsne-hover p');
  await page.mouse.click(at.x, at.y);
  const name = hovered.split(/true /)[0].trim().split('/').pop();
  await waitForPrediction(page, name);
  await page.close();
});

test('a PCA map of the demo equals numpy\'s, at once', { timeout: 600_000 }, async () => {
  const reference = JSON.parse(await readFile(join(FIXTURES, 'pca/reference.json'), 'utf8'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  await page.click('[data-view=tsne]');
  await page.selectOption('#tsne-layer', 'fc1/relu');
  await page.selectOption('#map-method', 'pca');
  assert.ok(await page.$eval('#tsne-perplexity', (i) => i.closest('label').classList.contains('hidden')), 'no perplexity for PCA');
  await page.fill('#tsne-every', '1');
  await page.dispatchEvent('#tsne-every', 'change');
  await page.click('#tsne-run');
  await page.waitForSelector('#tsne-caption[data-method="PCA"]', { timeout: 120_000 });
  assert.equal(Number(await page.getAttribute('#tsne-caption', 'data-points')), 2000);
  assert.doesNotMatch(await page.textContent('#tsne-caption'), /KL/);
  const [csvFile] = await Promise.all([page.waitForEvent('download'), page.click('#tsne-csv')]);
  const rows = (await readFile(await csvFile.path(), 'utf8')).trim().split('\n').slice(1).map((line) => line.split(','));
  const spread = Math.max(...Object.values(reference.points).map(([x]) => Math.abs(x)));
  assert.equal(rows.length, 2000);
  for (const [path, x, y] of rows) {
    const [rx, ry] = reference.points[path];
    assert.ok(Math.abs(Number(x) - rx) <= 1e-3 * spread && Math.abs(Number(y) - ry) <= 1e-3 * spread, `${path}: (${x}, ${y}) vs numpy (${rx}, ${ry})`);
  }
  await page.close();
});

test('a UMAP map of the demo keeps its classes together as umap-learn\'s does', { timeout: 600_000 }, async () => {
  // tests/fixtures/umap: umap-learn's map of the same features puts 91.1 % of the images among a
  // majority of their own class (10 nearest others in the plane).
  const reference = JSON.parse(await readFile(join(FIXTURES, 'umap/reference.json'), 'utf8'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  await page.click('[data-view=tsne]');
  await page.selectOption('#tsne-layer', reference.layer);
  await page.selectOption('#map-method', 'umap');
  assert.ok(await page.$eval('#tsne-perplexity', (i) => i.closest('label').classList.contains('hidden')), 'no perplexity for UMAP');
  await page.fill('#tsne-every', '1');
  await page.dispatchEvent('#tsne-every', 'change');
  const started = Date.now();
  await page.click('#tsne-run');
  await page.waitForSelector('#tsne-caption[data-method="UMAP"]', { timeout: 300_000 });
  console.log(`UMAP of the demo's 2,000 images in the page: ${Date.now() - started} ms`);
  assert.equal(Number(await page.getAttribute('#tsne-caption', 'data-points')), 2000);
  const [csvFile] = await Promise.all([page.waitForEvent('download'), page.click('#tsne-csv')]);
  const rows = (await readFile(await csvFile.path(), 'utf8')).trim().split('\n').slice(1).map((line) => line.split(','));
  const points = rows.map(([, x, y, truth]) => ({ x: Number(x), y: Number(y), truth }));
  let agreeing = 0;
  for (const [i, p] of points.entries()) {
    const near = points.map((q, j) => [(q.x - p.x) ** 2 + (q.y - p.y) ** 2, j]).filter(([, j]) => j !== i)
      .sort((a, b) => a[0] - b[0]).slice(0, 10);
    const votes = new Map();
    for (const [, j] of near) votes.set(points[j].truth, (votes.get(points[j].truth) ?? 0) + 1);
    const best = Math.max(...votes.values());
    if ((votes.get(p.truth) ?? 0) === best) agreeing += 1;
  }
  const agreement = agreeing / points.length;
  assert.ok(agreement >= 0.9 * reference.umap_learn.knn_accuracy, `labels agreeing ${agreement} vs umap-learn ${reference.umap_learn.knn_accuracy}`);
  await page.close();
});
