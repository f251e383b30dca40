// The Explain panel, driven as a person would: on the oracle's Fashion-MNIST network and its
// T-shirt image, Grad-CAM at the suggested layer and saliency of the shown prediction, on the CPU
// and on WebGPU. The raw maps the page offers for download must equal pytorch-grad-cam's and
// Captum's (tests/fixtures/oracle, fashion_tshirt).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  FIXTURES, serveDist, launchBrowser, openApp, openOracleFashion, readNpy, screenshot,
} from './harness.mjs';

const CASE = join(FIXTURES, 'oracle/cases/fashion_tshirt');
let server;
let url;
let browser;

before(async () => {
  ({ server, url } = await serveDist());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Runs the selected method and returns the downloaded raw map and the caption. */
async function explain(page, method, previous) {
  await page.selectOption('#explain-method', method);
  await page.click('#explain-run');
  await page.waitForFunction((prev) => {
    const c = document.querySelector('#explain-caption');
    return c && c.textContent && c.textContent !== prev && !document.querySelector('#status .spinner');
  }, previous, { timeout: 300_000 });
  const caption = await page.textContent('#explain-caption');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#explain-npy')]);
  return { caption, map: await readNpy(await download.path()) };
}

function assertClose(what, got, expected, tol) {
  assert.equal(got.length, expected.length, `${what}: size`);
  const range = Math.max(...expected) - Math.min(...expected);
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
  assert.ok(worst <= tol * range, `${what}: max |diff| ${worst} > ${tol} x range ${range}`);
}

for (const backend of ['cpu', 'webgpu']) {
  test(`Grad-CAM and saliency of an oracle image equal the peers' maps on ${backend}`, { timeout: 900_000 }, async () => {
    const page = await openApp(browser, url, `?backend=${backend}`);
    await openOracleFashion(page);

    // The layer picker lists the spatial layers with their shapes and marks the suggestion.
    const options = await page.$$eval('#explain-layer option', (o) => o.map((x) => [x.value, x.textContent, x.selected]));
    const suggested = options.find(([, text]) => text.includes('(suggested)'));
    assert.deepEqual(suggested?.[0], '/relu2/Relu_output_0', JSON.stringify(options));
    assert.ok(suggested[2], 'the suggestion is selected');
    assert.ok(options.some(([, text]) => text.includes('[N, 32, 14, 14]')), 'shapes are shown');

    const cam = await explain(page, 'gradcam', '');
    assert.match(cam.caption, /Grad-CAM of 'T-shirt\/top' at \/relu2\/Relu_output_0/);
    assertClose(`${backend} Grad-CAM`, cam.map, await readNpy(join(CASE, 'gradcam_pgc.npy')), 1e-3);
    await screenshot(page, `explain-gradcam-${backend}.png`);

    const sal = await explain(page, 'saliency', cam.caption);
    assert.match(sal.caption, /Saliency of 'T-shirt\/top'/);
    assertClose(`${backend} saliency`, sal.map, await readNpy(join(CASE, 'saliency.npy')), 1e-3);
    await page.close();
  });
}
