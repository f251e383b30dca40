// Shared set-up for the browser tests: a static server for dist/, Debian's Chromium through
// playwright-core, and helpers that drive the page as a person would.
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'dist');
export const FIXTURES = join(ROOT, 'tests/fixtures');
export const OUT = join(ROOT, 'tests/e2e/out');

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json', '.png': 'image/png', '.onnx': 'application/octet-stream', '.txt': 'text/plain',
  '.webmanifest': 'application/manifest+json',
};

/** What no test may ever see: a request to an origin other than the test's own servers, or a
 *  Content-Security-Policy violation (from the page's `securitypolicyviolation` event, or reported
 *  by the browser to the servers' report-uri, which covers the workers too). Checked after every
 *  test file, whatever its tests do. */
export const guard = { origins: new Set(), offOrigin: [], violations: [] };
after(() => {
  assert.deepEqual(guard.offOrigin, [], 'requests that left the origin');
  assert.deepEqual(guard.violations, [], 'Content-Security-Policy violations');
});

/** The policy index.html declares, sent as a header too (a meta policy does not reach workers),
 *  with a report-uri so that violations anywhere are seen. */
async function contentSecurityPolicy(dir) {
  const html = await readFile(join(dir, 'index.html'), 'utf8');
  const policy = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1];
  assert.ok(policy, 'index.html declares a Content-Security-Policy');
  return `${policy}; report-uri /__csp-report`;
}

/** Serves `dir` (dist/) on a free localhost port, under `prefix` (a static host serving it from a
 *  sub-path; anything outside it is a 404), with the app's Content-Security-Policy as a header. */
