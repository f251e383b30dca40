// The Image data and Help views, as a person uses them: a picked folder of class folders opens
// (with the demo's labels, folders are matched to classes by name) and is evaluated to
// `unpic eval`'s numbers, and so is a dropped folder (walked entry by entry); a dropped zip opens;
// Help explains every method with its paper.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, withApp, openApp, waitForDemo, screenshot, unpicEval,
} from './harness.mjs';

const DEMO = join(ROOT, 'public/demo');
const app = withApp();
let folder;

before(async () => {
  // Three classes of the demo's images, as a folder on disk.
  const tmp = await mkdtemp(join(tmpdir(), 'unpic-folder-'));
  execFileSync('python3', ['-c', `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if n.split('/')[1] in ('2_pullover', '4_coat', '6_shirt') and n.endswith('.png')]
for n in names: z.extract(n, sys.argv[2])
`, join(DEMO, 'fashion-mnist-sample.zip'), tmp]);
  folder = { tmp, path: join(tmp, 'fashion-mnist-sample') };
});

after(async () => {
  if (folder) await rm(folder.tmp, { recursive: true, force: true });
});

test('a picked folder of class folders opens and evaluates like unpic eval', { timeout: 600_000 }, async () => {
  const expected = unpicEval(join(DEMO, 'fashion-cnn.onnx'), folder.path, join(DEMO, 'labels.txt'));
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  await page.click('[data-view=data]');
  await page.setInputFiles('#folder-input', folder.path);
  await page.waitForFunction(() => /600 images in 3 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''), null, { timeout: 120_000 });
  const rows = await page.$$eval('#class-table tbody tr', (r) => r.map((x) => [x.dataset.class, Number(x.dataset.count)]));
  assert.deepEqual(rows, [['2_pullover', 200], ['4_coat', 200], ['6_shirt', 200]]);
  await page.waitForFunction(() => document.querySelectorAll('#class-table .thumb img[src^="data:image/png"]').length === 24);
  await screenshot(page, 'data-folder.png');

  await page.click('[data-view=accuracy]');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  assert.equal(Number(await page.getAttribute('#accuracy-total', 'data-accuracy')), expected.accuracy);
  const cells = await page.$$eval('#confusion td.cell', (tds) => tds.map((td) => Number(td.dataset.count)));
  assert.deepEqual(cells, expected.confusion.flat(), 'all ten classes of the model, three with images');
  await page.close();
});

test('Help describes every method with its paper', async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu&demo=off');
  await page.click('[data-view=help]');
  const terms = await page.$$eval('#help-view dt', (d) => d.map((x) => x.textContent));
  for (const method of ['Occlusion sensitivity', 'Grad-CAM', 'Grad-CAM++', 'Score-CAM', 'Integrated Gradients', 'SmoothGrad', 'Deletion and insertion scores', 't-SNE', 'Deep dream']) {
    assert.ok(terms.includes(method), `${method} in ${terms}`);
  }
  const links = await page.$$eval('#help-view dd a', (a) => a.map((x) => x.href));
  assert.equal(links.length, terms.length, 'one paper per method');
  assert.ok(links.every((l) => l.startsWith('https://')));
  await screenshot(page, 'help.png');
  await page.close();
});

test('random images of a class, a random image to predict, and any class to explain', { timeout: 600_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });

  // Image data: N random images of a class, at the network's input size (28 px, shown at 56).
  await page.click('[data-view=data]');
  await page.selectOption('#data-class', { label: '6_shirt' });
  await page.fill('#data-count', '9');
  await page.dispatchEvent('#data-count', 'change');
  await page.waitForFunction(() => document.querySelectorAll('#random-images .thumb img[src^="data:image/png"]').length === 9);
  const first = await page.$$eval('#random-images .thumb', (b) => b.map((x) => x.dataset.path));
  assert.ok(first.every((p) => p.startsWith('6_shirt/')), `${first}`);
  assert.equal(new Set(first).size, 9, 'no image twice');
  assert.equal(await page.$eval('#random-images img', (i) => i.getBoundingClientRect().width), 56);
  await page.click('#data-shuffle');
  await page.waitForFunction((old) => {
    const now = Array.from(document.querySelectorAll('#random-images .thumb')).map((x) => x.dataset.path);
    return now.length === 9 && now.join() !== old.join();
  }, first);
  await screenshot(page, 'data-random.png');

  // Predict: a random image of a class; its true class is shown.
  await page.selectOption('#random-class', { label: '8_bag' });
  const before = await page.textContent('#image-name');
  await page.click('#random-image');
  await page.click('[data-view=predict]');
  // The bag's own prediction (its name shows), not just its file: a new prediction resets the
  // class to explain.
  await page.waitForFunction((old) => document.querySelector('#true-class')?.textContent.includes('Bag')
    && document.querySelector('#image-name')?.textContent !== old, before, { timeout: 60_000 });

  // Explain another class than the top one.
  for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
    if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'gradcam')) await box.click();
  }
  await page.selectOption('#explain-target', '6');
  await page.click('#explain-run');
  await page.waitForFunction(() => document.querySelector('#explanations figure[data-method=gradcam]')?.textContent.includes("of 'Shirt'"));
  await page.close();
});

