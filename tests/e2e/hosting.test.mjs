// dist/ copied to a plain static host under a sub-path works as at the root: every URL the page
// and its workers ask for is relative to it (Trunk.toml's `public_url = "./"`). Once it showed a
// blank page there: the CSS and JS were asked for at the host's root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launchBrowser, waitForDemo } from './harness.mjs';

test('the app opens on its demo from a sub-path of a static host, asking for nothing outside it', { timeout: 600_000 }, async () => {
  const { server, url } = await serveDist('/tools/unpic/');
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const asked = [];
    const failed = [];
    context.on('request', (r) => asked.push(r.url()));
    context.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
    const page = await context.newPage();
    await page.goto(`${url}/tools/unpic/?backend=cpu`);
    await waitForDemo(page);
    await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
    assert.deepEqual(failed, []);
    const outside = asked.filter((u) => !u.startsWith(`${url}/tools/unpic/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(outside, [], 'every request stays under the sub-path');
    assert.ok(asked.some((u) => u.endsWith('.wasm')), 'the wasm came from the sub-path');
  } finally {
    await browser.close();
    server.close();
  }
});
