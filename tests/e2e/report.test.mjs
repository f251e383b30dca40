// The report to keep: a map pinned in Predict & explain and the demo's evaluation, downloaded
// as one HTML file that opens offline (no request leaves it: the browser is offline and every
// request is recorded) and shows the pinned map with its settings, the accuracy and the
// confusion matrix the page showed, and the session's JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OUT, withApp, openApp, waitForDemo, explain, screenshot } from './harness.mjs';

const app = withApp();

test('a pinned map and the accuracy go into one HTML report that opens offline', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=accuracy]');
  await page.waitForFunction(() => document.querySelector('#accuracy-total') && !document.querySelector('#progress'), null, { timeout: 120_000 });
  const accuracy = await page.$eval('#accuracy-total', (e) => e.dataset.accuracy);
  await page.click('[data-view=predict]');
  await page.waitForFunction(() => document.querySelectorAll('#top5 li.bar').length > 0, null, { timeout: 60_000 });
  await explain(page, ['gradcam']);
  await page.click('#explanations figure[data-method=gradcam] .pin');
  await page.waitForSelector('#pinned-count[data-count="1"]');
  const caption = await page.textContent('#explanations figure[data-method=gradcam] figcaption');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
  assert.equal(download.suggestedFilename(), 'unpic-report.html');
  const path = join(OUT, 'report.html');
  await copyFile(await download.path(), path);

  // Opened with the network off; any request it made would be recorded.
  const context = await app.browser.newContext({ offline: true });
  const report = await context.newPage();
  const requests = [];
  report.on('request', (r) => { if (!r.url().startsWith('data:')) requests.push(r.url()); });
  await report.setContent(await readFile(path, 'utf8'));
  await report.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
  assert.deepEqual(requests, [], 'the report asks for nothing');
  assert.equal(await report.$eval('#accuracy', (e) => e.dataset.accuracy), accuracy);
  const counts = await report.$$eval('#confusion td', (tds) => tds.reduce((a, td) => a + Number(td.dataset.count), 0));
  assert.equal(counts, 2000);
  const pinned = await report.$$eval('figure.pinned', (f) => f.map((x) => ({ text: x.textContent, width: x.querySelector('img').naturalWidth })));
  assert.equal(pinned.length, 1);
  assert.equal(pinned[0].width, 28, 'the overlay at the network\'s size');
  assert.match(pinned[0].text, /Grad-CAM at .* of '/);
  assert.ok(caption.includes('Grad-CAM'), caption);
  const session = JSON.parse(await report.$eval('#session', (e) => e.textContent));
  assert.equal(session.pinned.length, 1);
  assert.equal(String(session.evaluation.accuracy), accuracy);
  await screenshot(report, 'report.png');
  await context.close();
  await page.close();
});
