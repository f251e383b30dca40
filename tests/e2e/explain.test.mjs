// The Explain panel, driven as a person would: on the oracle's Fashion-MNIST network and its
// T-shirt image, Grad-CAM at the suggested layer and saliency of the shown prediction, on the CPU
// and on WebGPU. The raw maps the page offers for download must equal pytorch-grad-cam's and
// Captum's (tests/fixtures/oracle, fashion_tshirt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import {
  FIXTURES, OUT, withApp, openApp, openOracleFashion, readNpy, screenshot, cargoBinary, explain,
  assertClose,
} from './harness.mjs';

const CASE = join(FIXTURES, 'oracle/cases/fashion_tshirt');
const app = withApp();

for (const backend of ['cpu', 'webgpu']) {
  test(`methods side by side on an oracle image: the peers' maps and unpic's deletion/insertion scores on ${backend}`, { timeout: 900_000 }, async () => {
    const page = await openApp(app.browser, app.url, `?backend=${backend}`);
    await openOracleFashion(page);

    // The layer picker lists the spatial layers with their shapes and marks the suggestion.
    const options = await page.$$eval('#explain-layer option', (o) => o.map((x) => [x.value, x.textContent, x.selected]));
    const suggested = options.find(([, text]) => text.includes('(suggested)'));
    assert.deepEqual(suggested?.[0], '/relu2/Relu_output_0', JSON.stringify(options));
    assert.ok(suggested[2], 'the suggestion is selected');
    assert.ok(options.some(([, text]) => text.includes('[N, 32, 14, 14]')), 'shapes are shown');

    // Grad-CAM and saliency side by side, each equal to its peer's map, each with its deletion
    // and insertion scores (as `unpic explain --faithfulness` computes them).
    const maps = await explain(page, ['gradcam', 'saliency']);
    assert.match(maps.gradcam.caption, /Grad-CAM at \/relu2\/Relu_output_0.*of 'T-shirt\/top'/s);
    assertClose(`${backend} Grad-CAM`, maps.gradcam.map, await readNpy(join(CASE, 'gradcam_pgc.npy')), 1e-3);
    assert.match(maps.saliency.caption, /Saliency.*of 'T-shirt\/top'/s);
    assertClose(`${backend} saliency`, maps.saliency.map, await readNpy(join(CASE, 'saliency.npy')), 1e-3);
    await mkdir(OUT, { recursive: true });
    for (const method of ['gradcam', 'saliency']) {
      const cli = JSON.parse(execFileSync(cargoBinary('unpic'), [
        'explain', '--model', join(FIXTURES, 'oracle/models/smallcnn_fashion.onnx'), '--image', join(CASE, 'image.png'),
        '--preset', 'unit', '--method', method, '--out', join(OUT, `${method}-cli.npy`), '--faithfulness',
      ], { stdio: ['ignore', 'pipe', 'ignore'] }));
      assert.ok(Math.abs(maps[method].deletion - cli.deletion_auc) < 1e-3, `${method} deletion ${maps[method].deletion} vs ${cli.deletion_auc}`);
      assert.ok(Math.abs(maps[method].insertion - cli.insertion_auc) < 1e-3, `${method} insertion ${maps[method].insertion} vs ${cli.insertion_auc}`);
    }

    // The peers' maps are sound: no warning on either card. How far they agree is shown, and
    // equals Spearman's correlation computed here from the downloaded maps.
    for (const method of ['gradcam', 'saliency']) {
      assert.equal(await page.getAttribute(`#explanations figure[data-method=${method}]`, 'data-warnings'), '0');
    }
    const shownAgreement = Number(await page.getAttribute('#agreement tr[data-a="Grad-CAM"][data-b="Saliency"]', 'data-spearman'));
    const expectedAgreement = spearman(maps.gradcam.map.map(Math.abs), maps.saliency.map.map(Math.abs));
    assert.ok(Math.abs(shownAgreement - expectedAgreement) < 1e-3, `agreement ${shownAgreement} vs ${expectedAgreement}`);

    // Colour map and opacity change the overlay at once, without recomputing.
    const pixels = () => page.$eval('#explanations figure[data-method=gradcam] canvas', (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.slice(0, 4000)));
    const before = await pixels();
    await page.selectOption('#colour-map', 'turbo');
    await page.waitForFunction((b) => { const c = document.querySelector('#explanations figure[data-method=gradcam] canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; return d.slice(0, 4000).some((v, i) => v !== b[i]); }, before);
    await page.fill('#opacity', '0');
    await page.dispatchEvent('#opacity', 'input');
    const shown = await page.$eval('#input-view', (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data));
    await page.waitForFunction((img) => { const c = document.querySelector('#explanations figure[data-method=gradcam] canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; return d.every((v, i) => v === img[i]); }, shown);
    await page.fill('#opacity', '0.5');
    await page.dispatchEvent('#opacity', 'input');
    await screenshot(page, `explain-${backend}.png`);

    // More methods at once (occlusion on the Fast preset, IG): every map comes with its scores.
    await page.check('#explain-occlusion');
    await page.fill('#occlusion-level', '1');
    await page.dispatchEvent('#occlusion-level', 'input');
    assert.equal(await page.inputValue('#occlusion-mask'), '9', 'Fast: a third of 28 pixels');
    assert.equal(await page.inputValue('#occlusion-stride'), '5');
    const more = await explain(page, ['gradcam', 'scorecam', 'occlusion', 'ig']);
    assert.match(more.occlusion.caption, /Occlusion, mask 9, stride 5/);
    for (const [method, r] of Object.entries(more)) {
      assert.ok(r.deletion >= 0 && r.deletion <= 1 && r.insertion >= 0 && r.insertion <= 1, `${method}: ${r.deletion}, ${r.insertion}`);
    }
    assert.equal(more.occlusion.map.length, 28 * 28, 'occlusion map at the image size');
    await screenshot(page, `explain-side-by-side-${backend}.png`);
    await page.close();
  });
}

/** Spearman's rank correlation (ties share their mean rank). */
function spearman(a, b) {
  const ranks = (v) => {
    const order = v.map((x, i) => [x, i]).sort((p, q) => p[0] - q[0]);
    const r = new Array(v.length);
    for (let s = 0; s < order.length;) {
      let e = s + 1;
      while (e < order.length && order[e][0] === order[s][0]) e += 1;
      for (let k = s; k < e; k++) r[order[k][1]] = (s + e + 1) / 2;
      s = e;
    }
    return r;
  };
  const [ra, rb] = [ranks(a), ranks(b)];
  const m = (a.length + 1) / 2;
  let num = 0; let da = 0; let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (ra[i] - m) * (rb[i] - m); da += (ra[i] - m) ** 2; db += (rb[i] - m) ** 2;
  }
  return num / Math.sqrt(da * db);
}