test('a zip of class folders dropped on the Image data view opens', { timeout: 300_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.click('[data-view=data]');
  const zip = (await readFile(join(DEMO, 'fashion-mnist-sample.zip'))).toString('base64');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'dropped.zip', { type: 'application/zip' }));
    const panel = document.querySelector('#data-view');
    for (const type of ['dragover', 'drop']) {
      panel.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }, zip);
  await page.waitForFunction(() => /^dropped\.zip: 2000 images in 10 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''));
  await page.close();
});

test('a folder dropped on the Image data view is walked, listed in pieces as the browser does', { timeout: 300_000 }, async () => {
  // Twelve pullovers and twelve shirts, as a folder on disk (for unpic eval) and as the entries a
  // browser hands over for a dropped folder (Playwright cannot drop a real one).
  const picked = join(folder.tmp, 'dropped');
  const tree = {};
  for (const cls of ['2_pullover', '6_shirt']) {
    await mkdir(join(picked, cls), { recursive: true });
    const names = (await readdir(join(folder.path, cls))).sort().slice(0, 12);
    tree[cls] = [];
    for (const name of names) {
      await copyFile(join(folder.path, cls, name), join(picked, cls, name));
      tree[cls].push([name, (await readFile(join(folder.path, cls, name))).toString('base64')]);
    }
  }
  const expected = unpicEval(join(DEMO, 'fashion-cnn.onnx'), picked, join(DEMO, 'labels.txt'));

  const page = await openApp(app.browser, app.url, '?backend=cpu');
  await waitForDemo(page);
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  await page.click('[data-view=data]');
  await page.evaluate((tree) => {
    const file = (path, name, b64) => ({
      isFile: true, isDirectory: false, name, fullPath: `${path}/${name}`,
      file: (ok) => setTimeout(() => ok(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/png' }))),
    });
    // readEntries gives at most 5 entries a call, then an empty list: the walk must keep asking.
    const dir = (path, name, children) => ({
      isFile: false, isDirectory: true, name, fullPath: `${path}/${name}`,
      createReader: () => {
        let next = 0;
        return { readEntries: (ok) => setTimeout(() => { ok(children.slice(next, next + 5)); next += 5; }) };
      },
    });
    const root = dir('', 'dropped', Object.entries(tree).map(([cls, files]) =>
      dir('/dropped', cls, files.map(([name, b64]) => file(`/dropped/${cls}`, name, b64)))));
    const transfer = { items: { length: 1, 0: { kind: 'file', webkitGetAsEntry: () => root } }, files: { length: 0 } };
    const panel = document.querySelector('#data-view');
    for (const type of ['dragover', 'drop']) {
      const event = new DragEvent(type, { bubbles: true, cancelable: true });
      Object.defineProperty(event, 'dataTransfer', { value: transfer });
      panel.dispatchEvent(event);
    }
  }, tree);
  await page.waitForFunction(() => /24 images in 2 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''), null, { timeout: 120_000 });
  const rows = await page.$$eval('#class-table tbody tr', (r) => r.map((x) => [x.dataset.class, Number(x.dataset.count)]));
  assert.deepEqual(rows, [['2_pullover', 12], ['6_shirt', 12]]);
  await page.click('[data-view=accuracy]');
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  assert.equal(Number(await page.getAttribute('#accuracy-total', 'data-accuracy')), expected.accuracy);
  const cells = await page.$$eval('#confusion td.cell', (tds) => tds.map((td) => Number(td.dataset.count)));
  assert.deepEqual(cells, expected.confusion.flat(), 'the walked files are the folder\'s');
  await page.close();
});
