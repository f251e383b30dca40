// The rows of tests/bad_inputs/README.md that a user can open in the app, opened one after the
// other on one page: each hostile or damaged model, image and zip gets its message, unusual
// images are converted and predicted, and after all of them the page still predicts and
// explains (nothing crashed, froze or was left half-open).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, FIXTURES, withApp, openApp, waitForDemo, predictImage, readTop5, waitForError,
  dismissError, explain, screenshot,
} from './harness.mjs';

const BAD = join(ROOT, 'tests/bad_inputs');
const TSHIRT = join(FIXTURES, 'oracle/cases/fashion_tshirt/image.png');
const app = withApp();

/** A zip whose one image unpacks to 300 MB (about 0.3 MB packed), beside two real ones. */
function zipBomb() {
  const path = join(mkdtempSync(join(tmpdir(), 'unpic-bomb-')), 'bomb.zip');
  execFileSync('python3', ['-c', `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('0_t_shirt_top/bomb.png', bytes(300 << 20))
    z.writestr('0_t_shirt_top/1.png', open(sys.argv[2], 'rb').read())
    z.writestr('1_trouser/1.png', open(sys.argv[2], 'rb').read())
`, path, TSHIRT]);
  return path;
}

test('every bad file a user can open gets its message, and the app still predicts and explains', { timeout: 900_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=predict]');
  const stillPredicts = async (after) => {
    assert.equal(await page.textContent('#model-name'), 'fashion-cnn.onnx', `the demo's model is kept after ${after}`);
    await predictImage(page, TSHIRT);
    assert.equal((await readTop5(page)).length, 5, `a prediction after ${after}`);
  };
  const refused = async (selector, file, message) => {
    await page.setInputFiles(selector, file);
    const text = await waitForError(page);
    assert.match(text, message, file);
    await dismissError(page);
  };

  // Models refused when opened: the demo's model stays.
  for (const [file, message] of [
    ['constant_of_shape_bomb.onnx', /ConstantOfShape.*too much memory/s],
    ['range_bomb.onnx', /Range.*too much memory/s],
    ['huge_input.onnx', /100000x100000.*8192/s],
    ['lying_initializer.onnx', /\[1000000, 1000000\].*(payload has 8|overflows the addressable size)/s], // 4 TB overflows wasm32's usize
    // onnx-ir words it "overflows" natively and "a negative dimension" in wasm32.
    ['overflowing_dims.onnx', /\[1099511627776, 1099511627776\]/],
    ['cycle.onnx', /topologically sorted/],
    ['zero_channels.onnx', /at least one channel/],
    ['no_classes.onnx', /no class scores at all/],
    ['map_output.onnx', /class scores \[N, K\]/],
    ['fuzz/onnx/maxpool_window_larger_than_input.onnx', /window does not fit/],
    ['fuzz/onnx/conv_weight_with_an_empty_axis.onnx', /4-D weight, got shape \[320, 0, 3, 3\]/],
  ]) {
    await refused('#model-file', join(BAD, file), message);
  }
  await stillPredicts('the hostile models');

  // Models that open (their declared shapes are fine) but fail when they run (the output of 258
  // rows for 2 images, the Pad of 10^14) or do not fit the open set (5 classes): each failure is
  // a message, not a dead engine; then the demo's model is opened again.
  for (const file of ['fuzz/onnx/output_rows_differ_from_batch.onnx', 'fuzz/onnx/pad_of_a_huge_size.onnx']) {
    await page.setInputFiles('#model-file', join(BAD, file));
    const text = await waitForError(page);
    assert.doesNotMatch(text, /stopped unexpectedly/, `${file}: a message, not a crash`);
    assert.match(text, /^Error while/, file);
    await dismissError(page);
    await page.setInputFiles('#model-file', join(ROOT, 'public/demo/fashion-cnn.onnx'));
    await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'fashion-cnn.onnx');
    await stillPredicts(file);
    // Its other requests (the evaluation of the set, the prediction) may have failed too.
    while (await page.$('#error')) await dismissError(page);
  }

  // Images: damaged ones named, unusual ones converted and predicted.
  await refused('#image-file', join(BAD, 'truncated.png'), /'truncated\.png' could not be decoded/);
  // Natively the header's size is named; in wasm32 the PNG decoder cannot even describe
  // 100000 x 100000 x 3 bytes in a 32-bit usize, so the memory limit speaks instead.
  await refused('#image-file', join(BAD, 'huge_declared.png'), /declares 100000x100000 pixels|decoding it needs more than 512 MB/);
  await refused('#image-file', { name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) }, /empty/);
  for (const file of ['grey16.png', 'palette.png', 'cmyk.jpg', 'grey_alpha.png', 'animated.gif', 'one_pixel.png', 'constant.png']) {
    await predictImage(page, join(BAD, file));
    assert.equal((await readTop5(page)).length, 5, file);
  }
  await stillPredicts('the images');

  // Zips of class folders.
  await page.click('[data-view=data]');
  await refused('#dataset-zip', join(BAD, 'escaping_names.zip'), /'\.\.\/\.\.\/evil\/x\.png'.*points outside its folder/s);
  await refused('#dataset-zip', join(BAD, 'duplicate_names.zip'), /3 entries under 2 names/);
  await refused('#dataset-zip', join(BAD, 'not_a_zip.zip'), /could not be read as a zip archive/);
  await refused('#dataset-zip', join(BAD, 'truncated.zip'), /could not be read as a zip archive/);
  // A bomb inside a set is left out with its name; the other images are evaluated.
  await page.setInputFiles('#dataset-zip', zipBomb());
  await page.waitForFunction(() => /3 images in 2 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''), null, { timeout: 60_000 });
  await page.click('[data-view=accuracy]');
  await page.waitForSelector('#skipped', { timeout: 120_000 });
  assert.equal(await page.getAttribute('#skipped', 'data-count'), '1');
  assert.match(await page.textContent('#skipped'), /bomb\.png.*larger than 256 MB/s);
  assert.match(await page.textContent('#accuracy-total'), /of 2 images right/);

  // After all of it: the demo's model still predicts and explains.
  await page.click('[data-view=predict]');
  await stillPredicts('the zips');
  const maps = await explain(page, ['saliency', 'gradcam']);
  for (const [method, { map }] of Object.entries(maps)) {
    assert.ok(map.length > 0 && map.every(Number.isFinite), `${method}: a finite map`);
  }
  await screenshot(page, 'bad-inputs-recovered.png');
  await page.close();
});
