// The installed, offline app: the manifest makes it installable, the service worker precaches
// the build so that a second visit needs no network (a model and an image opened from disk then
// predict and explain as online), a rebuilt app is offered with "Reload" and taken after it, and
// the start-up figures (first and repeat visit) are written to out/startup.json. Also shows that
// the guard every test file runs under (harness.mjs `guard`) catches what it is there to catch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DIST, ROOT, guard, serveDist, launchBrowser, launchPersistentBrowser, openOracleFashion, explain, writeOut,
} from './harness.mjs';

/** Milliseconds from navigation until the Accuracy view shows the demo's total accuracy (the
 *  page's tab is clicked as soon as it exists). */
const MEASURE_STARTUP = () => {
  new MutationObserver((_, observer) => {
    const tab = document.querySelector('[data-view=accuracy]');
    if (tab && !tab.classList.contains('active')) tab.click();
    if (document.querySelector('#accuracy-total')) {
      window.accuracyShownMs = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
};

async function visit(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.accuracyShownMs, null, { timeout: 300_000 });
  return page.evaluate(() => window.accuracyShownMs);
}

/** Waits until a service worker controls the page (it has installed: the build is cached). */
async function waitForControl(page) {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 300_000 });
}

/** A copy of dist/ that the test may change (a new build). */
async function copyOfDist() {
  const dir = await mkdtemp(join(tmpdir(), 'unpic-dist-'));
  await cp(DIST, dir, { recursive: true });
  return dir;
}

test('installable: the manifest is served and valid, its icons are real, Chromium finds no installability error', { timeout: 600_000 }, async () => {
  const { server, url } = await serveDist();
  // A profile on disk: Chromium never offers to install from an incognito one.
  const profile = await mkdtemp(join(tmpdir(), 'unpic-profile-'));
  const context = await launchPersistentBrowser(profile);
  try {
    const page = await context.newPage();
    await page.goto(`${url}/?backend=cpu`);
    await waitForControl(page);
    const manifestUrl = await page.getAttribute('link[rel=manifest]', 'href');
    const manifest = await page.evaluate(async (href) => (await fetch(href)).json(), manifestUrl);
    assert.equal(manifest.short_name, 'UNPIC');
    assert.equal(manifest.start_url, './', 'start_url is relative: the app works under any path');
    assert.equal(manifest.scope, './');
    assert.equal(manifest.display, 'standalone');
    for (const size of ['192x192', '512x512']) {
      const icon = manifest.icons.find((i) => i.sizes === size && i.purpose === 'any');
      assert.ok(icon, `an icon of ${size}`);
      // The PNG's own header says its size.
      const [w, h] = await page.evaluate(async (src) => {
        const bytes = new DataView(await (await fetch(src)).arrayBuffer());
        return [bytes.getUint32(16), bytes.getUint32(20)];
      }, icon.src);
      assert.equal(`${w}x${h}`, size);
    }
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, [], 'Chromium would offer to install the app');
    const manifestCheck = await cdp.send('Page.getAppManifest');
    assert.deepEqual(manifestCheck.errors, [], 'the manifest parses without errors');
  } finally {
    await context.close();
    server.close();
    await rm(profile, { recursive: true, force: true });
  }
});

test('offline: after one visit the app opens with no server, and a model and image from disk predict and explain', { timeout: 900_000 }, async () => {
  const { server, url } = await serveDist('/tools/unpic/');
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    await context.addInitScript(MEASURE_STARTUP);
    const page = await context.newPage();
    const firstMs = await visit(page, `${url}/tools/unpic/?backend=cpu`);
    await waitForControl(page);
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      return (await (await caches.open(names[0])).keys()).map((r) => new URL(r.url).pathname);
    });
    for (const file of ['index.html', 'unpic-worker_bg.wasm', 'demo/fashion-cnn.onnx', 'manifest.webmanifest']) {
      assert.ok(cached.includes(`/tools/unpic/${file}`), `${file} is cached for offline use (${cached})`);
    }
    // A repeat visit, online: from the service worker's cache.
    const repeatMs = await visit(page, `${url}/tools/unpic/?backend=cpu`);

    // The network is gone: the server closed and the browser offline.
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await context.setOffline(true);
    const offlineMs = await visit(page, `${url}/tools/unpic/?backend=cpu`);
    const name = await openOracleFashion(page);
    assert.match(await page.textContent('#image-name'), new RegExp(name));
    const maps = await explain(page, ['gradcam', 'saliency']);
    for (const [method, { map }] of Object.entries(maps)) {
      assert.ok(map.length > 0 && map.some((v) => v !== 0), `${method}: a map offline`);
    }
    const figures = { first_visit_ms: Math.round(firstMs), repeat_visit_ms: Math.round(repeatMs), offline_visit_ms: Math.round(offlineMs) };
    await writeOut('startup.json', `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`start-up to the demo's accuracy: ${JSON.stringify(figures)}`);
  } finally {
    await browser.close();
    server.close();
  }
});

