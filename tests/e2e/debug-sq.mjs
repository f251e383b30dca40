import { join } from 'node:path';
import { serveDist, launchBrowser, openApp, predictImage, FIXTURES } from '/work/main/tests/e2e/harness.mjs';
const ORACLE = join(FIXTURES, 'oracle');
const { server, url } = await serveDist();
const browser = await launchBrowser();
const page = await openApp(browser, url, '?backend=cpu&demo=off');
await page.setInputFiles('#model-file', join(ORACLE, 'models/squeezenet1_1.onnx'));
await page.waitForFunction(() => document.querySelector('#model-name')?.textContent === 'squeezenet1_1.onnx');
await page.selectOption('#preset', 'imagenet');
await page.click('[data-view=predict]');
await predictImage(page, join(ORACLE, 'cases/squeezenet_coffee/image.png'), 600000);
for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
  if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'occlusion')) await box.click();
}
await page.fill('#occlusion-level', '5'); await page.dispatchEvent('#occlusion-level', 'input');
await page.click('#explain-run');
await page.waitForFunction(() => /Occlusion: [1-9]\d* of \d+/.test(document.querySelector('#progress')?.textContent ?? ''), null, { timeout: 400000 });
console.log('progress:', await page.textContent('#progress'));
await page.click('#progress #cancel');
await page.waitForTimeout(3000);
for (const box of await page.$$('#explain-methods input[type=checkbox]')) {
  if ((await box.isChecked()) !== ((await box.getAttribute('value')) === 'gradcam')) await box.click();
}
await page.click('#explain-run');
await page.waitForTimeout(200000);
console.log('status:', await page.textContent('#status'));
console.log('error:', await page.$('#error') ? await page.textContent('#error') : null);
console.log('figures:', await page.$$eval('#explanations figure', (f) => f.length));
console.log(page.logs.slice(-15).join('\n'));
await browser.close(); server.close();