export async function serveDist(prefix = '/', dir = DIST) {
  const policy = await contentSecurityPolicy(dir);
  const server = createServer(async (req, res) => {
    const full = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (full === '/__csp-report') {
      let body = '';
      for await (const chunk of req) body += chunk;
      guard.violations.push(`reported: ${body}`);
      res.writeHead(204).end();
      return;
    }
    if (!full.startsWith(prefix)) { res.writeHead(404).end('not found'); return; }
    const path = `/${full.slice(prefix.length)}`;
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-security-policy': policy,
      }).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}`;
  guard.origins.add(url);
  return { server, url };
}

/** Registers a test file's set-up: a static server for dist/ and one browser, closed after the
 *  file's tests. Returns an object whose `url` and `browser` are set once the set-up ran. */
export function withApp() {
  const app = {};
  before(async () => {
    ({ server: app.server, url: app.url } = await serveDist());
    app.browser = await launchBrowser();
  });
  after(async () => {
    await app.browser?.close();
    app.server?.close();
  });
  return app;
}

/** `unpic eval --json` (the debug binary `cargo test` built) on a model and a dataset. */
export function unpicEval(model, data, labels) {
  const args = ['eval', '--model', model, '--data', data, '--preset', 'unit', '--json'];
  if (labels) args.push('--labels', labels);
  return JSON.parse(execFileSync(cargoBinary('unpic'), args, { maxBuffer: 64 << 20 }));
}

const CHROMIUM = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--disable-quic',
    '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan',
  ],
};

/** Chromium with a profile kept in `dir` (not incognito, as an installed app's browser is),
 *  watched by `guard`; returns its one context. */
export async function launchPersistentBrowser(dir) {
  return watched(await chromium.launchPersistentContext(dir, CHROMIUM));
}

/** Debian's Chromium, headless, with a software WebGPU adapter available. Playwright gives each
 *  launch a fresh temporary profile (its own --user-data-dir). Every context it opens is watched
 *  by `guard`. */
export async function launchBrowser() {
  const browser = await chromium.launch(CHROMIUM);
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => watched(await newContext(options));
  browser.newPage = async (options) => {
    // A page of its own context: watch the context before the page loads anything.
    const context = await watched(await newContext(options));
    const page = await context.newPage();
    page.on('close', () => context.close().catch(() => {}));
    return page;
  };
  return browser;
}

/** Feeds `guard` from `context`: its requests (pages, workers, service worker) and its pages'
 *  CSP violations. */
async function watched(context) {
  context.on('request', (r) => {
    const url = r.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    if (!guard.origins.has(new URL(url).origin)) guard.offOrigin.push(url);
  });
  context.on('console', (m) => {
    if (m.text().startsWith('CSP violation') || m.text().includes('Content Security Policy')) {
      guard.violations.push(m.text());
    }
  });
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) =>
    console.error(`CSP violation: ${e.violatedDirective} refused ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`)));
  return context;
}

/** Opens the app; returns the page once the engine reports its backend. `init`, if given, runs
 *  in the page before its own scripts (Playwright's `addInitScript`). */
export async function openApp(browser, url, query = '', init = undefined) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  if (init) await page.addInitScript(init);
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.logs = logs;
  await page.goto(`${url}/${query}`);
  await page.waitForFunction(() => {
    const b = document.querySelector('#backend-active');
    return b && !b.textContent.includes('starting');
  }, null, { timeout: 120_000 });
  return page;
}

/** The top-5 as shown: [{cls, p, label}]. */
export async function readTop5(page) {
  return page.$$eval('#top5 li.bar', (items) => items.map((li) => ({
    cls: Number(li.dataset.class),
    p: Number(li.dataset.probability),
    label: li.querySelector('.bar-label').textContent,
  })));
}

/** Waits until the shown image is `name` and the engine is idle. */
export async function waitForPrediction(page, name, timeout = 180_000) {
  await page.waitForFunction((n) => {
    const caption = document.querySelector('#image-name');
    const busy = document.querySelector('#status .spinner');
    return caption && caption.textContent === n && !busy && document.querySelectorAll('#top5 li.bar').length > 0;
  }, name, { timeout });
}

let uploads = 0;

/** Opens the image at `path` through the picker under a name never shown before, and waits for
 *  its prediction. A fresh name matters: waiting for a caption the page already shows would
 *  return before the new image was run. Returns the name used. */
export async function predictImage(page, path, timeout = 180_000) {
  uploads += 1;
  const name = `${uploads}-${basename(path)}`;
  await page.setInputFiles('#image-file', { name, mimeType: 'image/png', buffer: await readFile(path) });
  await waitForPrediction(page, name, timeout);
  return name;
}

/** Waits until the demo (model and images) is open, so nothing the test opens is replaced by it. */
export async function waitForDemo(page, timeout = 180_000) {
  await page.waitForFunction(() =>
    document.querySelector('#model-name')?.textContent === 'fashion-cnn.onnx'
    && document.querySelector('#dataset-summary'), null, { timeout });
}

/** Opens the oracle kit's SmallCNN (Fashion-MNIST, inputs in [0, 1]) and its T-shirt case
 *  through the pickers, after the demo; returns the image's shown name. */
export async function openOracleFashion(page) {
  await waitForDemo(page);
  await page.setInputFiles('#model-file', join(FIXTURES, 'oracle/models/smallcnn_fashion.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'smallcnn_fashion.onnx');
  await page.click('[data-view=predict]');
  return predictImage(page, join(FIXTURES, 'oracle/cases/fashion_tshirt/image.png'));
}

/** Path of a binary built by `cargo test` (the `unpic` CLI), honouring CARGO_TARGET_DIR. */
export function cargoBinary(name) {
  return join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', name);
}

/** Clicks a view's tab and returns the milliseconds until the page has drawn the change. */
export async function clickMs(page, view) {
  return page.evaluate(async (v) => {
    const start = performance.now();
    document.querySelector(`[data-view=${v}]`).click();
    await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
    if (!document.querySelector(`[data-view=${v}]`).classList.contains('active')) throw new Error(`${v} did not open`);
    return performance.now() - start;
  }, view);
}

/** A click's time to the next frame, measured as a user feels it: a click over `budgetMs` is
 *  tried once more straight away (after a click on another view, so that it opens again). On a
 *  loaded 2-core host one click in a run can lose its core to Chromium's other processes (125 ms
 *  was seen once in CI with the rest under 60 ms); work on the page's own thread makes the
 *  retry slow as well. Returns `{ ms, firstMs }`, `firstMs` set only when it was retried. */
export async function responsiveClickMs(page, view, budgetMs = 100) {
  const first = await clickMs(page, view);
  if (first < budgetMs) return { ms: first };
  await clickMs(page, view === 'help' ? 'data' : 'help');
  return { ms: await clickMs(page, view), firstMs: first };
}

/** Waits for the error banner and returns its text. */
export async function waitForError(page, timeout = 120_000) {
  const banner = await page.waitForSelector('#error', { timeout });
  return banner.textContent();
}

export async function dismissError(page) {
  await page.click('#error .dismiss');
  await page.waitForSelector('#error', { state: 'detached' });
}

/** Reads a little-endian float32 .npy file. */
export async function readNpy(path) {
  const buf = await readFile(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + headerLen).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`${path}: expected float32, got ${header}`);
  const data = buf.subarray(10 + headerLen);
  return Array.from(new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4));
}

/** Softmax in float64. */
export function softmax(logits) {
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** The top-k classes of probabilities (ties: lower class first). */
export function topK(probs, k) {
  return probs.map((p, cls) => ({ cls, p })).sort((a, b) => b.p - a.p || a.cls - b.cls).slice(0, k);
}

export async function screenshot(page, name) {
  await mkdir(OUT, { recursive: true });
  const path = join(OUT, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function writeOut(name, text) {
  await mkdir(OUT, { recursive: true });
  await writeFile(join(OUT, name), text);
}

/** Ticks exactly `methods`, runs them, and returns each card's raw map, caption and scores. */
export async function explain(page, methods) {
  for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
    const want = methods.includes(await box.getAttribute('value'));
    if ((await box.isChecked()) !== want) await box.click();
  }
  await page.click('#explain-run');
  await page.waitForFunction((n) => document.querySelectorAll('#explanations figure').length === n
    && !document.querySelector('#status .spinner'), methods.length, { timeout: 300_000 });
  const out = {};
  for (const method of methods) {
    const card = `#explanations figure[data-method=${method}]`;
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${card} .save-npy`)]);
    out[method] = {
      caption: await page.textContent(`${card} figcaption`),
      deletion: Number(await page.getAttribute(card, 'data-deletion')),
      insertion: Number(await page.getAttribute(card, 'data-insertion')),
      map: await readNpy(await download.path()),
    };
  }
  return out;
}

export function assertClose(what, got, expected, tol) {
  assert.equal(got.length, expected.length, `${what}: size`);
  // A loop, not Math.max(...): a 224x224x3 map is too many arguments for one call.
  const range = expected.reduce((m, v) => Math.max(m, v), -Infinity) - expected.reduce((m, v) => Math.min(m, v), Infinity);
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i])), 0);
  assert.ok(worst <= tol * range, `${what}: max |diff| ${worst} > ${tol} x range ${range}`);
}