test('a rebuilt app is offered with "Reload" and taken after it; the old cache is deleted', { timeout: 900_000 }, async () => {
  const dir = await copyOfDist();
  const { server, url } = await serveDist('/', dir);
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/?backend=cpu`);
    await waitForControl(page);
    assert.equal(await page.$('#update-ready'), null, 'nothing to offer on the first visit');

    // A new build: a changed page, and the service worker the build hook writes for it.
    const html = await readFile(join(dir, 'index.html'), 'utf8');
    await writeFile(join(dir, 'index.html'), html.replace('</head>', '<meta name="unpic-build" content="rebuilt" /></head>'));
    execFileSync('bash', [join(ROOT, 'scripts/precache.sh')], { env: { ...process.env, TRUNK_STAGING_DIR: dir, TRUNK_SOURCE_DIR: ROOT } });
    const build = () => document.querySelector('meta[name=unpic-build]')?.content ?? 'first';

    // The next load still runs the old build, and offers the new one.
    await page.reload();
    await page.waitForSelector('#update-ready', { timeout: 300_000 });
    assert.equal(await page.evaluate(build), 'first', 'the running page keeps the build it started with');
    await page.click('#update-ready button');
    await page.waitForFunction(() => document.querySelector('meta[name=unpic-build]')?.content === 'rebuilt', null, { timeout: 120_000 });
    await page.waitForFunction(async () => (await caches.keys()).length === 1, null, { timeout: 60_000 });
    assert.equal(await page.$('#update-ready'), null);
  } finally {
    await browser.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the guard sees CSP violations (in the page, and as the browser reports them) and a request to another origin', { timeout: 300_000 }, async () => {
  const { server, url } = await serveDist();
  const browser = await launchBrowser();
  const before = { offOrigin: guard.offOrigin.length, violations: guard.violations.length };
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/?backend=cpu`);
    await page.waitForSelector('#backend-active');
    // What a compromised dependency would try: an image from another host, an inline style.
    await page.evaluate(() => {
      const img = new Image();
      img.src = 'http://192.0.2.1/pixel.png';
      document.body.append(img);
      document.body.setAttribute('style', 'color: red');
    });
    // The browser's own reports (report-uri, as from a worker) arrive a moment later.
    const reported = () => guard.violations.slice(before.violations).filter((v) => v.startsWith('reported'));
    for (let i = 0; i < 100 && !reported().some((v) => v.includes('192.0.2.1')); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const seen = guard.violations.slice(before.violations);
    assert.ok(seen.some((v) => v.startsWith('reported') && v.includes('192.0.2.1')), `the browser reported the blocked image: ${seen}`);
    assert.ok(seen.some((v) => v.includes('img-src')), `the blocked image is a violation: ${seen}`);
    assert.ok(seen.some((v) => v.includes('style-src')), `the inline style is a violation: ${seen}`);
    // What no policy in the page stops: leaving it for another origin.
    await page.evaluate(() => { location.href = 'http://127.0.0.2:9/elsewhere'; });
    await page.waitForEvent('requestfailed');
    assert.ok(guard.offOrigin.slice(before.offOrigin).some((u) => u.startsWith('http://127.0.0.2:9/')), 'the request to another origin is seen');
  } finally {
    await browser.close();
    server.close();
    // What this test caused on purpose is not a failure of the file.
    guard.violations.splice(before.violations);
    guard.offOrigin.splice(before.offOrigin);
  }
});
