// The browser half of benchmarks/memory_50k.sh: opens the app (dist/, CPU, two workers), the
// 50,000-image zip given as argument, evaluates it, and prints peak memory as JSON: Chromium's
// processes summed (RSS, sampled every 250 ms) and the page's own JavaScript heap.
import { execFileSync } from 'node:child_process';
import { launchBrowser, serveDist, openApp, waitForDemo } from '../tests/e2e/harness.mjs';

const zip = process.argv[2];
const rssMiB = () => execFileSync('ps', ['-C', 'chromium', '-o', 'rss=']).toString()
  .split('\n').map(Number).filter((n) => n > 0).reduce((a, b) => a + b, 0) / 1024;

const server = await serveDist();
const browser = await launchBrowser();
try {
  const page = await openApp(browser, server.url, '?backend=cpu&workers=2');
  await waitForDemo(page);
  await page.waitForSelector('#accuracy-total', { timeout: 300_000 });
  const before = rssMiB();
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB()); }, 250);
  const started = Date.now();
  await page.click('[data-view=data]');
  await page.setInputFiles('#dataset-zip', zip);
  await page.waitForFunction(() => /50000 images in 10 classes/.test(document.querySelector('#dataset-summary')?.textContent ?? ''), null, { timeout: 600_000 });
  await page.waitForSelector('#progress', { timeout: 60_000 });
  await page.waitForFunction(() => !document.querySelector('#progress') && document.querySelector('#accuracy-total'), null, { timeout: 1_200_000, polling: 500 });
  clearInterval(timer);
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  const accuracy = Number(await page.getAttribute('#accuracy-total', 'data-accuracy'));
  console.log(JSON.stringify({
    workers: 2, seconds: (Date.now() - started) / 1000, accuracy,
    chromium_rss_mib: { before: Math.round(before), peak: Math.round(peak) },
    page_js_heap_mib: Math.round(heap / 2 ** 20),
  }));
} finally {
  await browser.close();
  server.server.close();
}
