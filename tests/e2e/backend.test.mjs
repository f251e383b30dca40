// Auto never prefers a software WebGPU adapter: headless Chromium here offers SwiftShader, on
// which the demo's evaluation took 46.7 s against 2.2 s on the CPU backend. WebGPU stays one
// click away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withApp, openApp } from './harness.mjs';

const app = withApp();

test('Auto takes the CPU over a software WebGPU adapter and says why', { timeout: 300_000 }, async () => {
  const page = await openApp(app.browser, app.url, '?demo=off');
  assert.equal(await page.textContent('#backend-active'), 'CPU (flex)');
  const body = await page.textContent('body');
  assert.match(body, /WebGPU runs in software/i, 'the note says why');
  await page.close();
  // Asked for by name, the software adapter is still used.
  const gpu = await openApp(app.browser, app.url, '?backend=webgpu&demo=off');
  assert.equal(await gpu.textContent('#backend-active'), 'WebGPU');
  await gpu.close();
});
