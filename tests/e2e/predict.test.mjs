// The first vertical slice, driven through the UI in headless Chromium: a user opens an ONNX
// model and an image, and reads the top-5; on the CPU (flex) and on WebGPU (SwiftShader here).
// The numbers must equal onnxruntime's (tests/fixtures/oracle). Run by `npm test` after
// `trunk build --release` (see .ci/run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FIXTURES, withApp, openApp, readTop5, predictImage, openOracleFashion, waitForError,
  dismissError, readNpy, softmax, topK, screenshot, writeOut,
} from './harness.mjs';

const ORACLE = join(FIXTURES, 'oracle');
const app = withApp();

/** Asserts the page's top-5 equals softmax(oracle logits)'s top-5 within `tol`. */
async function assertTop5MatchesOracle(page, caseName, tol = 1e-4) {
  const expected = topK(softmax(await readNpy(join(ORACLE, 'cases', caseName, 'logits.npy'))), 5);
  const shown = await readTop5(page);
  assert.deepEqual(shown.map((s) => s.cls), expected.map((e) => e.cls), `${caseName}: top-5 classes`);
  for (const [s, e] of shown.map((s, i) => [s, expected[i]])) {
    assert.ok(Math.abs(s.p - e.p) <= tol, `${caseName}: class ${s.cls} p=${s.p} expected ${e.p}`);
  }
}

async function warmForwardMs(page, imagePath, runs = 3) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    await predictImage(page, imagePath);
    const text = await page.textContent('#timing');
    times.push(Number(/forward pass ([\d.]+) ms/.exec(text)?.[1]));
  }
  return times;
}

for (const backend of ['cpu', 'webgpu']) {
  test(`an oracle model and image give onnxruntime's top-5 on ${backend}`, { timeout: 900_000 }, async () => {
    const page = await openApp(app.browser, app.url, `?backend=${backend}`);
    const active = await page.textContent('#backend-active');
    assert.equal(active, backend === 'cpu' ? 'CPU (flex)' : 'WebGPU', `active backend (logs: ${page.logs.join('\n')})`);

    // The oracle's Fashion-MNIST network and T-shirt image, with the demo's labels.
    await openOracleFashion(page);
    await assertTop5MatchesOracle(page, 'fashion_tshirt');
    assert.equal((await readTop5(page))[0].label, 'T-shirt/top');
    await screenshot(page, `oracle-fashion-${backend}.png`);

    // A user's model, preprocessing and image, through the file pickers.
    await page.setInputFiles('#model-file', join(ORACLE, 'models/fer_minixception.onnx'));
    await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'fer_minixception.onnx');
    await page.selectOption('#preset', 'symmetric');
    await predictImage(page, join(ORACLE, 'cases/fer_astronaut/image.png'));
    await assertTop5MatchesOracle(page, 'fer_astronaut');
    const shot = await screenshot(page, `predict-${backend}.png`);

    const times = await warmForwardMs(page, join(ORACLE, 'cases/fer_astronaut/image.png'));
    await assertTop5MatchesOracle(page, 'fer_astronaut');
    await writeOut(`timing-${backend}.json`, JSON.stringify({ model: 'fer_minixception', backend, forward_ms: times, screenshot: shot }, null, 1));
    console.log(`fer_minixception forward on ${backend}: ${times.join(', ')} ms`);
    await page.close();
  });
}

// A mid-size ImageNet network (SqueezeNet 1.1, 5 MB, 224x224, 26 convolutions and 8 concats)
// on WebGPU: its 1000 probabilities are all near 1e-3, so they are held to 1e-6, which needs
// the logits right to about 1e-4 relative.
test('a mid-size ImageNet model gives onnxruntime\'s top-5 on webgpu', { timeout: 900_000 }, async () => {
  // Without the demo: its images would be evaluated with this network in the background.
  const page = await openApp(app.browser, app.url, '?backend=webgpu&demo=off');
  assert.equal(await page.textContent('#backend-active'), 'WebGPU');
  await page.click('[data-view=predict]');
  await page.setInputFiles('#model-file', join(ORACLE, 'models/squeezenet1_1.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'squeezenet1_1.onnx', null, { timeout: 300_000 });
  await page.selectOption('#preset', 'imagenet');
  await predictImage(page, join(ORACLE, 'cases/squeezenet_coffee/image.png'), 600_000);
  await assertTop5MatchesOracle(page, 'squeezenet_coffee', 1e-6);
  const timing = await page.textContent('#timing');
  console.log(`squeezenet1_1 on webgpu: ${timing}`);
  await screenshot(page, 'squeezenet-webgpu.png');
  await page.close();
});

test('every error a user can cause shows one clear message and the app keeps working', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await openOracleFashion(page);
  const fer = await readFile(join(ORACLE, 'models/fer_minixception.onnx'));
  const stillWorks = async (name) => {
    await predictImage(page, join(ORACLE, 'cases/fashion_tshirt/image.png'));
    await assertTop5MatchesOracle(page, 'fashion_tshirt');
    assert.equal(await page.textContent('#model-name'), 'smallcnn_fashion.onnx', `after ${name}`);
  };

  // Not an ONNX file.
  await page.setInputFiles('#model-file', { name: 'notes.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('just some notes') });
  assert.match(await waitForError(page), /could not be read as an ONNX model/);
  await dismissError(page);
  await stillWorks('a text file');

  // A truncated download.
  await page.setInputFiles('#model-file', { name: 'half.onnx', mimeType: 'application/octet-stream', buffer: fer.subarray(0, fer.length / 2) });
  assert.match(await waitForError(page), /half\.onnx.*could not be read as an ONNX model/s);
  await dismissError(page);
  await stillWorks('a truncated model');

  // Ops the engine cannot run: all named at once, with their nodes.
  await page.setInputFiles('#model-file', join(FIXTURES, 'unsupported_ops.onnx'));
  const unsupported = await waitForError(page);
  assert.match(unsupported, /pick_one \(Hardmax\)/);
  assert.match(unsupported, /vendor_pool \(com\.example::FancyPool\)/);
  await dismissError(page);
  await stillWorks('an unsupported model');

  // An image that does not decode.
  await page.setInputFiles('#image-file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not really a png') });
  assert.match(await waitForError(page), /broken\.png' could not be decoded/);
  await dismissError(page);
  await stillWorks('a broken image');

  // An image of the wrong size (and colour) is converted to what the network takes, and the
  // user is told.
  await predictImage(page, join(ORACLE, 'cases/face_expression_astronaut/image.png'));
  const notes = await page.textContent('#notes');
  assert.match(notes, /resized from 112x112 to 28x28/);
  assert.match(notes, /converted the colour image to grey/);

  // Labels that do not fit the model.
  await page.setInputFiles('#labels-file', { name: 'labels.txt', mimeType: 'text/plain', buffer: Buffer.from('cat\ndog\nbird\n') });
  assert.match(await waitForError(page), /3 labels were given but the model has 10 classes/);
  await dismissError(page);

  // Preprocessing that makes no sense.
  await page.fill('#std', '0');
  await page.press('#std', 'Enter');
  await page.locator('#std').blur();
  assert.match(await waitForError(page), /std must not be zero/);
  await dismissError(page);
  await stillWorks('bad preprocessing');
  await screenshot(page, 'errors-recovered.png');
  await page.close();
});
